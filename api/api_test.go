package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// env is a live native API over a real SQLite file, with two merchants.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	eng    *engine.Engine
	sim    *simulator.Gateway
	store  refundry.Store
	keyA   string
	keyB   string
	merchA *refundry.Merchant
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "refundry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := simulator.New()
	eng := engine.New(store, logger, sim)
	e := &env{t: t, eng: eng, sim: sim, store: store}
	e.merchA = &refundry.Merchant{Slug: "store-a", Name: "A", Currency: "USD"}
	if e.keyA, err = eng.CreateMerchant(ctx, e.merchA); err != nil {
		t.Fatal(err)
	}
	if e.keyB, err = eng.CreateMerchant(ctx, &refundry.Merchant{Slug: "store-b", Name: "B", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(edge.Observe(logger, api.NewHandler(eng, logger)))
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }
func (r response) num(k string) int64 {
	n, _ := r.body[k].(json.Number)
	v, _ := n.Int64()
	return v
}

func (e *env) do(method, path, key, body string, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out.body); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
	}
	if res.StatusCode == http.StatusInternalServerError {
		e.t.Errorf("%s %s answered %d: %s", method, path, res.StatusCode, raw)
	}
	return out
}

// sale creates a sale for merchant key with line items of the given unit
// amounts and one payment with the given reference.
func (e *env) sale(key, payRef string, units ...int64) response {
	e.t.Helper()
	var items []string
	for i, u := range units {
		items = append(items, fmt.Sprintf(`{"name": "item %d", "quantity": 1, "unit_amount": %d}`, i, u))
	}
	body := fmt.Sprintf(`{"currency": "USD", "customer": {"email": "c@example.com"},
		"line_items": [%s], "payment": {"gateway": "simulator", "reference": %q}}`, strings.Join(items, ","), payRef+"-"+refundry.NewID())
	r := e.do("POST", "/v1/sales", key, body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create sale: %d %s", r.status, r.raw)
	}
	return r
}

func lineItems(r response) []map[string]any { return objects(r.body["line_items"]) }
func transactions(r response) []map[string]any {
	return objects(r.body["transactions"])
}

func objects(v any) []map[string]any {
	var out []map[string]any
	for _, o := range v.([]any) {
		out = append(out, o.(map[string]any))
	}
	return out
}

