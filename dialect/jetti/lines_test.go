package jetti_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// TestTransactionRefundLandsOnLines: a part refunded of a transaction is
// allocated over the sale's lines in proportion to what remains on each
// (docs/architecture.md), after a line was partly refunded on its own:
// 1.00 over three lines with 10.00 left each is 0.34, 0.33, 0.33.
func TestTransactionRefundLandsOnLines(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{Units: []int64{2000, 1000, 1000}})
	amount := int64(1000)
	if _, err := s.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: s.A.ID,
		Target: refundry.RefundTarget{LineItemID: sale.LineItems[0].ID}, Amount: &amount, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	res := s.do(t, "PUT", refundPath(sale.Transactions[0].Number), `{"refundAmount": 1}`, "Authorization: Bearer "+s.KeyA)
	if res.status != 200 {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	after := s.Reload(sale)
	var got []int64
	for _, li := range after.LineItems {
		got = append(got, li.RefundedAmount)
	}
	if fmt.Sprint(got) != "[1034 33 33]" {
		t.Errorf("lines refunded %v, want [1034 33 33]", got)
	}
	rs, _, err := s.Store.ListRefunds(context.Background(), s.A.ID, refundry.RefundFilter{SaleID: sale.ID, Source: refundry.SourceJetti, Page: refundry.Page{Limit: 10}})
	if err != nil || len(rs) != 1 {
		t.Fatalf("jetti refunds %v %v", rs, err)
	}
	want := []refundry.RefundLine{{LineItemID: sale.LineItems[0].ID, Amount: 34},
		{LineItemID: sale.LineItems[1].ID, Amount: 33}, {LineItemID: sale.LineItems[2].ID, Amount: 33}}
	if fmt.Sprint(rs[0].Lines) != fmt.Sprint(want) {
		t.Errorf("the refund's lines %+v, want %+v", rs[0].Lines, want)
	}
}
