package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// itemizedSale creates a USD sale of two widgets with tax (2 × 12.50 +
// 2.50 tax = 27.50), a gadget (10.00) and shipping (5.00): 42.50.
func (e *env) itemizedSale(key string) (sale response, widget, gadget, shipping string) {
	e.t.Helper()
	r := e.do("POST", "/v1/sales", key, `{"currency": "USD", "customer": {"email": "c@example.com"},
		"line_items": [
			{"name": "Widget", "quantity": 2, "unit_amount": 1250, "tax_amount": 250},
			{"name": "Gadget", "unit_amount": 1000},
			{"name": "Shipping", "kind": "shipping", "unit_amount": 500}],
		"payment": {"gateway": "simulator"}}`)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create sale: %d %s", r.status, r.raw)
	}
	li := lineItems(r)
	return r, li[0]["id"].(string), li[1]["id"].(string), li[2]["id"].(string)
}

// plainSale is a sale without shipping: one line of 10.00.
func (e *env) plainSale(key string) (sale response, line string) {
	e.t.Helper()
	r := e.sale(key, "pay", 1000)
	return r, lineItems(r)[0]["id"].(string)
}

func num(v any) int64 {
	n, _ := v.(json.Number)
	i, _ := n.Int64()
	return i
}

// lineView is what the wire shows of one line of a sale.
type lineView struct {
	kind                                                    string
	quantity, unit, tax, amount, refunded, refundedQty, rem int64
}

func viewLines(r response) []lineView {
	var out []lineView
	for _, l := range lineItems(r) {
		out = append(out, lineView{l["kind"].(string), num(l["quantity"]), num(l["unit_amount"]), num(l["tax_amount"]),
			num(l["amount"]), num(l["refunded_amount"]), num(l["refunded_quantity"]), num(l["refundable_amount"])})
	}
	return out
}

func TestSaleLinesOnTheWire(t *testing.T) {
	e := newEnv(t)
	s, _, _, _ := e.itemizedSale(e.keyA)
	if s.num("amount") != 4250 {
		t.Fatalf("sale amount %d, want 4250 (lines with tax): %s", s.num("amount"), s.raw)
	}
	want := []lineView{
		{"product", 2, 1250, 250, 2750, 0, 0, 2750},
		{"product", 1, 1000, 0, 1000, 0, 0, 1000},
		{"shipping", 1, 500, 0, 500, 0, 0, 500},
	}
	if got := viewLines(s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines\n got %v\nwant %v", got, want)
	}
	for _, bad := range []struct{ name, line, param string }{
		{"TaxNegative", `{"name": "x", "unit_amount": 100, "tax_amount": -1}`, "line_items[0].tax_amount"},
		{"TaxFractional", `{"name": "x", "unit_amount": 100, "tax_amount": 0.5}`, "line_items[0].tax_amount"},
		{"TaxString", `{"name": "x", "unit_amount": 100, "tax_amount": "1"}`, "line_items[0].tax_amount"},
		{"KindUnknown", `{"name": "x", "unit_amount": 100, "kind": "gift"}`, "line_items[0].kind"},
		{"KindNotText", `{"name": "x", "unit_amount": 100, "kind": 1}`, "line_items.kind"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			r := e.do("POST", "/v1/sales", e.keyA, `{"line_items": [`+bad.line+`], "payment": {"gateway": "simulator"}}`)
			if r.status != 400 || errParam(r) != bad.param {
				t.Fatalf("got %d %s, want 400 naming %s", r.status, r.raw, bad.param)
			}
		})
	}
}

func errParam(r response) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["param"].(string)
	return s
}