func TestCreateSale(t *testing.T) {
	e := newEnv(t)
	t.Run("OK", func(t *testing.T) {
		r := e.sale(e.keyA, "pay-1", 1250, 500)
		if r.num("amount") != 1750 || r.num("refunded_amount") != 0 || r.str("status") != "paid" {
			t.Fatalf("sale = %s", r.raw)
		}
		if id := r.str("id"); len(id) != refundry.IDLength {
			t.Fatalf("id %q is not %d characters", id, refundry.IDLength)
		}
		txns := transactions(r)
		if len(txns) != 1 || txns[0]["amount"].(json.Number) != "1750" || txns[0]["number"].(json.Number) == "0" {
			t.Fatalf("transactions = %v", txns)
		}
		got := e.do("GET", "/v1/sales/"+r.str("id"), e.keyA, "")
		if got.status != 200 || got.str("id") != r.str("id") {
			t.Fatalf("get sale: %d %s", got.status, got.raw)
		}
	})
	for _, tc := range []struct {
		name, body, code, param string
		status                  int
	}{
		{"ErrUnknownParameter", `{"currency": "USD", "colour": "red", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 1}], "payment": {}}`, "parameter_unknown", "colour", 400},
		{"ErrFloatAmount", `{"currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 12.5}], "payment": {}}`, "parameter_invalid", "line_items[0].unit_amount", 400},
		{"ErrStringQuantity", `{"currency": "USD", "line_items": [{"name": "a", "quantity": true, "unit_amount": 1}], "payment": {}}`, "parameter_invalid", "", 400},
		{"ErrUnknownCurrency", `{"currency": "XXY", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 1}], "payment": {}}`, "parameter_invalid", "currency", 400},
		{"ErrNoLineItems", `{"currency": "USD", "line_items": [], "payment": {}}`, "parameter_invalid", "line_items", 400},
		{"ErrPaymentsDoNotAddUp", `{"currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 100}], "payments": [{"amount": 60}, {"amount": 30}]}`, "parameter_invalid", "payments", 400},
		{"ErrMalformedJSON", `{"currency": `, "parameter_invalid", "", 400},
		{"ErrTwoObjects", `{} {}`, "parameter_invalid", "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/sales", e.keyA, tc.body)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if tc.param != "" {
				if p := r.body["error"].(map[string]any)["param"]; p != tc.param {
					t.Fatalf("param = %v, want %s", p, tc.param)
				}
			}
		})
	}
	t.Run("ErrBodyTooLarge", func(t *testing.T) {
		r := e.do("POST", "/v1/sales", e.keyA, `{"reference": "`+strings.Repeat("x", api.MaxBody)+`"}`)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("ErrNoKey", func(t *testing.T) {
		for _, key := range []string{"", "rfk_nonsense", "rfk_" + refundry.NewID() + "_wrongsecret"} {
			r := e.do("POST", "/v1/sales", key, `{}`)
			if r.status != 401 || r.errCode() != "authentication_required" {
				t.Fatalf("key %q: got %d %s", key, r.status, r.raw)
			}
			// The message says which fault it is: none sent, or unknown.
			want := refundry.MsgUnknownAPIKey
			if key == "" {
				want = refundry.MsgNoAPIKey
			}
			if msg, _ := r.body["error"].(map[string]any)["message"].(string); msg != want {
				t.Errorf("key %q: message %q, want %q", key, msg, want)
			}
		}
	})
}

// refundTest is one step of a refund story told through the API.
type refundTest struct {
	name   string
	body   string // %s is replaced by the target id
	status int
	code   string // error code, or the refund's status on success
}

func TestRefundRules(t *testing.T) {
	e := newEnv(t)
	for _, story := range []struct {
		name   string
		payRef string
		target string // sale, line_item or transaction
		steps  []refundTest
		// what the sale shows afterwards
		refunded int64
		status   string
	}{
		{"Full", "pay", "sale", []refundTest{
			{"all", `{"sale": "%s"}`, 201, "succeeded"},
			{"again", `{"sale": "%s"}`, 400, "already_refunded"},
		}, 1750, "refunded"},
		{"SeveralPartialsThenOneCentMore", "pay", "sale", []refundTest{
			{"first", `{"sale": "%s", "amount": 1000}`, 201, "succeeded"},
			{"second", `{"sale": "%s", "amount": 700}`, 201, "succeeded"},
			{"centTooMany", `{"sale": "%s", "amount": 51}`, 400, "amount_too_large"},
			{"rest", `{"sale": "%s", "amount": 50}`, 201, "succeeded"},
			// Nothing left: already refunded, though an amount is named.
			{"oneMore", `{"sale": "%s", "amount": 1}`, 400, "already_refunded"},
		}, 1750, "refunded"},
		{"LineItemCapped", "pay", "line_item", []refundTest{
			{"part", `{"line_item": "%s", "amount": 250}`, 201, "succeeded"},
			{"tooMuch", `{"line_item": "%s", "amount": 1001}`, 400, "amount_too_large"},
			{"rest", `{"line_item": "%s"}`, 201, "succeeded"},
		}, 1250, "partially_refunded"},
		{"Transaction", "pay", "transaction", []refundTest{
			{"part", `{"transaction": "%s", "amount": 1}`, 201, "succeeded"},
		}, 1, "partially_refunded"},
		{"Offsite", "sim_fail_but_offsite", "sale", []refundTest{
			{"offsite", `{"sale": "%s", "amount": 300, "offsite": true}`, 201, "succeeded"},
		}, 300, "partially_refunded"},
		{"FailedGatewayReleases", "sim_fail_demo", "sale", []refundTest{
			{"declined", `{"sale": "%s", "amount": 300}`, 201, "failed"},
			{"declinedAll", `{"sale": "%s"}`, 201, "failed"},
		}, 0, "paid"},
		{"BadAmounts", "pay", "sale", []refundTest{
			{"zero", `{"sale": "%s", "amount": 0}`, 400, "invalid_amount"},
			{"negative", `{"sale": "%s", "amount": -5}`, 400, "invalid_amount"},
			{"decimal", `{"sale": "%s", "amount": 10.5}`, 400, "invalid_amount"},
			{"string", `{"sale": "%s", "amount": "ten"}`, 400, "parameter_invalid"},
			{"huge", `{"sale": "%s", "amount": 99999999999999999999999}`, 400, "invalid_amount"},
			{"metadataNotObject", `{"sale": "%s", "metadata": [1]}`, 400, "parameter_invalid"},
			{"twoTargets", `{"sale": "%s", "transaction": "%[1]s"}`, 400, "parameter_invalid"},
		}, 0, "paid"},
	} {
		t.Run(story.name, func(t *testing.T) {
			s := e.sale(e.keyA, story.payRef, 1250, 500)
			target := s.str("id")
			switch story.target {
			case "line_item":
				target = lineItems(s)[0]["id"].(string)
			case "transaction":
				target = transactions(s)[0]["id"].(string)
			}
			for _, step := range story.steps {
				r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(step.body, target))
				got := r.errCode()
				if r.status == 201 {
					got = r.str("status")
				}
				if r.status != step.status || got != step.code {
					t.Fatalf("%s: got %d %s, want %d %s", step.name, r.status, r.raw, step.status, step.code)
				}
			}
			after := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, "")
			if after.num("refunded_amount") != story.refunded || after.str("status") != story.status {
				t.Fatalf("sale after: refunded %d %s, want %d %s", after.num("refunded_amount"), after.str("status"), story.refunded, story.status)
			}
			storetest.CheckInvariants(t, e.store, e.merchA.ID)
		})
	}
}

