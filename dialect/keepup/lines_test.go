package keepup_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// TestSaleRefundLandsOnLines: KeepUp's refund of all that remains of a
// sale, after part of one line was refunded on its own, takes from each
// line exactly what it had left, so every line ends refunded in full.
func TestSaleRefundLandsOnLines(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{Currency: "JPY", Units: []int64{2000, 1000, 1000}})
	amount := int64(500)
	if _, err := s.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: s.A.ID,
		Target: refundry.RefundTarget{LineItemID: sale.LineItems[1].ID}, Amount: &amount, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	if res := s.do(t, "PUT", "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var got []int64
	for _, li := range s.Reload(sale).LineItems {
		got = append(got, li.RefundedAmount)
	}
	if fmt.Sprint(got) != "[2000 1000 1000]" {
		t.Errorf("lines refunded %v, want [2000 1000 1000]", got)
	}
	rs, _, err := s.Store.ListRefunds(context.Background(), s.A.ID, refundry.RefundFilter{SaleID: sale.ID, Source: refundry.SourceKeepUp, Page: refundry.Page{Limit: 10}})
	if err != nil || len(rs) != 1 {
		t.Fatalf("keepup refunds %v %v", rs, err)
	}
	want := []refundry.RefundLine{{LineItemID: sale.LineItems[0].ID, Amount: 2000},
		{LineItemID: sale.LineItems[1].ID, Amount: 500}, {LineItemID: sale.LineItems[2].ID, Amount: 1000}}
	if fmt.Sprint(rs[0].Lines) != fmt.Sprint(want) {
		t.Errorf("the refund's lines %+v, want %+v", rs[0].Lines, want)
	}
}
