package payop_test

import (
	"fmt"
	"testing"

	"github.com/refundry/refundry/internal/testenv"
)

// TestPartialRefundLandsOnLines: Payop's partial refund of a transaction
// (type 2) is allocated over the sale's lines in proportion to what
// remains on each, and a later full refund (type 1) takes exactly what
// each line has left: every line ends refunded in full.
func TestPartialRefundLandsOnLines(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{Currency: "KWD", Units: []int64{2000, 1000, 1000}, PayRefs: []string{"pay-lines"}})
	auth := "Authorization: Bearer " + s.KeyA
	ref := sale.Transactions[0].Reference
	if res := s.post(t, `{"transactionIdentifier": "`+ref+`", "refundType": 2, "amount": 1}`, auth); res.status != 200 {
		t.Fatalf("partial: %d %s", res.status, res.body)
	}
	lines := func() string {
		var got []int64
		for _, li := range s.Reload(sale).LineItems {
			got = append(got, li.RefundedAmount)
		}
		return fmt.Sprint(got)
	}
	// 1.000 KWD over 2.000, 1.000, 1.000: 0.500, 0.250, 0.250.
	if got := lines(); got != "[500 250 250]" {
		t.Errorf("after the partial refund lines refunded %s, want [500 250 250]", got)
	}
	if res := s.post(t, `{"transactionIdentifier": "`+ref+`", "refundType": 1}`, auth); res.status != 200 {
		t.Fatalf("full: %d %s", res.status, res.body)
	}
	if got := lines(); got != "[2000 1000 1000]" {
		t.Errorf("after the full refund lines refunded %s, want [2000 1000 1000]", got)
	}
	for _, r := range s.refunds(t, sale) {
		var sum int64
		for _, l := range r.Lines {
			sum += l.Amount
		}
		if sum != r.Amount {
			t.Errorf("refund %s of %d has lines adding up to %d: %+v", r.ID, r.Amount, sum, r.Lines)
		}
	}
}
