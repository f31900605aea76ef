package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// returnSale makes a sale of 3 widgets at 10.00 (3.00 tax in all) and 2
// gadgets at 5.00.
func returnSale(t *testing.T, env *testenv.Env) *refundry.Sale {
	t.Helper()
	s := &refundry.Sale{MerchantID: env.A.ID, Currency: "USD", Reference: "RET-" + refundry.NewID(),
		LineItems: []*refundry.LineItem{
			{Name: "Widget", Quantity: 3, UnitAmount: 1000, TaxAmount: 300},
			{Name: "Gadget", Quantity: 2, UnitAmount: 500},
		},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}},
	}
	if _, err := env.Engine.CreateSale(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	return env.Reload(s)
}

var returnIDPattern = regexp.MustCompile(`id="return-([0-9a-v]{20})"`)

// TestReturns walks a return through the dashboard's forms: requested,
// received, refunded with a restocking fee; every refusal is shown on the
// sale page and changes nothing.
func TestReturns(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := returnSale(t, env)
	widget, gadget := sale.LineItems[0], sale.LineItems[1]
	b := h.browser(t)
	tok := b.signIn(env.KeyA)
	path := "/dashboard/sales/" + sale.ID

	_, body := b.get(path)
	mustContain(t, body, `id="returns"`, "No returns yet.", `id="ret-`+widget.ID+`"`, "(3 of 3 can come back)", `id="request-return"`)
	token := find(t, regexp.MustCompile(`name="token" value="([^"]+)"`), body)

	for _, bad := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"ret-" + widget.ID: {"4"}}, "Quantity 4 is more than line item"},
		{url.Values{"ret-" + widget.ID: {"1.5"}}, "must be a whole number of units"},
		{url.Values{}, "Enter how many units"},
	} {
		bad.form.Set("csrf", tok)
		status, body := b.post(path+"/returns", bad.form)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("%v: %d, want 422", bad.form, status)
		}
		mustContain(t, body, `id="return-error"`, bad.want)
	}

	form := url.Values{"csrf": {tok}, "token": {token}, "ret-" + widget.ID: {"2"}, "ret-" + gadget.ID: {"1"},
		"reason": {"damaged"}, "description": {"box crushed"}}
	status, body := b.post(path+"/returns", form)
	if status != http.StatusOK {
		t.Fatalf("request: %d\n%s", status, body)
	}
	id := find(t, returnIDPattern, body)
	mustContain(t, body, `id="return-notice"`, "requested", "2 × Widget", "1 × Gadget", "box crushed", `id="receive-`+id+`"`,
		"(1 of 3 can come back)")
	// The same form again (a double click) requests one return.
	b.post(path+"/returns", form)
	if list, _, _ := env.Engine.ListReturns(context.Background(), env.A.ID, refundry.ReturnFilter{SaleID: sale.ID}); len(list) != 1 {
		t.Fatalf("%d returns after a double submit", len(list))
	}

	status, body = b.post("/dashboard/returns/"+id+"/receive", url.Values{"csrf": {tok}})
	if status != http.StatusOK {
		t.Fatalf("receive: %d", status)
	}
	mustContain(t, body, "received", `id="fee-`+id+`"`, `id="refund-return-`+id+`"`)

	// 2 widgets with tax (2200) and a gadget (500): 27.00 in all.
	for _, fee := range []string{"27.01", "-1", "1.234", "abc"} {
		status, body := b.post("/dashboard/returns/"+id+"/refund", url.Values{"csrf": {tok}, "restocking_fee": {fee}})
		if status != http.StatusUnprocessableEntity {
			t.Errorf("fee %s: %d, want 422", fee, status)
		}
		mustContain(t, body, `id="return-error"`, `value="`+fee+`"`)
	}
	if got := env.Reload(sale); got.RefundedAmount != 0 {
		t.Fatalf("refused fees refunded %d", got.RefundedAmount)
	}
	status, body = b.post("/dashboard/returns/"+id+"/refund", url.Values{"csrf": {tok}, "restocking_fee": {"3.00"}})
	if status != http.StatusOK {
		t.Fatalf("refund: %d\n%s", status, body)
	}
	mustContain(t, body, "refunded: 24.00 USD to the customer, 3.00 USD kept as restocking fee.", `class="return-refund"`)
	ret, err := env.Engine.FindReturn(context.Background(), env.A.ID, id)
	if err != nil || ret.Status != refundry.ReturnRefunded || ret.RestockingFee != 300 || len(ret.RefundIDs) != 1 {
		t.Fatalf("return %+v %v", ret, err)
	}
	rf, err := env.Engine.FindRefund(context.Background(), env.A.ID, ret.RefundIDs[0])
	if err != nil || rf.Source != refundry.SourceDashboard || rf.Amount != 2700 || rf.Fee != 300 || rf.ReturnID != id {
		t.Fatalf("refund %+v %v", rf, err)
	}
	// Refunding again refunds nothing more.
	b.post("/dashboard/returns/"+id+"/refund", url.Values{"csrf": {tok}, "restocking_fee": {"0"}})
	if got := env.Reload(sale); got.RefundedAmount != 2700 {
		t.Fatalf("sale refunded %d, want 2700", got.RefundedAmount)
	}
	// A refunded return cannot be canceled; the refusal is shown.
	status, body = b.post("/dashboard/returns/"+id+"/cancel", url.Values{"csrf": {tok}})
	if status != http.StatusConflict {
		t.Fatalf("cancel refunded: %d", status)
	}
	mustContain(t, body, `id="return-error"`)
}

// A read key sees a sale's returns but no return form or button, and a
// return form it posts anyway is refused.
func TestReturnsReadOnly(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := returnSale(t, env)
	r := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: []refundry.ReturnLine{{LineItemID: sale.LineItems[0].ID, Quantity: 1}}}
	if _, err := env.Engine.CreateReturn(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	_, text, err := env.Engine.CreateAPIKey(context.Background(), env.A.ID, engine.KeySpec{Name: "read", Scope: refundry.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	b := h.browser(t)
	tok := b.signIn(text)
	_, body := b.get("/dashboard/sales/" + sale.ID)
	mustContain(t, body, `id="return-`+r.ID+`"`)
	for _, absent := range []string{`id="request-return"`, `id="receive-` + r.ID + `"`} {
		if regexp.MustCompile(regexp.QuoteMeta(absent)).MatchString(body) {
			t.Errorf("a read key's page has %s", absent)
		}
	}
	if status, _ := b.post("/dashboard/returns/"+r.ID+"/receive", url.Values{"csrf": {tok}}); status != http.StatusForbidden {
		t.Fatalf("read key receives: %d", status)
	}
	if got, _ := env.Engine.FindReturn(context.Background(), env.A.ID, r.ID); got.Status != refundry.ReturnRequested {
		t.Fatalf("status %s", got.Status)
	}
}
