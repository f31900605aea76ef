package payop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/dialect/payop"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// server is a live Payop dialect over a real engine and SQLite store.
type server struct {
	*testenv.Env
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, payop.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	return &server{Env: env, url: srv.URL}
}

type response struct {
	status int
	header http.Header
	body   string
}

// post sends the seed's request form; header holds "Name: value" lines.
func (s *server) post(t *testing.T, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/v1/refunds/create", strings.NewReader(body))
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

func (s *server) refunds(t *testing.T, sale *refundry.Sale) []*refundry.Refund {
	t.Helper()
	rs, _, err := s.Store.ListRefunds(context.Background(), sale.MerchantID, refundry.RefundFilter{Page: refundry.Page{Limit: 100}, SaleID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// ok checks the seed's success answer: 200, the refund's id in the
// identifier header, and the body byte for byte. It returns the refund.
func (s *server) ok(t *testing.T, res response) *refundry.Refund {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if res.body != `{"data": "", "status": 1}` {
		t.Fatalf("body %q", res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	id := res.header.Get("identifier")
	var merchant string
	for _, m := range []*refundry.Merchant{s.A, s.B} {
		if _, err := s.Store.FindRefund(context.Background(), m.ID, id); err == nil {
			merchant = m.ID
		}
	}
	rf, err := s.Store.FindRefund(context.Background(), merchant, id)
	if err != nil {
		t.Fatalf("identifier %q names no refund: %v", id, err)
	}
	return rf
}

const seedRef = "d839c714-7743-47cf-8f9d-73592597c6e1"

// The seed's request example, replayed as written.
func TestSeedSample(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{PayRefs: []string{seedRef}, Units: []int64{2500, 500}})
	res := s.post(t, `{
        "transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1",
        "refundType": 2,
        "amount": 10,
        "metadata": {
            "internal merchant id": "example"
        }
      }`, "Content-Type: application/json", "Authorization: Bearer "+s.KeyA)
	rf := s.ok(t, res)
	if rf.Amount != 1000 || rf.Currency != "USD" || rf.Source != refundry.SourcePayop || rf.TransactionID != sale.Transactions[0].ID {
		t.Fatalf("refund %+v", rf)
	}
	var md any
	if err := json.Unmarshal(rf.Metadata, &md); err != nil || !reflect.DeepEqual(md, map[string]any{"internal merchant id": "example"}) {
		t.Fatalf("metadata %s", rf.Metadata)
	}
	if got := s.Reload(sale); got.RefundedAmount != 1000 {
		t.Fatalf("sale refunded %d", got.RefundedAmount)
	}
}

func TestCreateRefund(t *testing.T) {
	s := newServer(t)
	auth := "Authorization: Bearer " + s.KeyA

	// Invariant 1: major units are converted exactly in the transaction's
	// currency; a digit beyond its exponent is refused, never rounded.
	t.Run("MajorUnits", func(t *testing.T) {
		for i, tc := range []struct {
			currency string
			amount   string
			want     int64 // minor units; 0: refused with 422
		}{
			{"KWD", `1.234`, 1234},
			{"KWD", `"0.5"`, 500},
			{"KWD", `1.2345`, 0},
			{"KWD", `1.2340`, 1234},
			{"JPY", `500`, 500},
			{"JPY", `5e2`, 500},
			{"JPY", `500.5`, 0},
			{"USD", `10.01`, 1001},
			{"USD", `0.001`, 0},
			{"USD", `19.999999999999999999`, 0},
		} {
			ref := fmt.Sprintf("mu-%d", i)
			sale := s.Sale(testenv.SaleSpec{Currency: tc.currency, Units: []int64{5000}, PayRefs: []string{ref}})
			res := s.post(t, `{"transactionIdentifier": "`+ref+`", "refundType": 2, "amount": `+tc.amount+`}`, auth)
			if tc.want == 0 {
				if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.body, `"message"`) {
					t.Fatalf("%s %s: %d %s, want 422", tc.currency, tc.amount, res.status, res.body)
				}
				if got := s.Reload(sale); got.RefundedAmount != 0 {
					t.Fatalf("%s %s: refunded %d", tc.currency, tc.amount, got.RefundedAmount)
				}
				continue
			}
			if rf := s.ok(t, res); rf.Amount != tc.want || rf.Currency != tc.currency {
				t.Fatalf("%s %s: refund of %d %s, want %d", tc.currency, tc.amount, rf.Amount, rf.Currency, tc.want)
			}
		}
	})

	t.Run("RefundTypeAll", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{Currency: "KWD", Units: []int64{12345}, PayRefs: []string{"all-1"}})
		s.ok(t, s.post(t, `{"transactionIdentifier": "all-1", "refundType": 2, "amount": 0.345}`, auth))
		rf := s.ok(t, s.post(t, `{"transactionIdentifier": "all-1", "refundType": 1}`, auth))
		if rf.Amount != 12000 {
			t.Fatalf("refunded %d, want what remained, 12000", rf.Amount)
		}
		if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
			t.Fatalf("refunded %d of %d", got.RefundedAmount, sale.Amount)
		}
	})

	// Decided: with refundType 1 an amount may be given; it must then be
	// exactly what remains.
	t.Run("RefundTypeAllWithAmount", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{Units: []int64{1250, 500}, PayRefs: []string{"all-2"}})
		for _, amount := range []string{"17.49", "17.51", "1"} {
			res := s.post(t, `{"transactionIdentifier": "all-2", "refundType": 1, "amount": `+amount+`}`, auth)
			if res.status != http.StatusUnprocessableEntity {
				t.Fatalf("amount %s: %d %s, want 422", amount, res.status, res.body)
			}
		}
		if got := s.Reload(sale); got.RefundedAmount != 0 {
			t.Fatalf("a refused request refunded %d", got.RefundedAmount)
		}
		if rf := s.ok(t, s.post(t, `{"transactionIdentifier": "all-2", "refundType": 1, "amount": 17.50}`, auth)); rf.Amount != 1750 {
			t.Fatalf("refunded %d", rf.Amount)
		}
	})

	t.Run("ByTransactionID", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{})
		rf := s.ok(t, s.post(t, `{"transactionIdentifier": "`+sale.Transactions[0].ID+`", "refundType": 1, "metadata": "any value"}`, auth))
		if rf.Amount != sale.Amount || string(rf.Metadata) != `"any value"` {
			t.Fatalf("refund %d, metadata %s", rf.Amount, rf.Metadata)
		}
	})

	// A sale paid twice: the identifier picks one payment, and only it is
	// refunded.
	t.Run("OneOfTwoPayments", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"two-1", "two-2"}, PayAmounts: []int64{1000, 750}})
		if rf := s.ok(t, s.post(t, `{"transactionIdentifier": "two-2", "refundType": 1}`, auth)); rf.Amount != 750 || rf.TransactionID != sale.Transactions[1].ID {
			t.Fatalf("refund %+v", rf)
		}
	})

	t.Run("MetadataLimit", func(t *testing.T) {
		s.Sale(testenv.SaleSpec{PayRefs: []string{"md-1"}})
		// A JSON string of n bytes in all, quotes included.
		value := func(n int) string { return `"` + strings.Repeat("a", n-2) + `"` }
		res := s.post(t, `{"transactionIdentifier": "md-1", "refundType": 2, "amount": 1, "metadata": `+value(refundry.MaxMetadata)+`}`, auth)
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("metadata of 819200 bytes: %d %s", res.status, res.body)
		}
		rf := s.ok(t, s.post(t, `{"transactionIdentifier": "md-1", "refundType": 2, "amount": 1, "metadata": `+value(refundry.MaxMetadata-1)+`}`, auth))
		if len(rf.Metadata) != refundry.MaxMetadata-1 {
			t.Fatalf("stored %d bytes of metadata", len(rf.Metadata))
		}
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"idem-1"}})
		body := `{"transactionIdentifier": "idem-1", "refundType": 2, "amount": 1}`
		first := s.ok(t, s.post(t, body, auth, "Idempotency-Key: k-1"))
		again := s.ok(t, s.post(t, body, auth, "Idempotency-Key: k-1"))
		if again.ID != first.ID || len(s.refunds(t, sale)) != 1 {
			t.Fatalf("a replay made refund %s after %s", again.ID, first.ID)
		}
	})

	t.Run("PendingIsAccepted", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_payop"}})
		if rf := s.ok(t, s.post(t, `{"transactionIdentifier": "sim_pending_payop", "refundType": 1}`, auth)); rf.Status != refundry.RefundPending {
			t.Fatalf("refund %s", rf.Status)
		}
		if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
			t.Fatalf("refunded %d", got.RefundedAmount)
		}
	})
}