// "target" reads an id or a reference as a refund batch's row is read
// (refundry refund sends each CSV row so), and refunds what it names.
func TestRefundByTarget(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name   string
		target func(s response) string
		status int
		code   string // the refund's status, or the error code
		param  string
		txn    bool // refunds the transaction rather than the sale
	}{
		{"SaleID", func(s response) string { return s.str("id") }, 201, "succeeded", "", false},
		{"LineItemID", func(s response) string { return lineItems(s)[0]["id"].(string) }, 201, "succeeded", "", false},
		{"TransactionID", func(s response) string { return transactions(s)[0]["id"].(string) }, 201, "succeeded", "", true},
		{"PaymentReference", func(s response) string { return transactions(s)[0]["reference"].(string) }, 201, "succeeded", "", true},
		{"ErrNothingMatches", func(response) string { return "no-such-thing" }, 404, "resource_missing", "target", false},
		{"ErrIDOfNothing", func(response) string { return refundry.NewID() }, 404, "resource_missing", "target", false},
		{"ErrTooLong", func(response) string { return strings.Repeat("x", 501) }, 400, "parameter_invalid", "target", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := e.sale(e.keyA, "pay", 1250, 500)
			r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"target": %q, "amount": 100}`, tt.target(s)))
			got := r.errCode()
			if r.status == 201 {
				got = r.str("status")
			}
			if r.status != tt.status || got != tt.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if r.status != 201 {
				if p, _ := r.body["error"].(map[string]any)["param"].(string); p != tt.param {
					t.Errorf("param = %q, want %q", p, tt.param)
				}
				if after := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); after.num("refunded_amount") != 0 {
					t.Errorf("a refused request refunded %d", after.num("refunded_amount"))
				}
				return
			}
			if r.str("sale") != s.str("id") || r.num("amount") != 100 {
				t.Errorf("refund = %s", r.raw)
			}
			if tt.txn && r.str("transaction") != transactions(s)[0]["id"].(string) {
				t.Errorf("refund of %s = %s", tt.name, r.raw)
			}
		})
	}

	// Invariant 4: a retry with the same key replays the refund, though
	// the target is a line item, found only after a try as a sale.
	t.Run("IdempotentReplay", func(t *testing.T) {
		s := e.sale(e.keyA, "pay", 1000, 500)
		body := fmt.Sprintf(`{"target": %q, "amount": 300}`, lineItems(s)[1]["id"])
		first := e.do("POST", "/v1/refunds", e.keyA, body, "Idempotency-Key", "target-retry-"+s.str("id"))
		again := e.do("POST", "/v1/refunds", e.keyA, body, "Idempotency-Key", "target-retry-"+s.str("id"))
		if first.status != 201 || again.status != 201 || again.str("id") != first.str("id") || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("first %d %s\nagain %d %s", first.status, first.raw, again.status, again.raw)
		}
		if after := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); after.num("refunded_amount") != 300 {
			t.Fatalf("refunded %d after a replay, want 300", after.num("refunded_amount"))
		}
	})

	t.Run("ErrWithAnotherTarget", func(t *testing.T) {
		s := e.sale(e.keyA, "pay", 1000)
		r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"target": %q, "sale": %[1]q}`, s.str("id")))
		if r.status != 400 || r.errCode() != "parameter_invalid" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})

	t.Run("ErrOtherMerchant", func(t *testing.T) {
		s := e.sale(e.keyB, "pay", 1000)
		for _, target := range []string{s.str("id"), transactions(s)[0]["reference"].(string)} {
			if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"target": %q}`, target)); r.status != 404 {
				t.Errorf("another merchant's %s: %d %s", target, r.status, r.raw)
			}
		}
	})
	storetest.CheckInvariants(t, e.store, e.merchA.ID)
}

func TestRefundMetadataAndFields(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "pay", 1000)
	r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 400, "reason": "damaged", "metadata": {"ticket": "T-9", "n": 3}}`, s.str("id")))
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	for k, want := range map[string]string{"currency": "USD", "reason": "damaged", "sale": s.str("id"), "transaction": transactions(s)[0]["id"].(string), "source": "native", "object": "refund"} {
		if r.str(k) != want {
			t.Errorf("%s = %q, want %q", k, r.str(k), want)
		}
	}
	if r.body["line_item"] != nil || r.num("created") == 0 || r.num("amount") != 400 {
		t.Errorf("refund = %s", r.raw)
	}
	md := r.body["metadata"].(map[string]any)
	if md["ticket"] != "T-9" || md["n"] != json.Number("3") {
		t.Errorf("metadata = %v", md)
	}
	got := e.do("GET", "/v1/refunds/"+r.str("id"), e.keyA, "")
	if got.raw != r.raw {
		t.Errorf("GET answers\n%s\nPOST answered\n%s", got.raw, r.raw)
	}
}

