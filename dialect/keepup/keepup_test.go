package keepup_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/dialect/keepup"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// server is a live KeepUp dialect over a real engine and SQLite store.
type server struct {
	*testenv.Env
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, keepup.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	return &server{Env: env, url: srv.URL}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request; header holds "Name: value" lines.
func (s *server) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
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

// sameJSON fails unless got is the JSON value want, whatever the spacing.
func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("answer\n  %s\nwant\n  %s", strings.TrimSpace(got), want)
	}
}

func (s *server) refunds(t *testing.T, sale *refundry.Sale) []*refundry.Refund {
	t.Helper()
	rs, _, err := s.Store.ListRefunds(context.Background(), sale.MerchantID, refundry.RefundFilter{Page: refundry.Page{Limit: 100}, SaleID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const refunded = `{"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}`

// The seed's own samples, replayed as they are written: its Node, PHP and
// Python samples POST {"alert_customer": "yes"} with a Bearer token, and the
// endpoint itself is PUT.
func TestSeedSample(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name, method, body string
	}{
		{"Node", http.MethodPost, `{"alert_customer":"yes"}`},    // JSON.stringify
		{"PHP", http.MethodPost, `{"alert_customer":"yes"}`},     // json_encode
		{"Python", http.MethodPost, `{"alert_customer": "yes"}`}, // json.dumps
		{"Endpoint", http.MethodPut, `{"alert_customer": "yes"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sale := s.Sale(testenv.SaleSpec{Reference: "ORDER-" + tc.name, Email: "ann@example.com"})
			res := s.do(t, tc.method, "/v2.0/sales/refund/"+sale.ID, tc.body,
				"Content-Type: application/json", "Authorization: Bearer "+s.KeyA)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			// The seed's "Success" sample, field for field.
			sameJSON(t, res.body, `{"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}`)
			if got := s.Reload(sale); got.RefundedAmount != sale.Amount || got.Status != refundry.PaymentRefunded {
				t.Fatalf("sale refunded %d of %d, status %s", got.RefundedAmount, sale.Amount, got.Status)
			}
			for _, rf := range s.refunds(t, sale) {
				if !rf.NotifyCustomer || rf.Source != refundry.SourceKeepUp || rf.Status != refundry.RefundSucceeded {
					t.Errorf("refund %s: notify %v, source %s, status %s", rf.ID, rf.NotifyCustomer, rf.Source, rf.Status)
				}
			}
		})
	}
}

func TestRefundSale(t *testing.T) {
	s := newServer(t)
	auth := "Authorization: Bearer " + s.KeyA

	t.Run("ByReference", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{Reference: "B00K-REF"})
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/B00K-REF", "", auth)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		sameJSON(t, res.body, refunded)
		if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
			t.Fatalf("refunded %d of %d", got.RefundedAmount, sale.Amount)
		}
	})

	t.Run("EmptyBodyDoesNotAlert", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{})
		for _, body := range []string{"", "  \n", "{}", `{"alert_customer": "no"}`, `{"alert_customer": null, "other": 1}`} {
			res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, body, auth)
			if res.status != http.StatusOK {
				t.Fatalf("body %q: status %d: %s", body, res.status, res.body)
			}
		}
		for _, rf := range s.refunds(t, sale) {
			if rf.NotifyCustomer {
				t.Errorf("refund %s notifies the customer", rf.ID)
			}
		}
	})

	// A sale paid twice is refunded on each payment.
	t.Run("EveryTransaction", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"p1", "p2"}, PayAmounts: []int64{1000, 750}})
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", auth)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		got := s.Reload(sale)
		for _, txn := range got.Transactions {
			if txn.RefundedAmount != txn.Amount {
				t.Errorf("transaction %s refunded %d of %d", txn.ID, txn.RefundedAmount, txn.Amount)
			}
		}
	})

	// Decided: PUT is idempotent. A repeat answers the same 200, moves no
	// money and alerts no one a second time.
	t.Run("RepeatIsTheSame200", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{Email: "bo@example.com"})
		first := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, `{"alert_customer": "yes"}`, auth)
		before := s.refunds(t, sale)
		for range 3 {
			again := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, `{"alert_customer": "yes"}`, auth)
			if again.status != first.status || again.body != first.body {
				t.Fatalf("repeat %d %s, first %d %s", again.status, again.body, first.status, first.body)
			}
		}
		after := s.refunds(t, sale)
		if len(after) != len(before) || len(after) != 1 {
			t.Fatalf("%d refunds after repeats, %d before", len(after), len(before))
		}
		if moved := s.Sim.Moved(after[0].ID); moved != sale.Amount {
			t.Fatalf("gateway moved %d, want %d once", moved, sale.Amount)
		}
		if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
			t.Fatalf("refunded %d of %d", got.RefundedAmount, sale.Amount)
		}
	})

	// Decided: while the gateway holds the refund the answer says so.
	t.Run("Pending", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_keepup"}})
		pending := `{"status": 200, "message": "sale refund pending", "data": {"status": "pending"}}`
		for range 2 {
			res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", auth)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			sameJSON(t, res.body, pending)
		}
		rs := s.refunds(t, sale)
		if len(rs) != 1 || !s.Sim.Settle(rs[0].ID, refundry.RefundSucceeded) {
			t.Fatalf("want one pending refund, have %d", len(rs))
		}
		// An hour on: past the backoff set when the gateway answered pending.
		if _, err := s.Engine.Recover(context.Background(), s.Engine.Now().Add(time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		sameJSON(t, s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", auth).body, refunded)
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{})
		path := "/v2.0/sales/refund/" + sale.ID
		first := s.do(t, http.MethodPost, path, `{"alert_customer": "no"}`, auth, "Idempotency-Key: k-1")
		again := s.do(t, http.MethodPost, path, `{"alert_customer": "no"}`, auth, "Idempotency-Key: k-1")
		if first.status != http.StatusOK || again.body != first.body {
			t.Fatalf("first %d %s, again %d %s", first.status, first.body, again.status, again.body)
		}
		reused := s.do(t, http.MethodPost, path, `{"alert_customer": "yes"}`, auth, "Idempotency-Key: k-1")
		if reused.status != http.StatusUnprocessableEntity {
			t.Fatalf("key reused with another body: %d %s", reused.status, reused.body)
		}
		if n := len(s.refunds(t, sale)); n != 1 {
			t.Fatalf("%d refunds", n)
		}
	})

	// KeepUp carries no amount: the engine refunds what remains, exactly,
	// whatever the currency's exponent.
	t.Run("ZeroAndThreeDecimalCurrencies", func(t *testing.T) {
		for _, c := range []struct {
			currency string
			units    []int64
		}{{"JPY", []int64{4500, 500}}, {"KWD", []int64{1234}}} {
			sale := s.Sale(testenv.SaleSpec{Currency: c.currency, Units: c.units})
			res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", auth)
			if res.status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", c.currency, res.status, res.body)
			}
			rs := s.refunds(t, sale)
			if len(rs) != 1 || rs[0].Amount != sale.Amount || rs[0].Currency != c.currency {
				t.Fatalf("%s: refunds %+v, want one of %d", c.currency, rs, sale.Amount)
			}
		}
	})
}

