package jetti_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/dialect/jetti"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// seedFile is seed 004 as shared/seeds holds it: the sample request and
// the model's fields are read from it, not retyped.
const seedFile = "testdata/004_0498c1b44face678.txt"

// seed is what the tests take from the seed: its curl sample and the
// Transaction of its 200 example.
type seed struct {
	method, url string
	header      []string
	body        string
	example     map[string]any
}

var loadSeed = sync.OnceValues(func() (*seed, error) {
	text, err := os.ReadFile(seedFile)
	if err != nil {
		return nil, err
	}
	s := &seed{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSuffix(strings.TrimSpace(sc.Text()), `\`)
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-X "):
			f := strings.Fields(line)
			s.method, s.url = f[1], f[2]
		case strings.HasPrefix(line, "-H "):
			s.header = append(s.header, strings.Trim(strings.TrimPrefix(line, "-H "), `"`))
		case strings.HasPrefix(line, "-d "):
			s.body = strings.Trim(strings.TrimPrefix(line, "-d "), `'`)
		}
	}
	_, example, ok := bytes.Cut(text, []byte("Response examples (200)"))
	if !ok || s.method == "" || s.body == "" {
		return nil, fmt.Errorf("no curl sample or 200 example in %s", seedFile)
	}
	dec := json.NewDecoder(bytes.NewReader(example))
	dec.UseNumber()
	if err := dec.Decode(&s.example); err != nil {
		return nil, err
	}
	return s, nil
})

func seedSample(t testing.TB) *seed {
	t.Helper()
	s, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nullable are the seed's fields typed "| null" plus those the contract
// decides are null off Stripe ("type", "stripeId", "stripeRefundId").
var nullable = []string{
	"baseAmount", "dropshipmentId", "fulfillmentId", "purchaseId", "purchaseInvoiceId", "purchasedAt",
	"returnShipmentId", "saleReturnId", "shippingIntegrationId", "shippingRateCacheId", "stripeId",
	"stripeRefundId", "transferId", "type",
}

// server is a live Jetti dialect over a real engine and SQLite store.
type server struct {
	*testenv.Env
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, jetti.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	return &server{Env: env, url: srv.URL}
}

type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any // numbers as json.Number
}

// do sends one request and checks the answer's shape: a 200 is the seed's
// Transaction, every field and no other; anything else is the contract's
// error shape.
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
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d: Content-Type %q: %s", status, ct, b)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("status %d: answer is not a JSON object: %v: %s", status, err, b)
	}
	if status == http.StatusOK {
		checkTransaction(t, seedSample(t).example, obj, b)
	} else {
		msg, ok := obj["message"].(string)
		if !ok || msg == "" {
			t.Fatalf("%d answer without message: %s", status, b)
		}
		for k, v := range obj {
			switch k {
			case "message":
			case "errors":
				fields, ok := v.(map[string]any)
				if !ok || len(fields) == 0 || status != http.StatusBadRequest {
					t.Fatalf("%d answer with errors %v: %s", status, v, b)
				}
				for f, list := range fields {
					if l, ok := list.([]any); !ok || len(l) == 0 {
						t.Fatalf("errors.%s is not a list of messages: %s", f, b)
					}
				}
			default:
				t.Fatalf("%d answer has property %q: %s", status, k, b)
			}
		}
	}
	return response{status, header, string(b), obj}
}

// checkTransaction fails unless got has exactly the seed example's fields,
// each of the example's JSON type or, where the model allows, null.
func checkTransaction(t testing.TB, example, got map[string]any, raw []byte) {
	t.Helper()
	if want, have := slices.Sorted(maps.Keys(example)), slices.Sorted(maps.Keys(got)); !slices.Equal(want, have) {
		t.Fatalf("transaction fields %v, want the seed's %v", have, want)
	}
	for k, ex := range example {
		v := got[k]
		if v == nil && slices.Contains(nullable, k) {
			continue
		}
		if fmt.Sprintf("%T", v) != fmt.Sprintf("%T", ex) {
			t.Fatalf("%s is %T (%v), the seed has %T: %s", k, v, v, ex, raw)
		}
	}
}

