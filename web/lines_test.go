package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// widgetSale creates a USD sale of two widgets with tax (2 × 12.50 +
// 2.50 = 27.50), a gadget (10.00) and shipping (5.00).
func widgetSale(t *testing.T, env *testenv.Env, ref string) *refundry.Sale {
	t.Helper()
	s := &refundry.Sale{MerchantID: env.A.ID, Reference: ref, Currency: "USD",
		Customer: refundry.Customer{Email: "ann@example.com"},
		LineItems: []*refundry.LineItem{
			{Name: "Widget", Quantity: 2, UnitAmount: 1250, TaxAmount: 250},
			{Name: "Gadget", Quantity: 1, UnitAmount: 1000},
			{Name: "Shipping", Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 500},
		},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}}}
	if _, err := env.Engine.CreateSale(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	return env.Reload(s)
}

// cell is the text of one cell of a line's row on the sale page.
func cell(t *testing.T, body, lineID, class string) string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr id="line-` + lineID + `">(.*?)</tr>`).FindStringSubmatch(body)
	if row == nil {
		t.Fatalf("no row for line %s", lineID)
	}
	m := regexp.MustCompile(`class="num ` + class + `">([^<]*)<`).FindStringSubmatch(row[1])
	if m == nil {
		t.Fatalf("no %s cell in the row of line %s: %s", class, lineID, row[1])
	}
	return m[1]
}

// TestSaleLinesRemainAfterSaleRefund: a sale-level refund lowers the
// lines' Remains column (the allocation), and the form refunds units and
// shipping through its review and confirmation.
func TestSaleLinesRemainAfterSaleRefund(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := widgetSale(t, env, "ORDER-LINES")
	widget, gadget, shipping := sale.LineItems[0], sale.LineItems[1], sale.LineItems[2]
	b := h.browser(t)
	tok := b.signIn(env.KeyA)

	_, body := b.get("/dashboard/sales/" + sale.ID)
	if got := cell(t, body, widget.ID, "tax"); got != "2.50 USD" {
		t.Errorf("widget tax %q", got)
	}
	mustContain(t, body, `id="qty-`+widget.ID+`"`, `max="2"`, `id="shipping"`, "The shipping (5.00 USD remains)")

	// 8.50 at sale level over 27.50, 10.00 and 5.00: 5.50, 2.00, 1.00.
	amount := int64(850)
	if _, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.A.ID,
		Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	_, body = b.get("/dashboard/sales/" + sale.ID)
	for _, c := range []struct {
		line      *refundry.LineItem
		remaining string
	}{{widget, "22.00 USD"}, {gadget, "8.00 USD"}, {shipping, "4.00 USD"}} {
		if got := cell(t, body, c.line.ID, "remaining"); got != c.remaining {
			t.Errorf("%s remains %q after the sale-level refund, want %s", c.line.Name, got, c.remaining)
		}
	}

	// One widget (13.75, the first unit's share) and what remains of the
	// shipping (4.00).
	form := url.Values{"csrf": {tok}, "target": {"sale:" + sale.ID}, "qty-" + widget.ID: {"1"}, "shipping": {"1"}}
	status, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", form)
	if status != http.StatusOK {
		t.Fatalf("review: %d\n%s", status, body)
	}
	mustContain(t, body, "Refund <strong>17.75 USD</strong> for 1 × “Widget”, the shipping of order ORDER-LINES",
		`name="qty-`+widget.ID+`" value="1"`, `name="shipping" value="1"`)
	confirm := url.Values{"csrf": {tok}, "token": {find(t, tokenPattern, body)}, "target": {"sale:" + sale.ID},
		"amount": {find(t, amountField, body)}, "qty-" + widget.ID: {"1"}, "shipping": {"1"}}
	if status, body = b.post("/dashboard/sales/"+sale.ID+"/refund", confirm); status != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", status, body)
	}
	mustContain(t, body, "of 17.75 USD: succeeded.")
	if got := cell(t, body, widget.ID, "refunded-qty"); got != "1" {
		t.Errorf("widget units refunded %q", got)
	}
	if got := cell(t, body, shipping.ID, "remaining"); got != "0.00 USD" {
		t.Errorf("shipping remains %q", got)
	}

	// Bad forms are refused on the page, naming what is wrong, and
	// refund nothing.
	for _, bad := range []struct {
		name string
		form url.Values
		want string
	}{
		{"TwoOfOne", url.Values{"qty-" + widget.ID: {"2"}}, "Quantity must be a whole number between 1 and 1"},
		{"Fraction", url.Values{"qty-" + widget.ID: {"1.5"}}, "must be a whole number of units"},
		{"Negative", url.Values{"qty-" + widget.ID: {"-1"}}, "must be a whole number of units"},
		// "00" units ask for nothing, so the form is an amount refund of
		// the whole sale, which needs its confirmation like any other.
		{"ZeroUnitsIsNoItemization", url.Values{"qty-" + widget.ID: {"00"}, "amount": {"0"}}, "The amount must be above zero"},
		{"WithAmount", url.Values{"qty-" + gadget.ID: {"1"}, "amount": {"1.00"}}, "leave the amount empty"},
		{"ShippingAgain", url.Values{"shipping": {"1"}}, "already been refunded"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			bad.form.Set("csrf", tok)
			bad.form.Set("target", "sale:"+sale.ID)
			status, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", bad.form)
			if status < 400 || status > 499 || !strings.Contains(body, bad.want) {
				t.Fatalf("%d, want a 4xx saying %q:\n%s", status, bad.want, body)
			}
		})
	}
	if got := env.Reload(sale); got.RefundedAmount != 850+1775 {
		t.Errorf("sale refunded %d, want %d", got.RefundedAmount, 850+1775)
	}
}

// TestBrowserRefundByQuantity refunds one of two widgets and the shipping
// through the form in headless Chromium, and reads the sale page after.
func TestBrowserRefundByQuantity(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	sale := widgetSale(t, env, "ORDER-WIDGETS")
	widget, shipping := sale.LineItems[0], sale.LineItems[2]
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "sign in and open the sale",
		chromedp.Navigate(base+"/sales/"+sale.ID),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), env.KeyA),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#qty-"+widget.ID)),
	)
	step(t, ctx, "review one widget and the shipping",
		chromedp.SendKeys(chromedp.CSS("#qty-"+widget.ID), "1"),
		chromedp.Click(chromedp.CSS("#shipping")),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	)
	if got := text(t, ctx, "#confirm-text"); !strings.Contains(got, "Refund 18.75 USD for 1 × “Widget”, the shipping of order ORDER-WIDGETS") {
		t.Errorf("confirmation says %q", got)
	}
	screenshot(t, ctx, "review-units.png")
	step(t, ctx, "confirm",
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if got := text(t, ctx, "#notice"); !strings.Contains(got, "of 18.75 USD: succeeded.") {
		t.Errorf("notice %q", got)
	}
	for _, c := range []struct{ sel, want string }{
		{"#line-" + widget.ID + " .refunded-qty", "1"},
		{"#line-" + widget.ID + " .refunded", "13.75 USD"},
		{"#line-" + widget.ID + " .remaining", "13.75 USD"},
		{"#line-" + shipping.ID + " .remaining", "0.00 USD"},
		{"#sale-remaining", "23.75 USD"},
	} {
		if got := text(t, ctx, c.sel); got != c.want {
			t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
		}
	}
	// One widget is left to refund by quantity, and no shipping.
	if got, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#qty-"+widget.ID), "max")); err != nil || got.Value != "1" {
		t.Errorf("the widget's quantity input allows %q (%v), want 1", got.Value, err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#shipping').length`)); err != nil || n != 0 {
		t.Errorf("the form still offers the shipping (%d, %v)", n, err)
	}
	screenshot(t, ctx, "sale-units.png")
}