// Every row of the contract's error table, each answered in KeepUp's shape
// and changing nothing.
func TestErrors(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{Reference: "KEEP-1"})
	other := s.Sale(testenv.SaleSpec{Merchant: s.B, Reference: "KEEP-B"})
	declined := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_fail_keepup"}})
	auth := "Authorization: Bearer " + s.KeyA
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
		want                     string // exact JSON; "" checks the shape only
		sale                     *refundry.Sale
	}{
		{"NoKey", "PUT", "/v2.0/sales/refund/" + sale.ID, "", nil, 401, `{"status": 401, "error": "Authentication invalid"}`, sale},
		{"BadKey", "PUT", "/v2.0/sales/refund/" + sale.ID, "", []string{"Authorization: Bearer rfk_nope"}, 401, `{"status": 401, "error": "Authentication invalid"}`, sale},
		{"BasicNotTaken", "PUT", "/v2.0/sales/refund/" + sale.ID, "", []string{"Authorization: Basic " + basic(s.KeyA)}, 401, `{"status": 401, "error": "Authentication invalid"}`, sale},
		{"NoSuchSale", "PUT", "/v2.0/sales/refund/NOPE-404", "", []string{auth}, 404, `{"status": 404, "error": "Sale not found"}`, sale},
		{"AnotherMerchantsSale", "PUT", "/v2.0/sales/refund/" + other.ID, "", []string{auth}, 404, `{"status": 404, "error": "Sale not found"}`, other},
		{"BadAlertCustomer", "PUT", "/v2.0/sales/refund/" + sale.ID, `{"alert_customer": "maybe"}`, []string{auth}, 422, `{"status": 422, "error": "alert_customer must be \"yes\" or \"no\"."}`, sale},
		{"AlertCustomerNotString", "POST", "/v2.0/sales/refund/" + sale.ID, `{"alert_customer": true}`, []string{auth}, 422, `{"status": 422, "error": "alert_customer must be \"yes\" or \"no\"."}`, sale},
		{"AlertCustomerUpperCase", "POST", "/v2.0/sales/refund/" + sale.ID, `{"alert_customer": "YES"}`, []string{auth}, 422, `{"status": 422, "error": "alert_customer must be \"yes\" or \"no\"."}`, sale},
		{"BadJSON", "PUT", "/v2.0/sales/refund/" + sale.ID, `{"alert_customer": `, []string{auth}, 422, "", sale},
		{"NotAnObject", "PUT", "/v2.0/sales/refund/" + sale.ID, `["yes"]`, []string{auth}, 422, `{"status": 422, "error": "Request body must be a JSON object."}`, sale},
		{"TrailingData", "PUT", "/v2.0/sales/refund/" + sale.ID, `{} {}`, []string{auth}, 422, `{"status": 422, "error": "Request body must hold exactly one JSON object."}`, sale},
		{"BodyTooLarge", "PUT", "/v2.0/sales/refund/" + sale.ID, `{"alert_customer": "no"` + strings.Repeat(" ", 70<<10) + `}`, []string{auth}, 413, `{"status": 413, "error": "Request body is larger than 65536 bytes."}`, sale},
		{"IdempotencyKeyTooLong", "PUT", "/v2.0/sales/refund/" + sale.ID, "", []string{auth, "Idempotency-Key: " + strings.Repeat("k", 256)}, 422, `{"status": 422, "error": "Idempotency-Key must be at most 255 characters."}`, sale},
		{"GatewayRefused", "PUT", "/v2.0/sales/refund/" + declined.ID, "", []string{auth}, 502, `{"status": 502, "error": "Refund declined by the simulator (test value sim_fail)."}`, declined},
		{"MethodNotAllowed", "GET", "/v2.0/sales/refund/" + sale.ID, "", []string{auth}, 405, `{"status": 405, "error": "Method not allowed"}`, sale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.method, tc.path, tc.body, tc.header...)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			if tc.want != "" {
				sameJSON(t, res.body, tc.want)
			} else {
				var body struct {
					Status int    `json:"status"`
					Error  string `json:"error"`
				}
				if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Status != tc.status || body.Error == "" {
					t.Fatalf("not KeepUp's error shape: %s", res.body)
				}
			}
			if got := s.Reload(tc.sale); got.RefundedAmount != 0 {
				t.Fatalf("a refused request refunded %d", got.RefundedAmount)
			}
		})
	}
}