func refundPath(number int64) string { return fmt.Sprintf("/v1/transactions/%d/refund.json", number) }

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
	return fmt.Sprint(v)
}

func expect(t *testing.T, res response, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got := res.body[k]
		if v == nil {
			if got != nil {
				t.Errorf("%s = %v, want null", k, got)
			}
			continue
		}
		if str(got) != str(v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if t.Failed() {
		t.Fatalf("answer: %s", res.raw)
	}
}

// TestSeedSample replays the seed's curl sample exactly as written: PUT,
// its headers, its full Transaction body with "id": 42 and every
// read-only field filled in, at its /v1 base. "id": 42 names another
// transaction than the path and is ignored, as the contract decides.
func TestSeedSample(t *testing.T) {
	s := newServer(t)
	sd := seedSample(t)
	sale := s.Sale(testenv.SaleSpec{})
	txn := sale.Transactions[0]
	if txn.Number == 42 {
		t.Fatal("the test needs a transaction whose number is not the sample's 42")
	}
	path := strings.TrimPrefix(sd.url, "http://api.example.com")
	path = strings.Replace(path, "{id}", fmt.Sprint(txn.Number), 1)
	var header []string
	for _, h := range sd.header {
		header = append(header, strings.Replace(h, "$ACCESS_TOKEN", s.KeyA, 1))
	}
	res := s.do(t, sd.method, path, sd.body, header...)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	expect(t, res, map[string]any{
		"id": txn.Number, "amount": "17.50", "refundAmount": "17.50", "processingFee": "0.00",
		"name": "string", "externalId": "string", "createdSource": "manual", "source": "jetti",
		"status": "complete", "type": nil, "stripeId": nil, "stripeRefundId": nil, "baseAmount": nil,
		"dropshipmentId": nil, "transferId": nil, "purchaseId": nil,
	})
	if !strings.Contains(res.raw, `"refundAmount":17.50,`) {
		t.Fatalf("refundAmount not a JSON number: %s", res.raw)
	}
	for _, k := range []string{"createdAt", "updatedAt", "purchasedAt"} {
		if v := str(res.body[k]); len(v) != len("2024-05-04T09:42:00+00:00") || !strings.HasSuffix(v, "+00:00") {
			t.Errorf("%s = %q, not in the seed's form 2024-05-04T09:42:00+00:00", k, v)
		}
	}
	rs := s.refunds(t, sale)
	if len(rs) != 1 || rs[0].Amount != 1750 || rs[0].Source != refundry.SourceJetti || rs[0].Name != "string" ||
		rs[0].ExternalID != "string" || rs[0].CreatedSource != "manual" || rs[0].TransactionID != txn.ID {
		t.Fatalf("refund: %+v", rs)
	}
	if other, err := s.Store.FindSale(context.Background(), s.A.ID, refundry.SaleLookup{TransactionNumber: 42}); err == nil {
		t.Fatalf("transaction 42 exists and may have been touched: %+v", other)
	}
}

// TestPathWithoutV1: the contract decides the seed's heading path, without
// the curl sample's /v1, is the same endpoint.
func TestPathWithoutV1(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	res := s.do(t, "PUT", fmt.Sprintf("/transactions/%d/refund.json", sale.Transactions[0].Number),
		`{"refundAmount": 2}`, "Authorization: Bearer "+s.KeyA)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	expect(t, res, map[string]any{"refundAmount": "2.00", "status": "complete"})
}

// TestPartialWithFee: processingFee is recorded on the refund and kept
// from what goes back to the customer.
func TestPartialWithFee(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	path := refundPath(sale.Transactions[0].Number)
	res := s.do(t, "PUT", path, `{"refundAmount": 5, "processingFee": 0.5, "createdSource": "catchup", "externalId": "RMA-7"}`,
		"Authorization: Bearer "+s.KeyA)
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	expect(t, res, map[string]any{"refundAmount": "5.00", "processingFee": "0.50", "createdSource": "catchup", "externalId": "RMA-7", "name": ""})
	rs := s.refunds(t, sale)
	if len(rs) != 1 || rs[0].Amount != 500 || rs[0].Fee != 50 || rs[0].CreatedSource != "catchup" {
		t.Fatalf("refund: %+v", rs)
	}
	if moved := s.Sim.Moved(rs[0].ID); moved != 450 {
		t.Fatalf("the gateway returned %d, want 450 (500 less the 50 fee)", moved)
	}
	res = s.do(t, "PUT", path, `{"refundAmount": 1, "processingFee": 0.25}`, "Authorization: Bearer "+s.KeyA)
	expect(t, res, map[string]any{"refundAmount": "6.00", "processingFee": "0.75", "createdSource": "manual"})
}

// TestRepeatFullRefund: decided, PUT is idempotent: the full refund of a
// transaction refunded in full answers 200 with it unchanged.
func TestRepeatFullRefund(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	path := refundPath(sale.Transactions[0].Number)
	first := s.do(t, "PUT", path, `{"name": "first"}`, "Authorization: Bearer "+s.KeyA)
	if first.status != http.StatusOK {
		t.Fatalf("%d %s", first.status, first.raw)
	}
	for _, body := range []string{`{}`, `{"refundAmount": 0, "name": "again"}`, seedSample(t).body} {
		again := s.do(t, "PUT", path, body, "Authorization: Bearer "+s.KeyA)
		if again.status != http.StatusOK || again.raw != first.raw {
			t.Fatalf("repeat with %s:\n  %d %s\nwant\n  %s", body, again.status, again.raw, first.raw)
		}
	}
	if rs := s.refunds(t, sale); len(rs) != 1 {
		t.Fatalf("%d refunds after repeats", len(rs))
	}
	// A partial refund asks for money that is not there: no silent 200.
	res := s.do(t, "PUT", path, `{"refundAmount": 1}`, "Authorization: Bearer "+s.KeyA)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("partial refund of a refunded transaction: %d %s", res.status, res.raw)
	}
}

