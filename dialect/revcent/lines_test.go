package revcent_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// TestProductSaleRemainsAfterSaleRefund refunds part of a sale at sale
// level, then refunds one of its product sales through RevCent: what
// remains of the product sale is its share after the allocation
// (docs/architecture.md), not its whole amount. A cent more is refused,
// all that remains is refunded exactly, and the refund lands on that
// line alone.
func TestProductSaleRemainsAfterSaleRefund(t *testing.T) {
	s := newServer(t)
	key := "X-API-Key: " + s.KeyA
	for _, c := range []struct {
		name, currency string
		units          []int64
		saleRefund     int64
		line           int
		remains        int64
		answer, over   string // the remainder in major units, and one minor unit more
	}{
		// 10.00 over 20.00, 10.00, 10.00: 5.00, 2.50, 2.50.
		{"USD", "USD", []int64{2000, 1000, 1000}, 1000, 1, 750, "7.50", "7.51"},
		// 1.00 over three equal lines: 0.34, 0.33, 0.33.
		{"USDLargestRemainderFirst", "USD", []int64{1000, 1000, 1000}, 100, 0, 966, "9.66", "9.67"},
		{"USDLaterLine", "USD", []int64{1000, 1000, 1000}, 100, 2, 967, "9.67", "9.68"},
		{"JPY", "JPY", []int64{2000, 1000, 1000}, 1000, 1, 750, "750", "751"},
		{"KWD", "KWD", []int64{2000, 1000, 1000}, 1000, 2, 750, "0.750", "0.751"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sale := s.Sale(testenv.SaleSpec{Currency: c.currency, Units: c.units})
			amount := c.saleRefund
			if _, err := s.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: s.A.ID,
				Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative}); err != nil {
				t.Fatal(err)
			}
			li := sale.LineItems[c.line]
			if got := s.Reload(sale); got.LineRefundable(got.LineItems[c.line]) != c.remains {
				t.Fatalf("line %d remains %d after the sale refund, want %d", c.line, got.LineRefundable(got.LineItems[c.line]), c.remains)
			}
			res := s.do(t, "POST", refundPath(li.ID), `{"amount": `+c.over+`}`, key)
			if res.status != http.StatusUnprocessableEntity || res.body["error_code"] != "amount_exceeds_refundable" {
				t.Fatalf("one minor unit above what remains: %d %s", res.status, res.raw)
			}
			res = s.do(t, "POST", refundPath(li.ID), `{}`, key)
			if res.status != http.StatusOK || str(res.body["amount"]) != c.answer {
				t.Fatalf("refund of all that remains: %d %s, want amount %s", res.status, res.raw, c.answer)
			}
			rs := s.refunds(t, sale)
			var mine *refundry.Refund
			for _, r := range rs {
				if r.Source == refundry.SourceRevCent {
					mine = r
				}
			}
			if mine == nil || fmt.Sprint(mine.Lines) != fmt.Sprint([]refundry.RefundLine{{LineItemID: li.ID, Amount: c.remains}}) {
				t.Fatalf("the RevCent refund's lines: %+v", mine)
			}
			after := s.Reload(sale)
			if got := after.LineRefundable(after.LineItems[c.line]); got != 0 {
				t.Errorf("line %d remains %d after RevCent refunded it all", c.line, got)
			}
			if res := s.do(t, "POST", refundPath(li.ID), `{}`, key); res.status != http.StatusConflict {
				t.Errorf("refund again: %d %s, want 409", res.status, res.raw)
			}
		})
	}
}
