package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// TestSaleShowsTransactionRefundable: what the sale page says remains of
// a payment is what a refund of it may take (Sale.TransactionRefundable):
// the payment's own remainder, capped by the sale's. A refund adopted from
// the gateway above the first payment's amount leaves the sale 5.00 of
// its 10.00, so the second payment, 7.00 of its own untouched, has only
// 5.00 left to give.
func TestSaleShowsTransactionRefundable(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := env.Sale(testenv.SaleSpec{Reference: "CAP-1", Units: []int64{1000},
		PayRefs: []string{"pay_cap_a", "pay_cap_b"}, PayAmounts: []int64{300, 700}})
	res, err := env.Engine.ApplyReport(context.Background(), refundry.GatewayReport{Refund: &refundry.RefundReport{
		Gateway: refundry.GatewaySimulator, ChargeIDs: []string{"pay_cap_a"}, GatewayRefundID: "re_cap_1",
		Amount: 500, Currency: "USD", Status: refundry.RefundSucceeded}})
	if err != nil || res.Outcome != refundry.OutcomeAdopted {
		t.Fatalf("gateway refund: %+v, %v; want adopted", res, err)
	}
	got := env.Reload(sale)
	first, second := got.Transactions[0], got.Transactions[1]
	if got.Refundable() != 500 || second.Refundable() != 700 || got.TransactionRefundable(second) != 500 {
		t.Fatalf("sale refundable %d, second payment %d of its own, %d capped; want 500, 700, 500",
			got.Refundable(), second.Refundable(), got.TransactionRefundable(second))
	}

	b := h.browser(t)
	b.signIn(env.KeyA)
	_, body := b.get("/dashboard/sales/" + sale.ID)
	label := func(t *refundry.Transaction, rem string) string {
		return fmt.Sprintf("Payment #%d via %s (%s remains)", t.Number, t.Gateway, rem)
	}
	mustContain(t, body, label(first, "0.00 USD"), label(second, "5.00 USD"))
	if strings.Contains(body, label(second, "7.00 USD")) {
		t.Errorf("the second payment is offered with its own 7.00 USD, more than the sale has left")
	}
}
