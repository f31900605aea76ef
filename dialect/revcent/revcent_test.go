package revcent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/dialect/revcent"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// seedFile is seed 002 as shared/seeds holds it: the schemas the tests
// validate against are read from it, not retyped.
const seedFile = "testdata/002_d4789aa314e7bb6e.txt"

// schemas are the seed's own: the request body, responses.200 and
// responses.default (APIStandardErrors).
type schemas struct {
	operation  map[string]any
	request    *jsonschema.Schema
	ok         *jsonschema.Schema
	failure    *jsonschema.Schema
	okProps    []string
	errorProps []string
}

var loadSchemas = sync.OnceValues(func() (*schemas, error) {
	f, err := os.Open(seedFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	op := doc.(map[string]any)
	pick := func(path ...string) map[string]any {
		v := any(op)
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v.(map[string]any)
	}
	s := &schemas{operation: op}
	c := jsonschema.NewCompiler()
	for _, r := range []struct {
		name   string
		schema map[string]any
		into   **jsonschema.Schema
	}{
		{"request.json", pick("requestBody", "content", "application/json", "schema"), &s.request},
		{"200.json", pick("responses", "200", "content", "application/json", "schema"), &s.ok},
		{"default.json", pick("responses", "default", "content", "application/json", "schema"), &s.failure},
	} {
		if err := c.AddResource(r.name, r.schema); err != nil {
			return nil, err
		}
		if *r.into, err = c.Compile(r.name); err != nil {
			return nil, err
		}
	}
	s.okProps = slices.Sorted(maps.Keys(pick("responses", "200", "content", "application/json", "schema", "properties")))
	s.errorProps = slices.Sorted(maps.Keys(pick("responses", "default", "content", "application/json", "schema", "properties")))
	return s, nil
})

func seedSchemas(t testing.TB) *schemas {
	t.Helper()
	s, err := loadSchemas()
	if err != nil {
		t.Fatalf("read the seed's schemas from %s: %v", seedFile, err)
	}
	return s
}

// server is a live RevCent dialect over a real engine and SQLite store.
type server struct {
	*testenv.Env
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, revcent.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	return &server{Env: env, url: srv.URL}
}

type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any // numbers as json.Number
}

// do sends one request and checks the answer against the seed: a 200
// against responses.200, anything else against APIStandardErrors.
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
	return checkAnswer(t, res.StatusCode, res.Header, b)
}

func checkAnswer(t testing.TB, status int, header http.Header, b []byte) response {
	t.Helper()
	sch := seedSchemas(t)
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d: Content-Type %q, want application/json: %s", status, ct, b)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("status %d: answer is not JSON: %v: %s", status, err, b)
	}
	obj, _ := inst.(map[string]any)
	keys := slices.Sorted(maps.Keys(obj))
	if status == http.StatusOK {
		if err := sch.ok.Validate(inst); err != nil {
			t.Fatalf("200 answer breaks the seed's responses.200 schema: %v\n%s", err, b)
		}
		// The 200 schema does not forbid other properties; the contract
		// does ("exactly these properties").
		for _, k := range keys {
			if !slices.Contains(sch.okProps, k) {
				t.Fatalf("200 answer has property %q, not in the seed's schema: %s", k, b)
			}
		}
	} else {
		if err := sch.failure.Validate(inst); err != nil {
			t.Fatalf("%d answer breaks the seed's APIStandardErrors schema: %v\n%s", status, err, b)
		}
		if !slices.Equal(keys, sch.errorProps) {
			t.Fatalf("%d answer has properties %v, want exactly %v", status, keys, sch.errorProps)
		}
	}
	return response{status, header, string(b), obj}
}

// requestValid reports whether body passes the seed's request schema.
func requestValid(t testing.TB, body string) bool {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		return false
	}
	return seedSchemas(t).request.Validate(inst) == nil
}

func refundPath(id string) string { return "/v2/product_sales/" + id + "/refund" }