// TestMoneyExact: invariant 1 through the wire, in currencies with 0 and
// 3 decimals.
func TestMoneyExact(t *testing.T) {
	s := newServer(t)
	jpy := s.Sale(testenv.SaleSpec{Currency: "JPY", Units: []int64{4500, 1000}})
	kwd := s.Sale(testenv.SaleSpec{Currency: "KWD", Units: []int64{12345}})
	key := "Authorization: Bearer " + s.KeyA
	t.Run("JPY", func(t *testing.T) {
		res := s.do(t, "PUT", refundPath(jpy.Transactions[0].Number), `{"refundAmount": 500, "processingFee": 10}`, key)
		expect(t, res, map[string]any{"amount": "5500", "refundAmount": "500", "processingFee": "10"})
		if !strings.Contains(res.raw, `"refundAmount":500,`) {
			t.Fatalf("not the JSON number 500: %s", res.raw)
		}
		if rs := s.refunds(t, jpy); rs[0].Amount != 500 || rs[0].Fee != 10 {
			t.Fatalf("stored %+v", rs[0])
		}
	})
	t.Run("KWD", func(t *testing.T) {
		res := s.do(t, "PUT", refundPath(kwd.Transactions[0].Number), `{"refundAmount": 1.234}`, key)
		expect(t, res, map[string]any{"amount": "12.345", "refundAmount": "1.234", "processingFee": "0.000"})
		if rs := s.refunds(t, kwd); rs[0].Amount != 1234 {
			t.Fatalf("stored %+v", rs[0])
		}
	})
	for _, c := range []struct {
		name, body, field string
		sale              *refundry.Sale
	}{
		{"JPYDecimal", `{"refundAmount": 500.5}`, "refundAmount", jpy},
		{"JPYFeeDecimal", `{"refundAmount": 500, "processingFee": 0.5}`, "processingFee", jpy},
		{"KWDFourDecimals", `{"refundAmount": 1.2345}`, "refundAmount", kwd},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.refunds(t, c.sale))
			res := s.do(t, "PUT", refundPath(c.sale.Transactions[0].Number), c.body, key)
			if res.status != http.StatusBadRequest || res.body["errors"].(map[string]any)[c.field] == nil {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			if len(s.refunds(t, c.sale)) != before {
				t.Fatal("a refused request made a refund")
			}
		})
	}
}

