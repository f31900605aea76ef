package talkable_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/dialect/talkable"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// server is a live Talkable dialect over a real engine and SQLite store.
type server struct {
	*testenv.Env
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, talkable.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	return &server{Env: env, url: srv.URL}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request. basicUser, when set, is sent as curl -u USER:
// sends it; header holds "Name: value" lines.
func (s *server) do(t *testing.T, path, basicUser, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if basicUser != "" {
		req.SetBasicAuth(basicUser, "")
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (s *server) referral(t *testing.T, m *refundry.Merchant, origin, currency string, subtotal int64) {
	t.Helper()
	r := &refundry.Referral{MerchantID: m.ID, OriginSlug: origin, CampaignID: 196, OfferID: 867, TrackMethod: "coupon",
		AdRewarded: true, Subtotal: subtotal, Currency: currency,
		Advocate: refundry.Person{Email: "customer@example.com"}, Friend: refundry.Person{Email: "friend@example.com"}}
	if _, err := s.Engine.CreateReferral(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
}

// decode reads an answer with numbers kept as their text.
func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, body)
	}
	return v
}

// sameShape fails unless got has exactly want's fields, recursively, each
// of the same JSON type.
func sameShape(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: %T, want an object", path, got)
			return
		}
		if gk, wk := keys(g), keys(w); !reflect.DeepEqual(gk, wk) {
			t.Errorf("%s: fields %v, want %v", path, gk, wk)
		}
		for k := range w {
			sameShape(t, path+"."+k, g[k], w[k])
		}
	default:
		if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			t.Errorf("%s: %T (%v), want %T (%v)", path, got, got, want, want)
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func referralOf(t *testing.T, body string) map[string]any {
	t.Helper()
	v := decode(t, body)
	res, _ := v["result"].(map[string]any)
	ref, _ := res["referral"].(map[string]any)
	if ref == nil {
		t.Fatalf("no referral in %s", body)
	}
	return ref
}

// isoWithOffset is the seed's date form, "2019-05-27T15:41:31.000-07:00".
var isoWithOffset = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$`)

// The seed's own example, replayed as written:
//
//	curl -H "Content-Type: application/json" -X POST -u i9uil7nQgDjucCiTJu: \
//	     -d '{"site_slug":"my-store"}' https://www.talkable.com/api/v2/origins/B00K2EOONI/refund
//
// and the same line without its Content-Type, which curl then sends as a
// form. The answer has the sample response's fields and types.
func TestSeedSample(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	m := &refundry.Merchant{Slug: "my-store", Name: "My Store", Currency: "USD"}
	key, err := s.Engine.CreateMerchant(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile("testdata/seed_response.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, order string
		header      []string
	}{
		{"AsWritten", "B00K2EOONI", []string{"Content-Type: application/json"}},
		{"NoContentType", "B00K2EOONJ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sale := s.Sale(testenv.SaleSpec{Merchant: m, Reference: tc.order, Units: []int64{3503}})
			s.referral(t, m, tc.order, "USD", 3503)
			res := s.do(t, "/api/v2/origins/"+tc.order+"/refund", key, `{"site_slug":"my-store"}`, tc.header...)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			sameShape(t, "answer", decode(t, res.body), decode(t, string(seed)))
			ref := referralOf(t, res.body)
			for k, want := range map[string]any{
				"ad_rewarded": true, "campaign_id": json.Number("196"), "offer_id": json.Number("867"),
				"qa_generated": false, "referred_subtotal": json.Number("35.03"), "status": "voided", "track_method": "coupon",
			} {
				if !reflect.DeepEqual(ref[k], want) {
					t.Errorf("%s = %#v, want %#v", k, ref[k], want)
				}
			}
			adv := ref["advocate_person"].(map[string]any)
			if adv["email"] != "customer@example.com" || adv["first_name"] != nil || adv["last_name"] != nil {
				t.Errorf("advocate_person %v", adv)
			}
			for _, k := range []string{"created_at", "updated_at"} {
				if v, _ := ref[k].(string); !isoWithOffset.MatchString(v) {
					t.Errorf("%s = %q, not ISO 8601 with an offset", k, v)
				}
			}
			if !strings.Contains(res.body, `"referred_subtotal":35.03`) {
				t.Errorf("referred_subtotal is not the number 35.03: %s", res.body)
			}
			if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
				t.Fatalf("sale refunded %d of %d", got.RefundedAmount, sale.Amount)
			}
		})
	}
}

func TestRefundOrigin(t *testing.T) {
	s := newServer(t)
	body := `{"site_slug":"store-a"}`

	// The colon of event_category:event_number may come percent-encoded.
	t.Run("EventColonEncodedOrNot", func(t *testing.T) {
		for i, path := range []string{"/api/v2/origins/newsletter_subscription%3A42/refund", "/api/v2/origins/newsletter_subscription:43/refund"} {
			s.referral(t, s.A, fmt.Sprintf("newsletter_subscription:%d", 42+i), "USD", 0)
			res := s.do(t, path, s.KeyA, body)
			if res.status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", path, res.status, res.body)
			}
			if ref := referralOf(t, res.body); ref["status"] != "voided" {
				t.Fatalf("%s: referral %v", path, ref)
			}
		}
	})

	t.Run("BearerToo", func(t *testing.T) {
		s.Sale(testenv.SaleSpec{Reference: "BEARER-1"})
		res := s.do(t, "/api/v2/origins/BEARER-1/refund", "", body, "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
	})

	// A purchase with no referral is still refunded; the answer names no
	// referral.
	t.Run("NoReferral", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{Reference: "NOREF-1"})
		res := s.do(t, "/api/v2/origins/NOREF-1/refund", s.KeyA, body)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		if strings.TrimSpace(res.body) != `{"ok":true,"result":{"referral":null}}` {
			t.Fatalf("answer %s", res.body)
		}
		if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
			t.Fatalf("sale refunded %d of %d", got.RefundedAmount, sale.Amount)
		}
	})

	// Decided: a repeat changes nothing more and answers the same.
	t.Run("RepeatAnswersTheSame", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{Reference: "AGAIN-1"})
		s.referral(t, s.A, "AGAIN-1", "USD", 1750)
		first := s.do(t, "/api/v2/origins/AGAIN-1/refund", s.KeyA, body)
		for range 2 {
			again := s.do(t, "/api/v2/origins/AGAIN-1/refund", s.KeyA, body)
			if again.status != first.status || again.body != first.body {
				t.Fatalf("repeat %d %s, first %d %s", again.status, again.body, first.status, first.body)
			}
		}
		rs, _, err := s.Store.ListRefunds(context.Background(), s.A.ID, refundry.RefundFilter{SaleID: sale.ID})
		if err != nil || len(rs) != 1 || s.Sim.Moved(rs[0].ID) != sale.Amount {
			t.Fatalf("refunds %v (err %v): want one that moved %d once", rs, err, sale.Amount)
		}
		if rs[0].Source != refundry.SourceTalkable {
			t.Errorf("source %s", rs[0].Source)
		}
	})

	// Decided: refunded_at is ISO 8601, or unix seconds as a string or a
	// number, and is recorded as the time of the refund.
	t.Run("RefundedAt", func(t *testing.T) {
		for i, tc := range []struct {
			value string
			want  time.Time
		}{
			{`"12345"`, time.Unix(12345, 0)},
			{`12345`, time.Unix(12345, 0)},
			{`"2019-05-27T15:41:31.000-07:00"`, time.Date(2019, 5, 27, 22, 41, 31, 0, time.UTC)},
			{`"2019-05-27T22:41:31Z"`, time.Date(2019, 5, 27, 22, 41, 31, 0, time.UTC)},
			{`null`, time.Time{}},
		} {
			order := fmt.Sprintf("AT-%d", i)
			sale := s.Sale(testenv.SaleSpec{Reference: order})
			res := s.do(t, "/api/v2/origins/"+order+"/refund", s.KeyA, `{"site_slug":"store-a","data":{"refunded_at":`+tc.value+`}}`)
			if res.status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", tc.value, res.status, res.body)
			}
			rs, _, err := s.Store.ListRefunds(context.Background(), s.A.ID, refundry.RefundFilter{SaleID: sale.ID})
			if err != nil || len(rs) != 1 {
				t.Fatalf("%s: refunds %v, %v", tc.value, rs, err)
			}
			if !tc.want.IsZero() && !rs[0].RefundedAt.Equal(tc.want) {
				t.Errorf("%s: refunded_at %v, want %v", tc.value, rs[0].RefundedAt, tc.want)
			}
			if tc.want.IsZero() && time.Since(rs[0].RefundedAt) > time.Minute {
				t.Errorf("%s: refunded_at %v, want now", tc.value, rs[0].RefundedAt)
			}
		}
	})

	// Invariant 1: the subtotal is written in major units, exactly.
	t.Run("SubtotalMajorUnits", func(t *testing.T) {
		for _, c := range []struct {
			currency string
			minor    int64
			want     string
		}{{"JPY", 500, `"referred_subtotal":500,`}, {"KWD", 1234, `"referred_subtotal":1.234,`}, {"USD", 3500, `"referred_subtotal":35.00,`}} {
			order := "SUB-" + c.currency
			s.Sale(testenv.SaleSpec{Reference: order, Currency: c.currency, Units: []int64{c.minor}})
			s.referral(t, s.A, order, c.currency, c.minor)
			res := s.do(t, "/api/v2/origins/"+order+"/refund", s.KeyA, body)
			if res.status != http.StatusOK || !strings.Contains(res.body, c.want) {
				t.Fatalf("%s: %d %s, want %s", c.currency, res.status, res.body, c.want)
			}
		}
	})
}

// Every row of the contract's error table, each in Talkable's shape and
// changing nothing.
func TestErrors(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{Reference: "ERR-1"})
	s.referral(t, s.A, "ERR-1", "USD", 1750)
	s.Sale(testenv.SaleSpec{Merchant: s.B, Reference: "ERR-B"})
	path := "/api/v2/origins/ERR-1/refund"
	const ok = `{"site_slug":"store-a"}`
	for _, tc := range []struct {
		name, path, user, body string
		header                 []string
		status                 int
		message                string // "" checks the shape only
	}{
		{"NoKey", path, "", ok, nil, 401, "Unauthorized"},
		{"BadKey", path, "i9uil7nQgDjucCiTJu", ok, nil, 401, "Unauthorized"},
		{"BadBearer", path, "", ok, []string{"Authorization: Bearer rfk_nope"}, 401, "Unauthorized"},
		{"SlugNotTheKeys", path, s.KeyA, `{"site_slug":"store-b"}`, nil, 401, "Unauthorized"},
		{"OtherKeyOwnSlug", path, s.KeyB, `{"site_slug":"store-b"}`, nil, 404, "Origin not found"},
		{"SiteSlugMissing", path, s.KeyA, `{}`, nil, 400, "site_slug is required"},
		{"SiteSlugEmpty", path, s.KeyA, `{"site_slug":""}`, nil, 400, "site_slug is required"},
		{"EmptyBody", path, s.KeyA, ``, nil, 400, "site_slug is required"},
		{"NoSuchPurchase", "/api/v2/origins/NOPE-1/refund", s.KeyA, ok, nil, 404, "Origin not found"},
		{"NoSuchEvent", "/api/v2/origins/newsletter_subscription%3A404/refund", s.KeyA, ok, nil, 404, "Origin not found"},
		{"AnotherMerchantsPurchase", "/api/v2/origins/ERR-B/refund", s.KeyA, ok, nil, 404, "Origin not found"},
		{"BadRefundedAt", path, s.KeyA, `{"site_slug":"store-a","data":{"refunded_at":"yesterday"}}`, nil, 422, ""},
		{"RefundedAtFraction", path, s.KeyA, `{"site_slug":"store-a","data":{"refunded_at":12345.5}}`, nil, 422, ""},
		{"RefundedAtBool", path, s.KeyA, `{"site_slug":"store-a","data":{"refunded_at":true}}`, nil, 422, ""},
		{"RefundedAtHuge", path, s.KeyA, `{"site_slug":"store-a","data":{"refunded_at":"99999999999999"}}`, nil, 422, ""},
		{"DataNotObject", path, s.KeyA, `{"site_slug":"store-a","data":"12345"}`, nil, 422, "data must be a JSON object."},
		{"SiteSlugNotString", path, s.KeyA, `{"site_slug":42}`, nil, 422, "site_slug must be a string."},
		{"BadJSON", path, s.KeyA, `{"site_slug":`, nil, 422, ""},
		{"FormNotJSON", path, s.KeyA, `site_slug=store-a`, nil, 422, "Request body must be a JSON object."},
		{"BodyTooLarge", path, s.KeyA, `{"site_slug":"store-a"` + strings.Repeat(" ", 70<<10) + `}`, nil, 413, "Request body is larger than 65536 bytes."},
		{"IdempotencyKeyTooLong", path, s.KeyA, ok, []string{"Idempotency-Key: " + strings.Repeat("k", 256)}, 422, "Idempotency-Key must be at most 255 characters."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.path, tc.user, tc.body, tc.header...)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			var e struct {
				OK           *bool   `json:"ok"`
				ErrorMessage *string `json:"error_message"`
			}
			if err := json.Unmarshal([]byte(res.body), &e); err != nil || e.OK == nil || *e.OK || e.ErrorMessage == nil || *e.ErrorMessage == "" {
				t.Fatalf("not Talkable's error shape: %s", res.body)
			}
			if tc.message != "" && *e.ErrorMessage != tc.message {
				t.Fatalf("error_message %q, want %q", *e.ErrorMessage, tc.message)
			}
			if got := s.Reload(sale); got.RefundedAmount != 0 {
				t.Fatalf("a refused request refunded %d", got.RefundedAmount)
			}
		})
	}
	t.Run("ReferralNotVoided", func(t *testing.T) {
		o, err := s.Store.FindOrigin(context.Background(), s.A.ID, "ERR-1")
		if err != nil {
			t.Fatal(err)
		}
		refs, err := s.Store.ListReferrals(context.Background(), s.A.ID, o.ID)
		if err != nil || len(refs) != 1 || refs[0].Status != refundry.ReferralApproved {
			t.Fatalf("referrals %v, %v", refs, err)
		}
	})
}

// Invariant 5: another merchant's origins, purchase or event, answer
// exactly like missing ones.
func TestTenancy(t *testing.T) {
	s := newServer(t)
	theirs := s.Sale(testenv.SaleSpec{Merchant: s.B, Reference: "THEIRS-1"})
	s.referral(t, s.B, "THEIRS-1", "USD", 1750)
	s.referral(t, s.B, "newsletter_subscription:7", "USD", 0)
	body := `{"site_slug":"store-a"}`
	for _, pair := range [][2]string{
		{"THEIRS-1", "MISSING-1"},
		{"newsletter_subscription%3A7", "newsletter_subscription%3A8"},
	} {
		got := s.do(t, "/api/v2/origins/"+pair[0]+"/refund", s.KeyA, body)
		missing := s.do(t, "/api/v2/origins/"+pair[1]+"/refund", s.KeyA, body)
		if got.status != missing.status || got.body != missing.body {
			t.Fatalf("another merchant's %s: %d %s; a missing one: %d %s", pair[0], got.status, got.body, missing.status, missing.body)
		}
	}
	if got := s.Reload(theirs); got.RefundedAmount != 0 {
		t.Fatalf("another merchant's sale refunded %d", got.RefundedAmount)
	}
}

// Invariant 7: no body and no origin slug a client sends makes the handler
// panic or answer 5xx.
func FuzzDecodeRefundOrigin(f *testing.F) {
	env := testenv.New(f)
	h := talkable.NewHandler(env.Engine, env.Logger)
	env.Sale(testenv.SaleSpec{Reference: "FUZZ-1"})
	f.Add("FUZZ-1", `{"site_slug":"store-a"}`)
	f.Add("newsletter_subscription%3A42", `{"site_slug":"store-a","data":{"refunded_at":"12345"}}`)
	f.Add("FUZZ-1", `{"site_slug":"store-a","data":{"refunded_at":-1e999}}`)
	f.Add("FUZZ-1", `{"site_slug":"store-a","data":{"refunded_at":"0000-01-01T00:00:00+23:59"}}`)
	f.Add("a:b:c", `{"site_slug":["store-a"],"data":null}`)
	f.Add(":", "\xff")
	f.Add("FUZZ-1", `{"site_slug":"store-a","data":{"refunded_at":"9999-12-31T23:59:59.999999999-23:59"}}`)
	f.Fuzz(func(t *testing.T, slug, body string) {
		req, err := http.NewRequest(http.MethodPost, "/api/v2/origins/"+slug+"/refund", strings.NewReader(body))
		if err != nil {
			return // not a URL any client could send
		}
		req.SetBasicAuth(env.KeyA, "")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q body %q: status %d: %s", slug, body, rec.Code, rec.Body)
		}
		// Paths the mux refuses itself never reach the route and are not
		// JSON; every answer the dialect gives is in Talkable's shape.
		if rec.Header().Get("Content-Type") == "application/json" {
			var shape struct{ OK *bool }
			if err := json.Unmarshal(rec.Body.Bytes(), &shape); err != nil || shape.OK == nil || *shape.OK != (rec.Code == http.StatusOK) {
				t.Fatalf("%q body %q: not Talkable's shape: %d %s", slug, body, rec.Code, rec.Body)
			}
		}
	})
}
