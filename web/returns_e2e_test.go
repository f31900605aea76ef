package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/refundry/refundry"
)

// TestBrowserReturn walks a return from request to refund in headless
// Chromium, as support staff would: open the sale, request a return of
// two widgets and a gadget, mark it received, be refused a restocking fee
// above the refund, then refund it keeping a 3.00 fee, and follow the
// link to its refund.
func TestBrowserReturn(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	sale := returnSale(t, env)
	widget, gadget := sale.LineItems[0], sale.LineItems[1]
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "sign in and open the sale",
		chromedp.Navigate(base+"/sales/"+sale.ID),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), env.KeyA),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#request-return")),
	)
	step(t, ctx, "request a return",
		chromedp.SendKeys(chromedp.CSS("#ret-"+widget.ID), "2"),
		chromedp.SendKeys(chromedp.CSS("#ret-"+gadget.ID), "1"),
		chromedp.SetValue(chromedp.CSS("#return-reason"), "damaged"),
		chromedp.SendKeys(chromedp.CSS("#return-description"), "box crushed"),
		chromedp.Click(chromedp.CSS("#request-return")),
		chromedp.WaitVisible(chromedp.CSS("#return-notice")),
	)
	list, _, err := env.Engine.ListReturns(context.Background(), env.A.ID, refundry.ReturnFilter{SaleID: sale.ID})
	if err != nil || len(list) != 1 {
		t.Fatalf("returns after the request: %d %v", len(list), err)
	}
	id := list[0].ID
	row := "#return-" + id
	if got := text(t, ctx, row+" .return-status"); got != "requested" {
		t.Errorf("status %q, want requested", got)
	}
	if got := text(t, ctx, row+" .return-lines"); !strings.Contains(got, "2 × Widget") || !strings.Contains(got, "1 × Gadget") {
		t.Errorf("lines %q", got)
	}

	step(t, ctx, "mark it received",
		chromedp.Click(chromedp.CSS("#receive-"+id)),
		chromedp.WaitVisible(chromedp.CSS("#fee-"+id)),
	)
	if got := text(t, ctx, row+" .return-status"); got != "received" {
		t.Errorf("status %q, want received", got)
	}

	// 2 widgets with their tax (22.00) and a gadget (5.00): 27.00.
	step(t, ctx, "be refused a fee above the refund",
		chromedp.SendKeys(chromedp.CSS("#fee-"+id), "27.01"),
		chromedp.Click(chromedp.CSS("#refund-return-"+id)),
		chromedp.WaitVisible(chromedp.CSS("#return-error")),
	)
	if got := text(t, ctx, "#return-error"); !strings.Contains(got, "Restocking fee must be between 0 and the refund's amount") {
		t.Errorf("refusal says %q", got)
	}
	if got := env.Reload(sale); got.RefundedAmount != 0 {
		t.Fatalf("a refused fee refunded %d", got.RefundedAmount)
	}

	step(t, ctx, "refund it keeping a restocking fee",
		chromedp.WaitVisible(chromedp.CSS("#fee-"+id)),
		chromedp.SetValue(chromedp.CSS("#fee-"+id), "3.00"),
		chromedp.Click(chromedp.CSS("#refund-return-"+id)),
		chromedp.WaitVisible(chromedp.CSS("#return-notice")),
	)
	if got := text(t, ctx, "#return-notice"); !strings.Contains(got, "refunded: 24.00 USD to the customer, 3.00 USD kept as restocking fee.") {
		t.Errorf("notice %q", got)
	}
	if got := text(t, ctx, row+" .return-status"); got != "refunded" {
		t.Errorf("status %q, want refunded", got)
	}
	if got := text(t, ctx, row+" .return-fee"); got != "3.00 USD" {
		t.Errorf("fee shown %q", got)
	}
	if got := text(t, ctx, "#line-"+widget.ID+" .refunded-qty"); got != "2" {
		t.Errorf("widget units refunded %q, want 2", got)
	}
	if got := text(t, ctx, "#line-"+widget.ID+" .remaining"); got != "11.00 USD" {
		t.Errorf("widget remains %q, want 11.00 USD", got)
	}
	screenshot(t, ctx, "sale-return.png")

	ret, err := env.Engine.FindReturn(context.Background(), env.A.ID, id)
	if err != nil || ret.Status != refundry.ReturnRefunded || ret.RestockingFee != 300 || len(ret.RefundIDs) != 1 {
		t.Fatalf("return %+v %v", ret, err)
	}
	rf, err := env.Engine.FindRefund(context.Background(), env.A.ID, ret.RefundIDs[0])
	if err != nil || rf.Amount != 2700 || rf.Fee != 300 || rf.ReturnID != id || env.Sim.Moved(rf.ID) != 2400 {
		t.Fatalf("refund %+v (moved %d) %v", rf, env.Sim.Moved(rf.ID), err)
	}
	step(t, ctx, "follow the link to its refund",
		chromedp.Click(chromedp.CSS(row+" .return-refund")),
		chromedp.WaitVisible(chromedp.CSS("#refund-"+rf.ID)),
	)
}
