package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	dialect "github.com/refundry/refundry/dialect/talkable"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/notify"
)

// plainSealer stands for package secrets' keyring: these tests are about
// deliveries, not about sealing.
type plainSealer struct{}

func (plainSealer) Seal(p []byte) ([]byte, string, error)   { return p, "plain", nil }
func (plainSealer) Open(s []byte, _ string) ([]byte, error) { return s, nil }

type talkableHit struct {
	path   string
	status int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// A merchant's Talkable account voids, at Talkable (here a second
// Refundry playing it, through its Talkable dialect), the referrals of
// each sale wholly refunded; a partial refund voids nothing; an origin
// Talkable does not know is delivered as it is (nothing to void); a key
// Talkable refuses is retried, then given up; a sale without an order
// number sends nothing.
func TestTalkableAccountVoidsReferrals(t *testing.T) {
	ctx := context.Background()
	provider := testenv.New(t)
	var mu sync.Mutex
	var hits []talkableHit
	h := dialect.NewHandler(provider.Engine, provider.Logger)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		mu.Lock()
		hits = append(hits, talkableHit{r.URL.EscapedPath(), sw.status})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	for _, ref := range []string{"ORDER 1", "ORDER-2"} {
		provider.Sale(testenv.SaleSpec{Reference: ref})
		r := &refundry.Referral{MerchantID: provider.A.ID, OriginSlug: ref, Currency: "USD",
			Advocate: refundry.Person{Email: "a@example.com"}, Friend: refundry.Person{Email: "f-" + refundry.NewID() + "@example.com"}}
		if _, err := provider.Engine.CreateReferral(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}

	env := testenv.New(t)
	env.Engine.Secrets = plainSealer{}
	account := func(key string) *refundry.GatewayAccount {
		a, err := env.Engine.CreateGatewayAccount(ctx, &refundry.GatewayAccount{MerchantID: env.A.ID, Kind: refundry.KindTalkable,
			BaseURL: srv.URL, Credentials: map[string]string{"api_key": key, "site_slug": "store-a"}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	good, bad := account(provider.KeyA), account("rfk_refused")
	w := &notify.Webhooks{
		Outbox: env.Engine.Stores.Outbox, Render: api.EventJSON, Logger: env.Logger,
		Schedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond},
		Timeout:  30 * time.Second, Interval: 10 * time.Millisecond,
		Accounts: env.Engine.OpenGatewayAccount,
	}
	wait := passes(t, w)
	w.Open()
	defer w.Close()

	refund := func(ref string, amount *int64) *refundry.Sale {
		s := env.Sale(testenv.SaleSpec{Reference: ref})
		if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: s.ID},
			Amount: amount, Source: refundry.SourceNative}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	part := int64(100)
	refund("ORDER-2", &part)
	refund("ORDER 1", nil)
	refund("NOT-AT-TALKABLE", nil)
	refund("", nil)

	settled := func(a *refundry.GatewayAccount, n int) []*refundry.Delivery {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ds, _, err := env.Engine.GatewayAccountDeliveries(ctx, env.A.ID, a.ID, refundry.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			done := len(ds) == n
			for _, d := range ds {
				done = done && d.Status != refundry.DeliveryPending
			}
			if done {
				return ds
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries of %s not settled in 20s: %+v", a.ID, ds)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ds := settled(good, 3)
	wait(3)
	byStatus := map[int]*refundry.Delivery{}
	for _, d := range ds {
		if d.Status != refundry.DeliveryDelivered || len(d.History) != 1 || d.EventType != refundry.EventSaleRefunded {
			t.Fatalf("delivery = %+v", d)
		}
		byStatus[d.History[0].StatusCode] = d
	}
	if byStatus[200] == nil || byStatus[404] == nil || byStatus[0] == nil || byStatus[0].History[0].Response == "" {
		t.Fatalf("attempts by status = %v", byStatus)
	}
	gave := settled(bad, 3)
	for _, d := range gave {
		if d.History[len(d.History)-1].StatusCode == 0 {
			continue // the sale without an order number: nothing sent
		}
		if d.Status != refundry.DeliveryFailed || len(d.History) != 3 || d.History[0].StatusCode != http.StatusUnauthorized {
			t.Fatalf("delivery with a refused key = %+v", d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var ok []string
	for _, h := range hits {
		if h.status == http.StatusOK {
			ok = append(ok, h.path)
		}
	}
	// Exactly one void, of the wholly refunded sale's origin, its space
	// escaped; the partial refund's origin (ORDER-2) was never called.
	if !slices.Equal(ok, []string{"/api/v2/origins/ORDER%201/refund"}) {
		t.Fatalf("successful calls at Talkable = %v (all: %+v)", ok, hits)
	}
	if refs, err := provider.Engine.ListReferrals(ctx, provider.A.ID, 0); err == nil {
		voided := 0
		for _, r := range refs {
			if r.Status == refundry.ReferralVoided {
				voided++
			}
		}
		if voided != 1 {
			t.Fatalf("referrals voided at Talkable = %d, want 1", voided)
		}
	}
}
