package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/refundry/refundry"
)

// TestBrowserReasons drives the dashboard in headless Chromium: the
// overview breaks the month's refunds down by reason (count, and the
// amount per currency of those that moved money), and a refund made on
// the sale page with a reason chosen from the merchant's list and a
// description lands in that breakdown.
func TestBrowserReasons(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	bg := context.Background()
	if err := env.Engine.PutRefundReason(bg, &refundry.RefundReason{MerchantID: env.A.ID, Code: "size_exchange", Label: "Size exchange"}); err != nil {
		t.Fatal(err)
	}
	usd := env.Sale(testenvSaleSpec{Reference: "R-1", Units: []int64{2500, 500}})
	jpy := env.Sale(testenvSaleSpec{Reference: "R-2", Currency: "JPY", Units: []int64{4500}})
	failing := env.Sale(testenvSaleSpec{Reference: "R-3", Units: []int64{900}, PayRefs: []string{"sim_fail_reasons"}})
	refund := func(sale *refundry.Sale, amount int64, reason string) {
		t.Helper()
		if _, err := env.Engine.Refund(bg, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
			Amount: &amount, Reason: reason, Source: refundry.SourceNative}); err != nil {
			t.Fatal(err)
		}
	}
	refund(usd, 500, "damaged")
	refund(jpy, 1500, "damaged")
	refund(usd, 100, "")
	refund(failing, 900, "duplicate") // declined: counted, returns nothing
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), env.KeyA),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#reasons")),
	)
	row := func(code string) string {
		t.Helper()
		return strings.Join(strings.Fields(text(t, ctx, `#reasons tr[data-reason="`+code+`"]`)), " ")
	}
	for code, want := range map[string]string{
		"damaged":   "Damaged item damaged 2 5.00 USD · 1500 JPY",
		"":          "No reason given 1 1.00 USD",
		"duplicate": "Duplicate charge duplicate 1 0",
	} {
		if got := row(code); got != want {
			t.Errorf("reason %q row = %q, want %q", code, got, want)
		}
	}
	screenshot(t, ctx, "overview-reasons.png")

	step(t, ctx, "refund with a reason and a description",
		chromedp.Navigate(base+"/sales/"+usd.ID),
		chromedp.WaitVisible(chromedp.CSS("#reason")),
		chromedp.SetValue(chromedp.CSS("#reason"), "size_exchange"),
		chromedp.SendKeys(chromedp.CSS("#amount"), "2.00"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Swapped for a large"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	)
	if got := text(t, ctx, "#reason-text"); got != "size_exchange" {
		t.Errorf("review shows reason %q", got)
	}
	if got := text(t, ctx, "#description-text"); got != "Swapped for a large" {
		t.Errorf("review shows description %q", got)
	}
	step(t, ctx, "confirm",
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	refunds, _, err := env.Engine.ListRefunds(bg, env.A.ID, refundry.RefundFilter{SaleID: usd.ID})
	if err != nil || refunds[0].Reason != "size_exchange" || refunds[0].Description != "Swapped for a large" || refunds[0].Source != refundry.SourceDashboard {
		t.Fatalf("newest refund = %+v, %v", refunds[0], err)
	}
	step(t, ctx, "back to the overview",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#reasons")),
	)
	if got := row("size_exchange"); got != "Size exchange size_exchange 1 2.00 USD" {
		t.Errorf("size_exchange row = %q", got)
	}
}