func TestSaleOverSeveralTransactions(t *testing.T) {
	e := newEnv(t)
	s := e.do("POST", "/v1/sales", e.keyA, `{"currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 1000}],
		"payments": [{"reference": "p1", "amount": 600}, {"reference": "p2", "amount": 400}]}`)
	if s.status != 201 || len(transactions(s)) != 2 {
		t.Fatalf("%d %s", s.status, s.raw)
	}
	r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 800}`, s.str("id")))
	if r.status != 201 || r.num("amount") != 600 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	related := r.body["related"].([]any)
	if len(related) != 1 {
		t.Fatalf("related = %v", related)
	}
	group := e.do("GET", "/v1/refunds?group="+r.str("group"), e.keyA, "")
	data := objects(group.body["data"])
	var sum int64
	for _, d := range data {
		n, _ := d["amount"].(json.Number).Int64()
		sum += n
	}
	if len(data) != 2 || sum != 800 {
		t.Fatalf("group = %s", group.raw)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "sim_pending", 1000)
	r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 400}`, s.str("id")))
	if r.status != 201 || r.str("status") != "pending" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if sale := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); sale.num("refunded_amount") != 400 {
		t.Fatalf("a pending refund must hold its amount: %s", sale.raw)
	}
	c := e.do("POST", "/v1/refunds/"+r.str("id")+"/cancel", e.keyA, "")
	if c.status != 200 || c.str("status") != "canceled" {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	if again := e.do("POST", "/v1/refunds/"+r.str("id")+"/cancel", e.keyA, ""); again.status != 200 || again.str("status") != "canceled" {
		t.Fatalf("cancel again: %d %s", again.status, again.raw)
	}
	if sale := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); sale.num("refunded_amount") != 0 || sale.str("status") != "paid" {
		t.Fatalf("cancel must release the amount: %s", sale.raw)
	}
	done := e.sale(e.keyA, "pay", 1000)
	ok := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, done.str("id")))
	if c := e.do("POST", "/v1/refunds/"+ok.str("id")+"/cancel", e.keyA, ""); c.status != 409 {
		t.Fatalf("cancel of a succeeded refund: %d %s", c.status, c.raw)
	}
}

