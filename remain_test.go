package refundry_test

import (
	"testing"

	"github.com/refundry/refundry"
)

// What remains refundable on a sale, a line item and a transaction, the
// rule PlanRefund decides by and every edge shows (invariant 2).
func TestRefundable(t *testing.T) {
	type paid struct{ amount, refunded int64 }
	for _, tt := range []struct {
		name     string
		sale     paid
		line     paid
		payments []paid
		// what remains refundable
		wantSale, wantLine int64
		wantTxns           []int64
	}{
		{"Untouched", paid{1000, 0}, paid{600, 0}, []paid{{1000, 0}}, 1000, 600, []int64{1000}},
		{"TwoPayments", paid{1000, 300}, paid{600, 0}, []paid{{300, 300}, {700, 0}}, 700, 600, []int64{0, 700}},
		{"LineCappedBySale", paid{1000, 800}, paid{600, 0}, []paid{{1000, 800}}, 200, 200, []int64{200}},
		{"SaleCappedByItsTotal", paid{1000, 900}, paid{600, 500}, []paid{{600, 0}, {400, 0}}, 100, 100, []int64{600, 400}},
		{"FullyRefunded", paid{1000, 1000}, paid{1000, 1000}, []paid{{1000, 1000}}, 0, 0, []int64{0}},
		{"OverRefundedByGateway", paid{1000, 1200}, paid{1000, 1200}, []paid{{1000, 1200}}, 0, 0, []int64{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			li := &refundry.LineItem{Amount: tt.line.amount, RefundedAmount: tt.line.refunded}
			s := &refundry.Sale{Amount: tt.sale.amount, RefundedAmount: tt.sale.refunded, LineItems: []*refundry.LineItem{li}}
			for _, p := range tt.payments {
				s.Transactions = append(s.Transactions, &refundry.Transaction{Amount: p.amount, RefundedAmount: p.refunded})
			}
			if got := s.Refundable(); got != tt.wantSale {
				t.Errorf("sale: %d, want %d", got, tt.wantSale)
			}
			if got := s.LineRefundable(li); got != tt.wantLine {
				t.Errorf("line: %d, want %d", got, tt.wantLine)
			}
			for i, want := range tt.wantTxns {
				if got := s.Transactions[i].Refundable(); got != want {
					t.Errorf("transaction %d: %d, want %d", i, got, want)
				}
			}
		})
	}
}

func TestRefundReserves(t *testing.T) {
	for status, want := range map[string]bool{
		refundry.RefundPending: true, refundry.RefundSucceeded: true,
		refundry.RefundRequiresApproval: true, refundry.RefundRequiresAction: true,
		refundry.RefundFailed: false, refundry.RefundCanceled: false, "": false,
	} {
		if got := refundry.RefundReserves(status); got != want {
			t.Errorf("RefundReserves(%q) = %v, want %v", status, got, want)
		}
	}
}
