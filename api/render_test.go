package api

import (
	"testing"

	"github.com/refundry/refundry"
)

// refundable_amount is what PlanRefund would still allow on the whole
// sale: capped at the sale's own total, and never below zero (the
// document says minimum 0), even once a gateway refunded more than asked.
func TestRefundableAmountIsThePlanRule(t *testing.T) {
	for _, tt := range []struct {
		name             string
		amount, refunded int64
		payments         [][2]int64 // amount, refunded
		want             int64
	}{
		{"OK", 1000, 300, [][2]int64{{300, 300}, {700, 0}}, 700},
		{"CappedBySale", 1000, 900, [][2]int64{{600, 0}, {400, 0}}, 100},
		{"OverRefundedByGateway", 1000, 1200, [][2]int64{{1000, 1200}}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &refundry.Sale{Amount: tt.amount, RefundedAmount: tt.refunded}
			for _, p := range tt.payments {
				s.Transactions = append(s.Transactions, &refundry.Transaction{Amount: p[0], RefundedAmount: p[1]})
			}
			if got := renderSale(s).Refundable; got != tt.want || got != s.Refundable() {
				t.Fatalf("refundable_amount %d, want %d", got, tt.want)
			}
		})
	}
}