// Invariant 5: another merchant's sale is answered exactly like a missing
// one, by id and by reference.
func TestTenancy(t *testing.T) {
	s := newServer(t)
	other := s.Sale(testenv.SaleSpec{Merchant: s.B, Reference: "THEIRS-1"})
	auth := "Authorization: Bearer " + s.KeyA
	missing := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+refundry.NewID(), "", auth)
	for _, id := range []string{other.ID, other.Reference} {
		got := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+id, "", auth)
		if got.status != missing.status || got.body != missing.body {
			t.Fatalf("another merchant's %s: %d %s; a missing sale: %d %s", id, got.status, got.body, missing.status, missing.body)
		}
	}
	if got := s.Reload(other); got.RefundedAmount != 0 {
		t.Fatalf("another merchant's sale refunded %d", got.RefundedAmount)
	}
}

func basic(user string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, "")
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// Invariant 7: no body and no sale id a client sends makes the handler
// panic or answer 5xx.
func FuzzDecodeRefundSale(f *testing.F) {
	env := testenv.New(f)
	h := keepup.NewHandler(env.Engine, env.Logger)
	sale := env.Sale(testenv.SaleSpec{Reference: "FUZZ-1"})
	env.Sale(testenv.SaleSpec{Reference: "FUZZ-2", PayRefs: []string{"sim_pending_fuzz"}})
	f.Add(sale.ID, `{"alert_customer": "yes"}`)
	f.Add("FUZZ-1", `{"alert_customer":"yes"}`)
	f.Add("FUZZ-2", ``)
	f.Add("missing", `{"alert_customer": 1e999}`)
	f.Add("FUZZ-1", `{"alert_customer": {"a": [1, 2, {"b": null}]}}`)
	f.Add("x\x00y", "\xff\xfe")
	f.Add("FUZZ-1", `{"alert_customer": "yes"} trailing`)
	f.Fuzz(func(t *testing.T, saleID, body string) {
		for _, method := range []string{http.MethodPut, http.MethodPost} {
			req := httptest.NewRequest(method, "/v2.0/sales/refund/"+url.PathEscape(saleID), strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+env.KeyA)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %q body %q: status %d: %s", method, saleID, body, rec.Code, rec.Body)
			}
			// Paths the mux itself refuses (an empty or dot segment, a
			// lone %2F) never reach the route and are not JSON; every
			// answer the dialect gives is in KeepUp's shape.
			if rec.Header().Get("Content-Type") == "application/json" {
				var shape struct{ Status int }
				if err := json.Unmarshal(rec.Body.Bytes(), &shape); err != nil || shape.Status != rec.Code {
					t.Fatalf("%s %q body %q: not KeepUp's shape: %s", method, saleID, body, rec.Body)
				}
			}
		}
	})
}