func TestPendingSettlesThroughRecovery(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "sim_pending", 1000)
	r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, s.str("id")))
	if r.str("status") != "pending" {
		t.Fatalf("%s", r.raw)
	}
	if !e.sim.Settle(r.str("id"), refundry.RefundFailed) {
		t.Fatal("simulator did not hold the refund")
	}
	// An hour on: past the backoff set when the gateway answered pending.
	n, err := e.eng.Recover(context.Background(), e.eng.Now().Add(time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	got := e.do("GET", "/v1/refunds/"+r.str("id"), e.keyA, "")
	if got.str("status") != "failed" {
		t.Fatalf("%s", got.raw)
	}
	if sale := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); sale.num("refunded_amount") != 0 {
		t.Fatalf("failed refund must release its amount: %s", sale.raw)
	}
}

// Invariant 4: a repeated Idempotency-Key replays and moves no money.
func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "pay", 1000)
	body := fmt.Sprintf(`{"sale": %q, "amount": 300}`, s.str("id"))
	first := e.do("POST", "/v1/refunds", e.keyA, body, "Idempotency-Key", "k-1")
	second := e.do("POST", "/v1/refunds", e.keyA, body, "Idempotency-Key", "k-1")
	if first.status != 201 || second.status != 201 || first.str("id") != second.str("id") {
		t.Fatalf("first %s\nsecond %s", first.raw, second.raw)
	}
	if second.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay not marked")
	}
	if sale := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); sale.num("refunded_amount") != 300 {
		t.Fatalf("replay moved money: %s", sale.raw)
	}
	other := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 301}`, s.str("id")), "Idempotency-Key", "k-1")
	if other.status != 400 || other.errCode() != "idempotency_key_reused" {
		t.Fatalf("%d %s", other.status, other.raw)
	}
	// Keys are per merchant: B's same key is B's own.
	sb := e.sale(e.keyB, "pay", 1000)
	b := e.do("POST", "/v1/refunds", e.keyB, fmt.Sprintf(`{"sale": %q, "amount": 300}`, sb.str("id")), "Idempotency-Key", "k-1")
	if b.status != 201 || b.str("id") == first.str("id") {
		t.Fatalf("%d %s", b.status, b.raw)
	}
	// Concurrent requests with one key: exactly one refund.
	s2 := e.sale(e.keyA, "pay", 1000)
	body2 := fmt.Sprintf(`{"sale": %q, "amount": 10}`, s2.str("id"))
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Go(func() { ids[i] = e.do("POST", "/v1/refunds", e.keyA, body2, "Idempotency-Key", "k-race").str("id") })
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("ids = %v", ids)
		}
	}
	if sale := e.do("GET", "/v1/sales/"+s2.str("id"), e.keyA, ""); sale.num("refunded_amount") != 10 {
		t.Fatalf("concurrent replays moved money: %s", sale.raw)
	}
}

// Invariant 5: another merchant's objects answer exactly like missing ones.
func TestTenancy(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "pay", 1000)
	rf := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 100}`, s.str("id")))
	txn := transactions(s)[0]["id"].(string)
	li := lineItems(s)[0]["id"].(string)
	missing := refundry.NewID()
	for _, tc := range []struct{ name, method, path, body string }{
		{"Sale", "GET", "/v1/sales/%s", ""},
		{"Refund", "GET", "/v1/refunds/%s", ""},
		{"Cancel", "POST", "/v1/refunds/%s/cancel", ""},
		{"RefundSale", "POST", "/v1/refunds", `{"sale": "%s"}`},
		{"RefundTransaction", "POST", "/v1/refunds", `{"transaction": "%s"}`},
		{"RefundLineItem", "POST", "/v1/refunds", `{"line_item": "%s"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := map[string]string{"Sale": s.str("id"), "Refund": rf.str("id"), "Cancel": rf.str("id"),
				"RefundSale": s.str("id"), "RefundTransaction": txn, "RefundLineItem": li}[tc.name]
			fill := func(id string) (string, string) {
				if tc.body != "" {
					return tc.path, fmt.Sprintf(tc.body, id)
				}
				return fmt.Sprintf(tc.path, id), ""
			}
			path, body := fill(id)
			theirs := e.do(tc.method, path, e.keyB, body)
			path, body = fill(missing)
			none := e.do(tc.method, path, e.keyB, body)
			if theirs.status != 404 || theirs.errCode() != "resource_missing" {
				t.Fatalf("another merchant's: %d %s", theirs.status, theirs.raw)
			}
			if none.status != theirs.status || none.errCode() != theirs.errCode() ||
				strings.ReplaceAll(theirs.raw, id, missing) != none.raw {
				t.Fatalf("another merchant's object is told apart from a missing one:\n%s\n%s", theirs.raw, none.raw)
			}
		})
	}
	list := e.do("GET", "/v1/refunds", e.keyB, "")
	if len(objects(list.body["data"])) != 0 {
		t.Fatalf("B lists A's refunds: %s", list.raw)
	}
}

// Invariant 2 through the API: concurrent partial refunds never exceed what
// was paid, and the refunded sums equal the accepted refunds.
func TestConcurrentRefundsNeverOverRefund(t *testing.T) {
	for _, target := range []string{"transaction", "line_item"} {
		t.Run(target, func(t *testing.T) {
			e := newEnv(t)
			s := e.sale(e.keyA, "pay", 5000, 3000, 2000)
			var ids []string
			if target == "transaction" {
				ids = []string{transactions(s)[0]["id"].(string)}
			} else {
				for _, li := range lineItems(s) {
					ids = append(ids, li["id"].(string))
				}
			}
			const workers = 64
			var mu sync.Mutex
			accepted := int64(0)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for range 4 {
						amount := 1 + rng.Int64N(900)
						id := ids[rng.IntN(len(ids))]
						r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{%q: %q, "amount": %d}`, target, id, amount))
						switch {
						case r.status == 201:
							mu.Lock()
							accepted += r.num("amount")
							mu.Unlock()
						case r.errCode() != "amount_too_large" && r.errCode() != "already_refunded":
							t.Errorf("unexpected answer %d %s", r.status, r.raw)
						}
					}
				})
			}
			wg.Wait()
			after := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, "")
			if got := after.num("refunded_amount"); got != accepted || got > 10000 {
				t.Fatalf("sale refunded %d, accepted refunds add up to %d (paid 10000)", got, accepted)
			}
			if accepted == 0 {
				t.Fatal("no refund was accepted")
			}
			storetest.CheckInvariants(t, e.store, e.merchA.ID)
		})
	}
}