// TestRefundBadLines: each bad request is refused with a 4xx naming the
// field, and changes nothing (invariant 7).
func TestRefundBadLines(t *testing.T) {
	e := newEnv(t)
	s, widget, gadget, _ := e.itemizedSale(e.keyA)
	sale := s.str("id")
	plain, plainLine := e.plainSale(e.keyA)
	_, otherMerchantsLine := e.plainSale(e.keyB)
	for _, c := range []struct {
		name, body string
		status     int
		param      string
	}{
		{"QuantityZero", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": 0}]}`, 400, "lines[0].quantity"},
		{"QuantityNegative", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": -1}]}`, 400, "lines[0].quantity"},
		{"QuantityFractional", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": 1.5}]}`, 400, "lines[0].quantity"},
		{"QuantityString", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": "1"}]}`, 400, "lines[0].quantity"},
		{"QuantityMissing", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s"}]}`, 400, "lines[0].quantity"},
		{"QuantityAboveCount", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": 3}]}`, 400, "lines[0].quantity"},
		{"SecondQuantityAboveCount", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": 1}, {"line_item": "%[3]s", "quantity": 2}]}`, 400, "lines[1].quantity"},
		{"LineAmountZero", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "amount": 0}]}`, 400, "lines[0].amount"},
		{"LineMissing", `{"sale": "%[1]s", "lines": [{"quantity": 1}]}`, 400, "lines[0].line_item"},
		{"LineUnknownField", `{"sale": "%[1]s", "lines": [{"line_item": "%[2]s", "quantity": 1, "units": 1}]}`, 400, "lines[0].units"},
		{"LineOfAnotherSale", `{"sale": "%[1]s", "lines": [{"line_item": "%[4]s", "quantity": 1}]}`, 0, "lines[0].line_item"},
		{"ImpliedSaleThenAnother", `{"lines": [{"line_item": "%[2]s", "quantity": 1}, {"line_item": "%[4]s", "quantity": 1}]}`, 0, "lines[1].line_item"},
		{"LineOfAnotherMerchant", `{"lines": [{"line_item": "%[5]s", "quantity": 1}]}`, 404, "lines[0].line_item"},
		{"LineNoID", `{"sale": "%[1]s", "lines": [{"line_item": "nope", "quantity": 1}]}`, 404, "lines[0].line_item"},
		{"ShippingText", `{"sale": "%[1]s", "shipping": "yes"}`, 400, "shipping"},
		{"ShippingTrueText", `{"sale": "%[1]s", "shipping": "true"}`, 400, "shipping"},
		{"ShippingFractional", `{"sale": "%[1]s", "shipping": 1.5}`, 400, "shipping"},
		{"ShippingNegative", `{"sale": "%[1]s", "shipping": -500}`, 400, "shipping"},
		{"ShippingZero", `{"sale": "%[1]s", "shipping": 0}`, 400, "shipping"},
		{"ShippingObject", `{"sale": "%[1]s", "shipping": {"all": true}}`, 400, "shipping"},
		{"ShippingAboveWhatRemains", `{"sale": "%[1]s", "shipping": 501}`, 400, "shipping"},
		{"ShippingWithoutSale", `{"shipping": true}`, 400, "sale"},
		{"ShippingOnSaleWithout", `{"sale": "%[6]s", "shipping": true}`, 0, "shipping"},
		{"LinesEmpty", `{"sale": "%[1]s", "lines": []}`, 400, "lines"},
		{"ShippingFalseAlone", `{"sale": "%[1]s", "shipping": false}`, 400, "shipping"},
		{"AmountWithLines", `{"sale": "%[1]s", "amount": 100, "lines": [{"line_item": "%[2]s", "quantity": 1}]}`, 400, "amount"},
		{"LinesWithLineItemTarget", `{"line_item": "%[2]s", "lines": [{"line_item": "%[2]s", "quantity": 1}]}`, 400, "lines"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if strings.Contains(body, "%") {
				body = fmt.Sprintf(body, sale, widget, gadget, plainLine, otherMerchantsLine, plain.str("id"))
			}
			r := e.do("POST", "/v1/refunds", e.keyA, body)
			if (c.status != 0 && r.status != c.status) || r.status < 400 || r.status > 499 || errParam(r) != c.param {
				t.Fatalf("%s: got %d %s, want %d naming %s", body, r.status, r.raw, c.status, c.param)
			}
		})
	}
	for _, id := range []string{sale, plain.str("id")} {
		after := e.do("GET", "/v1/sales/"+id, e.keyA, "")
		if after.num("refunded_amount") != 0 {
			t.Errorf("a refused request changed sale %s: %s", id, after.raw)
		}
		for _, l := range viewLines(after) {
			if l.refunded != 0 || l.refundedQty != 0 || l.rem != l.amount {
				t.Errorf("a refused request changed a line: %+v", l)
			}
		}
	}
	if list := e.do("GET", "/v1/refunds", e.keyA, ""); len(objects(list.body["data"])) != 0 {
		t.Errorf("refused requests made refunds: %s", list.raw)
	}
	storetest.CheckInvariants(t, e.store, e.merchA.ID)
}

// TestRefundByQuantityAndShipping refunds one of two widgets and the
// shipping, then part of the sale at sale level, and reads the lines'
// remains after each: the sale-level refund lowers them too.
func TestRefundByQuantityAndShipping(t *testing.T) {
	e := newEnv(t)
	s, widget, gadget, shipping := e.itemizedSale(e.keyA)
	sale := s.str("id")

	// The sale is the first line's: "sale" may be left out.
	r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"lines": [{"line_item": %q, "quantity": 1}], "shipping": true}`, widget))
	if r.status != 201 || r.str("sale") != sale || r.num("amount") != 1375+500 {
		t.Fatalf("refund one widget and the shipping: %d %s", r.status, r.raw)
	}
	if got := refundLines(r.body); got != fmt.Sprintf("%s:1:1375 %s:1:500", widget, shipping) {
		t.Errorf("refund lines %q", got)
	}
	fetched := e.do("GET", "/v1/refunds/"+r.str("id"), e.keyA, "")
	if refundLines(fetched.body) != refundLines(r.body) {
		t.Errorf("GET shows lines %q, POST answered %q", refundLines(fetched.body), refundLines(r.body))
	}
	after := e.do("GET", "/v1/sales/"+sale, e.keyA, "")
	want := []lineView{
		{"product", 2, 1250, 250, 2750, 1375, 1, 1375},
		{"product", 1, 1000, 0, 1000, 0, 0, 1000},
		{"shipping", 1, 500, 0, 500, 500, 1, 0},
	}
	if got := viewLines(after); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines after the refund\n got %v\nwant %v", got, want)
	}

	// Two more widgets than remain: refused, nothing changed.
	r = e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 2}]}`, sale, widget))
	if r.status != 400 || errParam(r) != "lines[0].quantity" {
		t.Fatalf("two widgets of one: %d %s", r.status, r.raw)
	}
	r = e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "shipping": true}`, sale))
	if r.status != 400 || errParam(r) != "shipping" {
		t.Fatalf("shipping again: %d %s", r.status, r.raw)
	}

	// 10.00 at sale level is spread over what remains on each line
	// (13.75 and 10.00), largest remainder first: 5.79 and 4.21.
	r = e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 1000}`, sale))
	if r.status != 201 {
		t.Fatalf("sale-level refund: %d %s", r.status, r.raw)
	}
	if got := refundLines(r.body); got != fmt.Sprintf("%s:0:579 %s:0:421", widget, gadget) {
		t.Errorf("sale-level refund lines %q", got)
	}
	after = e.do("GET", "/v1/sales/"+sale, e.keyA, "")
	var rems int64
	for _, l := range viewLines(after) {
		rems += l.rem
	}
	if rems != after.num("refundable_amount") || rems != 4250-1875-1000 {
		t.Errorf("lines' remains add up to %d; the sale's refundable_amount is %d: %s", rems, after.num("refundable_amount"), after.raw)
	}
	if got := viewLines(after); got[0].rem != 1375-579 || got[1].rem != 1000-421 || got[0].refundedQty != 1 {
		t.Errorf("lines after the sale-level refund: %+v", got)
	}

	// The gadget's one unit after the sale-level refund took 4.21 of it:
	// what is left, 5.79, never its whole 10.00. "shipping": false beside
	// lines asks for no shipping.
	r = e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"lines": [{"line_item": %q, "quantity": 1}], "shipping": false}`, gadget))
	if r.status != 201 || refundLines(r.body) != fmt.Sprintf("%s:1:579", gadget) {
		t.Fatalf("the gadget after the sale-level refund: %d %s", r.status, r.raw)
	}
	storetest.CheckInvariants(t, e.store, e.merchA.ID)
}

// refundLines writes a refund's lines as "line:quantity:amount ...".
func refundLines(body map[string]any) string {
	var out []string
	lines, _ := body["lines"].([]any)
	for _, l := range lines {
		m := l.(map[string]any)
		out = append(out, fmt.Sprintf("%s:%d:%d", m["line_item"], num(m["quantity"]), num(m["amount"])))
	}
	return strings.Join(out, " ")
}