// TestStatus: the answer's status is the latest refund's, in the seed's
// words.
func TestStatus(t *testing.T) {
	s := newServer(t)
	key := "Authorization: Bearer " + s.KeyA
	t.Run("Pending", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_a"}})
		res := s.do(t, "PUT", refundPath(sale.Transactions[0].Number), `{"refundAmount": 1}`, key)
		expect(t, res, map[string]any{"status": "pending", "refundAmount": "1.00"})
	})
	t.Run("Cancelled", func(t *testing.T) {
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_b"}})
		path := refundPath(sale.Transactions[0].Number)
		res := s.do(t, "PUT", path, `{"refundAmount": 1}`, key, "Idempotency-Key: c1")
		expect(t, res, map[string]any{"status": "pending"})
		rs := s.refunds(t, sale)
		if _, err := s.Engine.Cancel(context.Background(), s.A.ID, rs[0].ID); err != nil {
			t.Fatal(err)
		}
		res = s.do(t, "PUT", path, `{"refundAmount": 1}`, key, "Idempotency-Key: c1")
		expect(t, res, map[string]any{"status": "cancelled", "refundAmount": "0.00"})
	})
	t.Run("Stripe", func(t *testing.T) {
		s.Engine.Gateways[refundry.GatewayStripe] = fakeStripe{}
		sale := &refundry.Sale{MerchantID: s.A.ID, Currency: "USD",
			LineItems:    []*refundry.LineItem{{Name: "Lamp", Quantity: 1, UnitAmount: 4000}},
			Transactions: []*refundry.Transaction{{Gateway: refundry.GatewayStripe, GatewayChargeID: "ch_3MmlLrLkdIwHu7ix0snN0B15"}}}
		if _, err := s.Engine.CreateSale(context.Background(), sale, nil); err != nil {
			t.Fatal(err)
		}
		sale = s.Reload(sale)
		res := s.do(t, "PUT", refundPath(sale.Transactions[0].Number), `{"refundAmount": 10}`, key)
		rs := s.refunds(t, sale)
		expect(t, res, map[string]any{"status": "complete", "type": "stripe", "stripeId": "ch_3MmlLrLkdIwHu7ix0snN0B15",
			"stripeRefundId": "re_" + rs[0].ID})
	})
}

// fakeStripe stands in for Stripe, which these tests cannot reach: only
// the gateway's name and its refund id matter to this edge.
type fakeStripe struct{}

func (fakeStripe) Name() string { return refundry.GatewayStripe }

func (fakeStripe) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: "re_" + r.RefundID}, nil
}

func (fakeStripe) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "already refunded")
}