func TestListRefundsPagination(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "pay", 10000)
	var made []string
	for range 7 {
		r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 10}`, s.str("id")))
		made = append(made, r.str("id"))
	}
	var seen []string
	after := ""
	for page := 0; page < 10; page++ {
		q := "/v1/refunds?limit=3&sale=" + s.str("id")
		if after != "" {
			q += "&starting_after=" + after
		}
		r := e.do("GET", q, e.keyA, "")
		data := objects(r.body["data"])
		for _, d := range data {
			seen = append(seen, d["id"].(string))
		}
		if r.body["has_more"] != true {
			break
		}
		after = seen[len(seen)-1]
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d refunds, made 7: %v", len(seen), seen)
	}
	for i := range seen {
		if seen[i] != made[len(made)-1-i] {
			t.Fatalf("order: got %v, made %v (want newest first)", seen, made)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?colour=red", "?status=lost", "?starting_after=../../etc"} {
		if r := e.do("GET", "/v1/refunds"+q, e.keyA, ""); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "pay", 1000)
	e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, s.str("id")))
	r := e.do("GET", "/v1/events?type=refund.*", e.keyA, "")
	var types []string
	for _, ev := range objects(r.body["data"]) {
		types = append(types, ev["type"].(string))
		obj := ev["data"].(map[string]any)["object"].(map[string]any)
		if obj["object"] != "refund" || obj["sale"] != s.str("id") {
			t.Errorf("event data = %v", obj)
		}
	}
	if strings.Join(types, ",") != "refund.succeeded,refund.created" {
		t.Fatalf("refund events = %v", types)
	}
	all := e.do("GET", "/v1/events", e.keyA, "")
	if n := len(objects(all.body["data"])); n != 4 { // sale.created, refund.created, refund.succeeded, sale.refunded
		t.Fatalf("%d events: %s", n, all.raw)
	}
	if bad := e.do("GET", "/v1/events?type=refund.lost", e.keyA, ""); bad.status != 400 {
		t.Fatalf("%d", bad.status)
	}
}

func TestReferrals(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/v1/sales", e.keyA, `{"reference": "B00K2EOONI", "currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 3503}], "payment": {}}`)
	r := e.do("POST", "/v1/referrals", e.keyA, `{"origin": "B00K2EOONI", "campaign_id": 196, "offer_id": 867,
		"advocate": {"email": "customer@example.com"}, "friend": {"email": "friend@example.com"}, "track_method": "coupon", "status": "approved"}`)
	if r.status != 201 || r.num("id") == 0 || r.num("subtotal") != 3503 || r.str("status") != "approved" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	ev := e.do("POST", "/v1/referrals", e.keyA, `{"origin": "newsletter_subscription:42", "advocate": {"email": "a@example.com"}, "friend": {"email": "f@example.com"}}`)
	if ev.status != 201 {
		t.Fatalf("%d %s", ev.status, ev.raw)
	}
	missing := e.do("POST", "/v1/referrals", e.keyA, `{"origin": "NO-SUCH-ORDER", "advocate": {"email": "a@example.com"}, "friend": {"email": "f@example.com"}}`)
	if missing.status != 404 {
		t.Fatalf("%d %s", missing.status, missing.raw)
	}
	other := e.do("POST", "/v1/referrals", e.keyB, `{"origin": "B00K2EOONI", "advocate": {"email": "a@example.com"}, "friend": {"email": "f@example.com"}}`)
	if other.status != 404 {
		t.Fatalf("B sees A's order: %d %s", other.status, other.raw)
	}
}