// Every row of the contract's error table, each in Payop's shape and
// changing nothing.
func TestErrors(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"err-1"}, Units: []int64{1250, 500}})
	declined := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_fail_payop"}})
	theirs := s.Sale(testenv.SaleSpec{Merchant: s.B, PayRefs: []string{"theirs-1"}})
	auth := "Authorization: Bearer " + s.KeyA
	const valid = `{"transactionIdentifier": "err-1", "refundType": 2, "amount": 1}`
	big := `{"transactionIdentifier": "err-1", "refundType": 2, "amount": 1, "metadata": {"a": "` + strings.Repeat("x", refundry.MaxMetadata) + `"}}`
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		message    string // "" checks the shape only
		sale       *refundry.Sale
	}{
		{"NoToken", valid, nil, 401, "Full authentication is required to access this resource.", sale},
		{"BadToken", valid, []string{"Authorization: Bearer YOUR_JWT_TOKEN"}, 401, "Full authentication is required to access this resource.", sale},
		{"NoSuchTransaction", `{"transactionIdentifier": "nope", "refundType": 2, "amount": 1}`, []string{auth}, 422, "Transaction not found", sale},
		{"NoSuchTransactionID", `{"transactionIdentifier": "` + refundry.NewID() + `", "refundType": 1}`, []string{auth}, 422, "Transaction not found", sale},
		{"AnotherMerchantsTransaction", `{"transactionIdentifier": "theirs-1", "refundType": 2, "amount": 1}`, []string{auth}, 422, "Transaction not found", theirs},
		{"AmountAboveRemaining", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": 17.51}`, []string{auth}, 422, "Refund amount is bigger than transaction amount", sale},
		{"TypeAllAmountAbove", `{"transactionIdentifier": "err-1", "refundType": 1, "amount": 100}`, []string{auth}, 422, "Refund amount is bigger than transaction amount", sale},
		{"TypeAllAmountBelow", `{"transactionIdentifier": "err-1", "refundType": 1, "amount": 1}`, []string{auth}, 422, "Amount must equal the transaction's remaining amount (17.50 USD), or be left out.", sale},
		{"RefundTypeMissing", `{"transactionIdentifier": "err-1", "amount": 1}`, []string{auth}, 422, "refundType is required: 1 (all of the transaction's remaining amount) or 2 (a partial amount).", sale},
		{"RefundTypeThree", `{"transactionIdentifier": "err-1", "refundType": 3, "amount": 1}`, []string{auth}, 422, "refundType must be 1 (all of the transaction's remaining amount) or 2 (a partial amount).", sale},
		{"RefundTypeFraction", `{"transactionIdentifier": "err-1", "refundType": 1.5}`, []string{auth}, 422, "refundType must be 1 (all of the transaction's remaining amount) or 2 (a partial amount).", sale},
		{"RefundTypeObject", `{"transactionIdentifier": "err-1", "refundType": {}}`, []string{auth}, 422, "refundType must be 1 (all of the transaction's remaining amount) or 2 (a partial amount).", sale},
		{"PartialNoAmount", `{"transactionIdentifier": "err-1", "refundType": 2}`, []string{auth}, 422, "amount is required for refundType 2.", sale},
		{"AmountZero", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": 0}`, []string{auth}, 422, "amount must be greater than 0.", sale},
		{"AmountNegative", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": -1}`, []string{auth}, 422, "Amount must not be negative.", sale},
		{"AmountTooManyDecimals", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": 1.001}`, []string{auth}, 422, `Amount "1.001" has more than 2 decimals, the most USD allows.`, sale},
		{"AmountNotNumber", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": "ten"}`, []string{auth}, 422, "", sale},
		{"AmountBool", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": true}`, []string{auth}, 422, "amount must be a number in the transaction's currency, such as 10.50.", sale},
		{"AmountHuge", `{"transactionIdentifier": "err-1", "refundType": 2, "amount": 1e300}`, []string{auth}, 422, "", sale},
		{"IdentifierMissing", `{"refundType": 1}`, []string{auth}, 422, "transactionIdentifier is required.", sale},
		{"IdentifierNotString", `{"transactionIdentifier": ["err-1"], "refundType": 1}`, []string{auth}, 422, "transactionIdentifier must be a string.", sale},
		{"MetadataTooLarge", big, []string{auth}, 422, "metadata must be less than 800 KB (819200 bytes) once serialized.", sale},
		{"BadJSON", `{"transactionIdentifier": "err-1",`, []string{auth}, 422, "", sale},
		{"EmptyBody", ``, []string{auth}, 422, "Request body must be a JSON object.", sale},
		{"BodyTooLarge", `{"metadata": "` + strings.Repeat("x", 2<<20) + `"}`, []string{auth}, 413, "Request body is larger than 1114112 bytes.", sale},
		{"IdempotencyKeyTooLong", valid, []string{auth, "Idempotency-Key: " + strings.Repeat("k", 256)}, 422, "Idempotency-Key must be at most 255 characters.", sale},
		{"GatewayRefused", `{"transactionIdentifier": "sim_fail_payop", "refundType": 1}`, []string{auth}, 502, "Refund declined by the simulator (test value sim_fail).", declined},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.post(t, tc.body, tc.header...)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(res.body), &e); err != nil || len(e) != 1 || e["message"] == "" {
				t.Fatalf("not Payop's error shape: %s", res.body)
			}
			if msg, _ := e["message"].(string); tc.message != "" && msg != tc.message {
				t.Fatalf("message %q, want %q", msg, tc.message)
			}
			if res.header.Get("identifier") != "" {
				t.Fatalf("an error names refund %s", res.header.Get("identifier"))
			}
			if got := s.Reload(tc.sale); got.RefundedAmount != 0 {
				t.Fatalf("a refused request refunded %d", got.RefundedAmount)
			}
		})
	}
	t.Run("MethodNotAllowed", func(t *testing.T) {
		res, err := http.Get(s.url + "/v1/refunds/create")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusMethodNotAllowed || strings.TrimSpace(string(b)) != `{"message":"Method not allowed"}` {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
}

// Invariant 5: another merchant's transaction, by reference or by id,
// answers exactly like a missing one.
func TestTenancy(t *testing.T) {
	s := newServer(t)
	theirs := s.Sale(testenv.SaleSpec{Merchant: s.B, PayRefs: []string{"theirs-1"}})
	auth := "Authorization: Bearer " + s.KeyA
	for _, pair := range [][2]string{
		{"theirs-1", "missing-1"},
		{theirs.Transactions[0].ID, refundry.NewID()},
	} {
		got := s.post(t, `{"transactionIdentifier": "`+pair[0]+`", "refundType": 1}`, auth)
		missing := s.post(t, `{"transactionIdentifier": "`+pair[1]+`", "refundType": 1}`, auth)
		if got.status != missing.status || got.body != missing.body {
			t.Fatalf("another merchant's %s: %d %s; a missing one: %d %s", pair[0], got.status, got.body, missing.status, missing.body)
		}
	}
	if got := s.Reload(theirs); got.RefundedAmount != 0 {
		t.Fatalf("another merchant's sale refunded %d", got.RefundedAmount)
	}
}

// Invariant 7: no body a client sends makes the handler panic or answer
// 5xx.
func FuzzDecodeCreateRefund(f *testing.F) {
	env := testenv.New(f)
	h := payop.NewHandler(env.Engine, env.Logger)
	env.Sale(testenv.SaleSpec{Currency: "KWD", Units: []int64{1_000_000_000}, PayRefs: []string{seedRef}})
	f.Add(`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 2, "amount": 10, "metadata": {"internal merchant id": "example"}}`)
	f.Add(`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 2, "amount": 1.234}`)
	f.Add(`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 1, "amount": 1e-400}`)
	f.Add(`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": "2", "amount": "9223372036854775807"}`)
	f.Add(`{"transactionIdentifier": 12, "refundType": 2e0, "amount": 0.0001, "metadata": [null, {"a": 1e999}]}`)
	f.Add(`{"refundType": 1, "metadata": "\ud800"}`)
	f.Add("\xff{")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/refunds/create", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+env.KeyA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			if rec.Body.String() != `{"data": "", "status": 1}` || rec.Header().Get("identifier") == "" {
				t.Fatalf("body %q: success without the seed's answer: %s", body, rec.Body)
			}
			return
		}
		var e struct{ Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
			t.Fatalf("body %q: not Payop's shape: %d %s", body, rec.Code, rec.Body)
		}
	})
}
