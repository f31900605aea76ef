package talkable_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/refundry/refundry"
	dialect "github.com/refundry/refundry/dialect/talkable"
	"github.com/refundry/refundry/gateway/talkable"
	"github.com/refundry/refundry/internal/testenv"
)

// The client against Refundry's own Talkable dialect, in process: both
// sides of the seed's contract in one test.
func TestVoidOrigin(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	srv := httptest.NewServer(dialect.NewHandler(env.Engine, env.Logger))
	t.Cleanup(srv.Close)
	for _, ref := range []string{"ORDER-1", "A/B 2", "ORDER-3"} {
		env.Sale(testenv.SaleSpec{Reference: ref})
		r := &refundry.Referral{MerchantID: env.A.ID, OriginSlug: ref, Currency: "USD",
			Advocate: refundry.Person{Email: "a@example.com"}, Friend: refundry.Person{Email: "f-" + refundry.NewID() + "@example.com"}}
		if _, err := env.Engine.CreateReferral(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	key := env.KeyA
	client := func(t *testing.T, apiKey, site string) *talkable.Client {
		c, err := talkable.New(talkable.Config{BaseURL: srv.URL + "/", APIKey: apiKey, SiteSlug: site})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name, key, site, origin string
		status                  int
		done, voided            bool
	}{
		{"Voided", key, "store-a", "ORDER-1", 200, true, true},
		{"OrderNumberEscaped", key, "store-a", "A/B 2", 200, true, true},
		{"UnknownOriginNothingToVoid", key, "store-a", "NO-SUCH", 404, true, false},
		{"WrongKeyRetried", "rfk_nope", "store-a", "ORDER-3", 401, false, false},
		{"AnotherSiteRetried", key, "store-b", "ORDER-3", 401, false, false},
		{"OtherMerchantsOriginIsMissing", env.KeyB, "store-b", "ORDER-3", 404, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := client(t, tc.key, tc.site).VoidOrigin(ctx, tc.origin, time.Unix(1700000000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != tc.status || a.Done != tc.done || a.Voided != tc.voided || a.Body == "" {
				t.Fatalf("VoidOrigin(%q) = %+v, want %d done=%v voided=%v", tc.origin, a, tc.status, tc.done, tc.voided)
			}
			if !tc.done && a.Message == "" {
				t.Fatalf("a refusal without Talkable's error_message: %+v", a)
			}
		})
	}
	// ORDER-3's referral was left as it was by every refused call.
	if a, err := client(t, key, "store-a").VoidOrigin(ctx, "ORDER-3", time.Now()); err != nil || !a.Voided {
		t.Fatalf("ORDER-3 after the refused calls = %+v, %v", a, err)
	}
}

func TestNewErrInvalid(t *testing.T) {
	for _, tc := range []struct {
		cfg   talkable.Config
		param string
	}{
		{talkable.Config{SiteSlug: "s"}, "credentials.api_key"},
		{talkable.Config{APIKey: "k"}, "credentials.site_slug"},
		{talkable.Config{APIKey: "k", SiteSlug: "s", BaseURL: "ftp://talkable.example"}, "base_url"},
	} {
		if _, err := talkable.New(tc.cfg); refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != tc.param {
			t.Errorf("New(%+v) = %v, want EINVALID naming %s", tc.cfg, err, tc.param)
		}
	}
	c, err := talkable.New(talkable.Config{APIKey: "k", SiteSlug: "s"})
	if err != nil || c.URL("B00K2EOONI") != "https://www.talkable.com/api/v2/origins/B00K2EOONI/refund" {
		t.Fatalf("default URL = %q, %v", c.URL("B00K2EOONI"), err)
	}
}