func TestRequestIDInLogs(t *testing.T) {
	var buf syncWriter
	logger := slog.New(edge.LogHandler{Handler: slog.NewTextHandler(&buf, nil)})
	h := edge.Observe(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "inside the handler")
		w.WriteHeader(http.StatusNoContent)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	id := rec.Header().Get("Request-Id")
	if !regexp.MustCompile(`^req_[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("Request-Id = %q", id)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines: %q", lines)
	}
	access := regexp.MustCompile(`^time=\S+ level=INFO msg=request method=GET path=/x status=204 duration_ms=\d+ request_id=` + id + `$`)
	if !access.MatchString(lines[1]) {
		t.Errorf("access log line: %s", lines[1])
	}
	for _, l := range lines {
		if !strings.Contains(l, "request_id="+id) {
			t.Errorf("line without the request id: %s", l)
		}
	}
}

type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A refund naming several malformed ids is answered about the first of
// sale, line_item and transaction it names, every time.
// TestListMalformedIDsInOrder: a list with two malformed ids is always
// answered about the first in the parameters' fixed order.
func TestListMalformedIDsInOrder(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		path, param string
	}{
		{"/v1/disputes?transaction=bad!&sale=bad!", "transaction"},
		{"/v1/disputes?sale=bad!", "sale"},
		{"/v1/refunds?starting_after=bad!&ending_before=bad!", "starting_after"},
		{"/v1/refunds?ending_before=bad!", "ending_before"},
	} {
		for range 20 {
			r := e.do("GET", tt.path, e.keyA, "")
			er, _ := r.body["error"].(map[string]any)
			if r.status != http.StatusBadRequest || er["param"] != tt.param {
				t.Fatalf("%s: answered %d %s, want 400 about %s", tt.path, r.status, r.raw, tt.param)
			}
		}
	}
}

func TestRefundMalformedIDsInOrder(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		body, param string
	}{
		{`{"sale": "bad!", "line_item": "bad!", "transaction": "bad!"}`, "sale"},
		{`{"line_item": "bad!", "transaction": "bad!"}`, "line_item"},
		{`{"transaction": "bad!"}`, "transaction"},
	} {
		for range 10 {
			r := e.do("POST", "/v1/refunds", e.keyA, tt.body)
			er, _ := r.body["error"].(map[string]any)
			if r.status != http.StatusNotFound || er["param"] != tt.param {
				t.Fatalf("%s: answered %d %s, want 404 about %s", tt.body, r.status, r.raw, tt.param)
			}
		}
	}
}