// TestErrors is every row of the contract's error list, each its own case,
// plus the HTTP-level faults.
func TestErrors(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	n := sale.Transactions[0].Number
	declined := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_fail_test"}})
	theirs := s.Sale(testenv.SaleSpec{Merchant: s.B})
	key := "Authorization: Bearer " + s.KeyA
	p := refundPath(n)
	for _, c := range []struct {
		name, path, body string
		header           []string
		status           int
		field            string // the field errors names; "" for no errors
	}{
		{"BadIDWord", "/v1/transactions/abc/refund.json", `{}`, []string{key}, 400, ""},
		{"BadIDZero", "/v1/transactions/0/refund.json", `{}`, []string{key}, 400, ""},
		{"BadIDNegative", "/v1/transactions/-1/refund.json", `{}`, []string{key}, 400, ""},
		{"BadIDDecimal", "/v1/transactions/1.5/refund.json", `{}`, []string{key}, 400, ""},
		{"BadIDSign", "/v1/transactions/+1/refund.json", `{}`, []string{key}, 400, ""},
		{"BadIDHuge", "/v1/transactions/99999999999999999999/refund.json", `{}`, []string{key}, 400, ""},
		{"BadBodyEmpty", p, ``, []string{key}, 400, ""},
		{"BadBodyNotJSON", p, `{"refundAmount": `, []string{key}, 400, ""},
		{"BadBodyArray", p, `[{}]`, []string{key}, 400, ""},
		{"BadBodyTwoObjects", p, `{}{}`, []string{key}, 400, ""},
		{"RefundAmountString", p, `{"refundAmount": "5"}`, []string{key}, 400, "refundAmount"},
		{"RefundAmountNegative", p, `{"refundAmount": -5}`, []string{key}, 400, "refundAmount"},
		{"RefundAmountTooManyDecimals", p, `{"refundAmount": 1.001}`, []string{key}, 400, "refundAmount"},
		{"ProcessingFeeNegative", p, `{"refundAmount": 5, "processingFee": -1}`, []string{key}, 400, "processingFee"},
		{"ProcessingFeeAboveRefund", p, `{"refundAmount": 5, "processingFee": 6}`, []string{key}, 400, "processingFee"},
		{"ProcessingFeeAboveFullRefund", p, `{"processingFee": 18}`, []string{key}, 400, "processingFee"},
		{"NameNumber", p, `{"name": 5}`, []string{key}, 400, "name"},
		{"NameNUL", p, `{"name": "a\u0000b"}`, []string{key}, 400, "name"},
		{"ExternalIDObject", p, `{"externalId": {}}`, []string{key}, 400, "externalId"},
		{"StatusOutsideEnum", p, `{"status": "done"}`, []string{key}, 400, "status"},
		{"SourceOutsideEnum", p, `{"source": "amazon"}`, []string{key}, 400, "source"},
		{"TypeOutsideEnum", p, `{"type": "paypal"}`, []string{key}, 400, "type"},
		{"TypeNumber", p, `{"type": 1}`, []string{key}, 400, "type"},
		{"CreatedSourceOutsideEnum", p, `{"createdSource": "auto"}`, []string{key}, 400, "createdSource"},
		{"UnknownField", p, `{"refund_amount": 5}`, []string{key}, 400, "refund_amount"},
		{"FieldNameCase", p, `{"RefundAmount": 5}`, []string{key}, 400, "RefundAmount"},
		{"NoToken", p, `{}`, nil, 401, ""},
		{"WrongToken", p, `{}`, []string{"Authorization: Bearer rfk_" + refundry.NewID() + "_x"}, 401, ""},
		{"TokenNotBearer", p, `{}`, []string{"X-API-Key: " + s.KeyA}, 401, ""},
		{"NotFound", refundPath(1 << 40), `{}`, []string{key}, 404, ""},
		{"NotFoundOtherMerchant", refundPath(theirs.Transactions[0].Number), `{}`, []string{key}, 404, ""},
		{"AmountLargerThanRemains", p, `{"refundAmount": 17.51}`, []string{key}, 422, ""},
		{"AmountAboveAnySale", p, `{"refundAmount": 1e16}`, []string{key}, 422, ""},
		{"GatewayRefused", refundPath(declined.Transactions[0].Number), `{}`, []string{key}, 502, ""},
		{"MethodNotAllowed", p, `{}`, []string{key}, 405, ""},
		{"BodyTooLarge", p, `{"name": "` + strings.Repeat("x", 70<<10) + `"}`, []string{key}, 413, ""},
		{"IdempotencyKeyTooLong", p, `{}`, []string{key, "Idempotency-Key: " + strings.Repeat("k", 256)}, 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := "PUT"
			if c.status == http.StatusMethodNotAllowed {
				method = "POST"
			}
			before := len(s.refunds(t, sale))
			res := s.do(t, method, c.path, c.body, c.header...)
			if res.status != c.status {
				t.Fatalf("got %d %s, want %d", res.status, res.raw, c.status)
			}
			errs, hasErrs := res.body["errors"].(map[string]any)
			if c.field == "" && hasErrs {
				t.Fatalf("errors on a fault that is not a field's: %s", res.raw)
			}
			if c.field != "" && (!hasErrs || errs[c.field] == nil) {
				t.Fatalf("errors does not name %s: %s", c.field, res.raw)
			}
			if after := len(s.refunds(t, sale)); after != before {
				t.Fatal("a refused request made a refund (invariant 7)")
			}
		})
	}
	t.Run("BodyBrokenOff", func(t *testing.T) {
		req := httptest.NewRequest("PUT", p, io.MultiReader(strings.NewReader(`{"refundAmount": 1`), iotest.ErrReader(io.ErrUnexpectedEOF)))
		req.Header.Set("Authorization", "Bearer "+s.KeyA)
		rec := httptest.NewRecorder()
		jetti.NewHandler(s.Engine, s.Logger).ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || strings.TrimSpace(rec.Body.String()) != `{"message":"Request body could not be read."}` {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("AllProblemsAtOnce", func(t *testing.T) {
		res := s.do(t, "PUT", p, `{"refundAmount": "x", "status": "done", "bogus": 1}`, key)
		errs, _ := res.body["errors"].(map[string]any)
		if res.status != 400 || len(errs) != 3 {
			t.Fatalf("%d %s", res.status, res.raw)
		}
	})
	t.Run("GatewayRefusedRecorded", func(t *testing.T) {
		rs := s.refunds(t, declined)
		if len(rs) != 1 || rs[0].Status != refundry.RefundFailed || s.Reload(declined).RefundedAmount != 0 {
			t.Fatalf("declined refund: %+v", rs)
		}
	})
	t.Run("ReadOnlyNullsAccepted", func(t *testing.T) {
		res := s.do(t, "PUT", p, `{"refundAmount": null, "processingFee": null, "type": null, "status": null, "id": "x", "stripeId": 5}`, key)
		expect(t, res, map[string]any{"refundAmount": "17.50", "status": "complete"})
	})
}

// TestTenancy: invariant 5. Merchant B's transaction, asked for with A's
// key, answers exactly like a number that does not exist, and is untouched.
func TestTenancy(t *testing.T) {
	s := newServer(t)
	theirs := s.Sale(testenv.SaleSpec{Merchant: s.B})
	key := "Authorization: Bearer " + s.KeyA
	for _, body := range []string{`{}`, `{"refundAmount": 1}`, `{"refundAmount": 1.001}`} {
		other := s.do(t, "PUT", refundPath(theirs.Transactions[0].Number), body, key)
		missing := s.do(t, "PUT", refundPath(1<<40), body, key)
		if other.status != http.StatusNotFound || other.status != missing.status || other.raw != missing.raw {
			t.Fatalf("another merchant's transaction\n  %d %s\nanswers unlike a missing one\n  %d %s", other.status, other.raw, missing.status, missing.raw)
		}
	}
	if rs := s.refunds(t, theirs); len(rs) != 0 {
		t.Fatalf("B's transaction was refunded through A's key: %+v", rs)
	}
}

// TestIdempotency: invariant 4. A partial refund repeated with the same
// Idempotency-Key is one refund; the key with another body is refused.
func TestIdempotency(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{})
	path := refundPath(sale.Transactions[0].Number)
	key := "Authorization: Bearer " + s.KeyA
	first := s.do(t, "PUT", path, `{"refundAmount": 2.5}`, key, "Idempotency-Key: k1")
	again := s.do(t, "PUT", path, `{"refundAmount": 2.5}`, key, "Idempotency-Key: k1")
	if first.status != 200 || again.raw != first.raw {
		t.Fatalf("%d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	if rs := s.refunds(t, sale); len(rs) != 1 {
		t.Fatalf("%d refunds for one key", len(rs))
	}
	other := s.do(t, "PUT", path, `{"refundAmount": 3}`, key, "Idempotency-Key: k1")
	if other.status != http.StatusUnprocessableEntity {
		t.Fatalf("key reused with another body: %d %s", other.status, other.raw)
	}
	// Without a key, the same partial refund is a second refund.
	s.do(t, "PUT", path, `{"refundAmount": 2.5}`, key)
	if rs := s.refunds(t, sale); len(rs) != 2 {
		t.Fatalf("%d refunds, want 2", len(rs))
	}
}