func (s *server) refunds(t *testing.T, sale *refundry.Sale) []*refundry.Refund {
	t.Helper()
	rs, _, err := s.Store.ListRefunds(context.Background(), sale.MerchantID, refundry.RefundFilter{Page: refundry.Page{Limit: 100}, SaleID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	}
	return ""
}

// TestSeedSample replays the seed's operation as it is written: its method
// and path (host swapped for the test server's), a JSON body valid against
// its request schema, first partial ("If partially refunding, provide the
// amount property") then without amount ("the product sale will be
// refunded entirely").
func TestSeedSample(t *testing.T) {
	s := newServer(t)
	sch := seedSchemas(t)
	sale := s.Sale(testenv.SaleSpec{Units: []int64{2500, 500}, Email: "ann@example.com", Campaign: [2]string{"cmp_spring_2026_0001", "Spring"}})
	li := sale.LineItems[0]

	if sch.operation["method"] != "POST" {
		t.Fatalf("seed method %v", sch.operation["method"])
	}
	path := strings.TrimPrefix(sch.operation["path"].(string), "https://api.revcent.com")
	path = strings.Replace(path, "{product_sale_id}", li.ID, 1)

	body := `{"amount": 12.5, "refunded_offsite": false}`
	if !requestValid(t, body) {
		t.Fatal("sample body breaks the seed's request schema")
	}
	res := s.do(t, "POST", path, body, "Content-Type: application/json", "X-API-Key: "+s.KeyA)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	want := map[string]string{
		"code": "1", "amount": "12.50", "campaign_id": "cmp_spring_2026_0001", "campaign_name": "Spring",
		"customer_id": sale.Customer.ID, "sale_id": sale.ID, "product_sale_id": li.ID, "result": "Product sale refunded",
	}
	for k, v := range want {
		if got := str(res.body[k]); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if pr, ok := res.body["pending_refund"].([]any); !ok || len(pr) != 0 {
		t.Errorf("pending_refund = %v, want []", res.body["pending_refund"])
	}
	if !strings.Contains(res.raw, `"pending_refund":[]`) {
		t.Errorf("pending_refund must be written as []: %s", res.raw)
	}
	if got := s.Reload(sale).LineItems[0].RefundedAmount; got != 1250 {
		t.Fatalf("line item refunded %d, want 1250", got)
	}

	body = `{}`
	if !requestValid(t, body) {
		t.Fatal("empty object breaks the seed's request schema")
	}
	res2 := s.do(t, "POST", path, body, "Content-Type: application/json", "Authorization: Bearer "+s.KeyA)
	if res2.status != http.StatusOK || str(res2.body["amount"]) != "12.50" {
		t.Fatalf("refund of the rest: %d %s", res2.status, res2.raw)
	}
	if res2.body["api_call_id"] == res.body["api_call_id"] {
		t.Fatalf("api_call_id repeated across calls: %v", res.body["api_call_id"])
	}
	rs := s.refunds(t, sale)
	if len(rs) != 2 || rs[0].Source != refundry.SourceRevCent || rs[0].LineItemID != li.ID {
		t.Fatalf("refunds: %+v", rs)
	}
}

func TestRefundNoCampaign(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	res := s.do(t, "POST", refundPath(sale.LineItems[1].ID), `{}`, "X-API-Key: "+s.KeyA)
	if res.status != http.StatusOK || str(res.body["amount"]) != "5.00" {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	for _, k := range []string{"campaign_id", "campaign_name"} {
		if _, ok := res.body[k]; ok {
			t.Errorf("%s present for a sale without campaign: %s", k, res.raw)
		}
	}
}

// TestRefundPending: a refund the gateway has not confirmed is listed in
// pending_refund; an offsite one never is, and no gateway hears of it.
func TestRefundPending(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_test"}})
	res := s.do(t, "POST", refundPath(sale.LineItems[0].ID), `{"amount": 2}`, "X-API-Key: "+s.KeyA)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	rs := s.refunds(t, sale)
	pr, _ := res.body["pending_refund"].([]any)
	if len(rs) != 1 || rs[0].Status != refundry.RefundPending || len(pr) != 1 || pr[0] != rs[0].ID {
		t.Fatalf("pending_refund %v, refunds %+v", pr, rs)
	}

	res = s.do(t, "POST", refundPath(sale.LineItems[0].ID), `{"amount": 3, "refunded_offsite": true}`, "X-API-Key: "+s.KeyA)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	if pr, _ := res.body["pending_refund"].([]any); len(pr) != 0 {
		t.Fatalf("offsite refund listed as pending: %s", res.raw)
	}
	rs = s.refunds(t, sale)
	if len(rs) != 2 || !rs[0].Offsite || rs[0].Status != refundry.RefundSucceeded || s.Sim.Moved(rs[0].ID) != 0 {
		t.Fatalf("offsite refund: %+v", rs[0])
	}
}

// TestMoneyExact: invariant 1 through the wire, in currencies with 0 and
// 3 decimals.
func TestMoneyExact(t *testing.T) {
	s := newServer(t)
	jpy := s.Sale(testenv.SaleSpec{Currency: "JPY", Units: []int64{4500, 1000}})
	kwd := s.Sale(testenv.SaleSpec{Currency: "KWD", Units: []int64{12345}})
	for _, c := range []struct {
		name, id, body, answer string
		minor                  int64
	}{
		{"JPY", jpy.LineItems[0].ID, `{"amount": 500}`, "500", 500},
		{"JPYTrailingZero", jpy.LineItems[0].ID, `{"amount": 500.0}`, "500", 500},
		{"JPYExponent", jpy.LineItems[0].ID, `{"amount": 1e2}`, "100", 100},
		{"KWD", kwd.LineItems[0].ID, `{"amount": 1.234}`, "1.234", 1234},
		{"KWDWhole", kwd.LineItems[0].ID, `{"amount": 2}`, "2.000", 2000},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !requestValid(t, c.body) {
				t.Fatal("body breaks the request schema")
			}
			res := s.do(t, "POST", refundPath(c.id), c.body, "X-API-Key: "+s.KeyA)
			if res.status != http.StatusOK || str(res.body["amount"]) != c.answer {
				t.Fatalf("%d %s, want amount %s", res.status, res.raw, c.answer)
			}
			if !strings.Contains(res.raw, `"amount":`+c.answer+`,`) {
				t.Fatalf("amount not written as the JSON number %s: %s", c.answer, res.raw)
			}
			sale := jpy
			if c.name[:3] == "KWD" {
				sale = kwd
			}
			if rs := s.refunds(t, sale); rs[0].Amount != c.minor {
				t.Fatalf("stored %d minor units, want %d", rs[0].Amount, c.minor)
			}
		})
	}
	for _, c := range []struct{ name, id, body string }{
		{"JPYDecimal", jpy.LineItems[0].ID, `{"amount": 500.5}`},
		{"KWDFourDecimals", kwd.LineItems[0].ID, `{"amount": 1.2345}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := s.do(t, "POST", refundPath(c.id), c.body, "X-API-Key: "+s.KeyA)
			if res.status != http.StatusUnprocessableEntity || res.body["error_code"] != "invalid_amount" {
				t.Fatalf("%d %s", res.status, res.raw)
			}
		})
	}
}

// TestErrors is every row of the contract's error list, each its own case,
// plus the HTTP-level faults. Bodies that the seed's request schema
// refuses must be refused as 400s; those it accepts must not be.
func TestErrors(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	li := sale.LineItems[0].ID
	done := s.Sale(testenv.SaleSpec{})
	if res := s.do(t, "POST", refundPath(done.LineItems[0].ID), `{}`, "X-API-Key: "+s.KeyA); res.status != http.StatusOK {
		t.Fatalf("setup: %d %s", res.status, res.raw)
	}
	declined := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_fail_test"}})
	key := "X-API-Key: " + s.KeyA
	missing := refundry.NewID()

	for _, c := range []struct {
		name, id, body string
		header         []string
		status         int
		code           string
	}{
		{"BadIDShort", li[:19], `{}`, []string{key}, 400, "invalid_product_sale_id"},
		{"BadIDLong", li + "x", `{}`, []string{key}, 400, "invalid_product_sale_id"},
		{"BadBodyEmpty", li, ``, []string{key}, 400, "invalid_body"},
		{"BadBodyNotJSON", li, `{"amount": 1`, []string{key}, 400, "invalid_body"},
		{"BadBodyArray", li, `[]`, []string{key}, 400, "invalid_body"},
		{"BadBodyNull", li, `null`, []string{key}, 400, "invalid_body"},
		{"BadBodyTwoObjects", li, `{} {}`, []string{key}, 400, "invalid_body"},
		{"BadBodyAmountString", li, `{"amount": "1.00"}`, []string{key}, 400, "invalid_property"},
		{"BadBodyAmountNull", li, `{"amount": null}`, []string{key}, 400, "invalid_property"},
		{"BadBodyOffsiteString", li, `{"refunded_offsite": "true"}`, []string{key}, 400, "invalid_property"},
		{"UnknownProperty", li, `{"amount": 1, "reason": "damaged"}`, []string{key}, 400, "unknown_property"},
		{"UnknownPropertyCase", li, `{"Amount": 1}`, []string{key}, 400, "unknown_property"},
		{"NoKey", li, `{}`, nil, 401, "invalid_api_key"},
		{"WrongKey", li, `{}`, []string{"X-API-Key: rfk_" + missing + "_secret"}, 401, "invalid_api_key"},
		{"WrongBearer", li, `{}`, []string{"Authorization: Bearer nonsense"}, 401, "invalid_api_key"},
		{"NotFound", missing, `{}`, []string{key}, 404, "product_sale_not_found"},
		{"NotFoundNotAnID", strings.Repeat("A", 20), `{}`, []string{key}, 404, "product_sale_not_found"},
		{"NotFoundSaleID", sale.ID, `{}`, []string{key}, 404, "product_sale_not_found"},
		{"AlreadyRefunded", done.LineItems[0].ID, `{}`, []string{key}, 409, "product_sale_already_refunded"},
		// With an amount too: nothing left is already refunded, not an
		// amount too large for a remainder of 0.00.
		{"AlreadyRefundedPartial", done.LineItems[0].ID, `{"amount": 1}`, []string{key}, 409, "product_sale_already_refunded"},
		{"AmountZero", li, `{"amount": 0}`, []string{key}, 422, "invalid_amount"},
		{"AmountNegative", li, `{"amount": -1}`, []string{key}, 422, "invalid_amount"},
		{"AmountTooManyDecimals", li, `{"amount": 1.001}`, []string{key}, 422, "invalid_amount"},
		{"AmountHuge", li, `{"amount": 1e300}`, []string{key}, 422, "invalid_amount"},
		{"AmountTooLarge", li, `{"amount": 12.51}`, []string{key}, 422, "amount_exceeds_refundable"},
		{"AmountAboveAnySale", li, `{"amount": 1e16}`, []string{key}, 422, "amount_exceeds_refundable"},
		{"GatewayRefused", declined.LineItems[0].ID, `{}`, []string{key}, 502, "gateway_refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.refunds(t, sale))
			res := s.do(t, "POST", refundPath(c.id), c.body, c.header...)
			if res.status != c.status || res.body["error_code"] != c.code {
				t.Fatalf("got %d %s, want %d %s", res.status, res.raw, c.status, c.code)
			}
			if str(res.body["code"]) != "0" || len(str(res.body["api_call_id"])) != 20 || str(res.body["message"]) == "" {
				t.Fatalf("error body: %s", res.raw)
			}
			bodyFault := c.status == 400 && c.code != "invalid_product_sale_id"
			if bodyFault == requestValid(t, c.body) {
				t.Fatalf("status %d, but the seed's request schema says valid=%v for %s", c.status, !bodyFault, c.body)
			}
			if after := len(s.refunds(t, sale)); after != before {
				t.Fatalf("a refused request made a refund (invariant 7)")
			}
		})
	}

	t.Run("MethodNotAllowed", func(t *testing.T) {
		res := s.do(t, "GET", refundPath(li), ``, key)
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "POST" {
			t.Fatalf("%d %v %s", res.status, res.header, res.raw)
		}
	})
	t.Run("BodyTooLarge", func(t *testing.T) {
		res := s.do(t, "POST", refundPath(li), `{"amount": 1`+strings.Repeat(" ", 70<<10)+`}`, key)
		if res.status != http.StatusRequestEntityTooLarge || res.body["error_code"] != "body_too_large" {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
	t.Run("BodyBrokenOff", func(t *testing.T) {
		req := httptest.NewRequest("POST", refundPath(li), io.MultiReader(strings.NewReader(`{"amount": 1`), iotest.ErrReader(io.ErrUnexpectedEOF)))
		req.Header.Set("X-API-Key", s.KeyA)
		rec := httptest.NewRecorder()
		revcent.NewHandler(s.Engine, s.Logger).ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error_code":"invalid_body"`) {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("IdempotencyKeyTooLong", func(t *testing.T) {
		res := s.do(t, "POST", refundPath(li), `{}`, key, "Idempotency-Key: "+strings.Repeat("k", 256))
		if res.status != http.StatusBadRequest || res.body["error_code"] != "invalid_idempotency_key" {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
	t.Run("GatewayRefusedRecorded", func(t *testing.T) {
		rs := s.refunds(t, declined)
		if len(rs) != 1 || rs[0].Status != refundry.RefundFailed {
			t.Fatalf("declined refund: %+v", rs)
		}
		if got := s.Reload(declined).RefundedAmount; got != 0 {
			t.Fatalf("a refused refund still counts %d against the sale", got)
		}
	})
}

// TestTenancy: invariant 5. Merchant B's product sale, asked for with A's
// key, answers exactly like an id that does not exist, and is untouched.
func TestTenancy(t *testing.T) {
	s := newServer(t)
	theirs := s.Sale(testenv.SaleSpec{Merchant: s.B})
	key := "X-API-Key: " + s.KeyA
	for _, body := range []string{`{}`, `{"amount": 1}`, `{"amount": 1.001}`} {
		other := s.do(t, "POST", refundPath(theirs.LineItems[0].ID), body, key)
		missing := s.do(t, "POST", refundPath(refundry.NewID()), body, key)
		if other.status != http.StatusNotFound {
			t.Fatalf("another merchant's product sale: %d %s", other.status, other.raw)
		}
		if other.status != missing.status || !sameError(other.body, missing.body) {
			t.Fatalf("another merchant's product sale\n  %s\nanswers unlike a missing one\n  %s", other.raw, missing.raw)
		}
	}
	if rs := s.refunds(t, theirs); len(rs) != 0 {
		t.Fatalf("B's sale was refunded through A's key: %+v", rs)
	}
}

// sameError compares two error answers but for what differs per call.
func sameError(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		m = maps.Clone(m)
		delete(m, "api_call_id")
		delete(m, "api_call_unix")
		return m
	}
	x, _ := json.Marshal(strip(a))
	y, _ := json.Marshal(strip(b))
	return bytes.Equal(x, y)
}

// TestIdempotency: invariant 4 holds on this edge too: a repeated
// Idempotency-Key returns the first refund and moves no money.
func TestIdempotency(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	path := refundPath(sale.LineItems[0].ID)
	first := s.do(t, "POST", path, `{"amount": 2.5}`, "X-API-Key: "+s.KeyA, "Idempotency-Key: k1")
	again := s.do(t, "POST", path, `{"amount": 2.5}`, "X-API-Key: "+s.KeyA, "Idempotency-Key: k1")
	if first.status != 200 || again.status != 200 || str(again.body["amount"]) != "2.50" {
		t.Fatalf("%d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	if rs := s.refunds(t, sale); len(rs) != 1 {
		t.Fatalf("%d refunds for one key", len(rs))
	}
	other := s.do(t, "POST", path, `{"amount": 3}`, "X-API-Key: "+s.KeyA, "Idempotency-Key: k1")
	if other.status != http.StatusUnprocessableEntity || other.body["error_code"] != "idempotency_key_reused" {
		t.Fatalf("key reused with another body: %d %s", other.status, other.raw)
	}
}

// TestNoOverRefund: invariant 2 through this edge, under concurrency:
// twenty clients each asking for 1.00 of a 12.50 line item get twelve
// refunds and eight refusals between them.
func TestNoOverRefund(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	path := refundPath(sale.LineItems[0].ID)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() { statuses[i] = s.do(t, "POST", path, `{"amount": 1}`, "X-API-Key: "+s.KeyA).status })
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		switch st {
		case 200:
			ok++
		case 409, 422:
		default:
			t.Fatalf("status %d", st)
		}
	}
	if ok != 12 || s.Reload(sale).LineItems[0].RefundedAmount != 1200 {
		t.Fatalf("%d refunds succeeded, line item refunded %d", ok, s.Reload(sale).LineItems[0].RefundedAmount)
	}
}
