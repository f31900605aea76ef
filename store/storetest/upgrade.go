package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/refundry/refundry"
)

// CheckUpgrade0012 asserts the upgrade to 0012 of the database both
// stores' migration tests make before it (merchant m1, sale s1 of lines
// l1-l3, refunds r1-r5): 1301 of sale and transaction refunds over lines
// remaining 600, 1500 and 500 is 300.23, 750.58 and 250.19, so 300, 751
// (the largest remainder) and 250; laid end to end, r2's 1001 takes l1's
// 300 and 701 of l2, r3's 300 the other 50 of l2 and l3's 250.
func CheckUpgrade0012(t testing.TB, s refundry.Store) {
	t.Helper()
	ctx := context.Background()
	sale, err := s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{700, 751, 250} {
		li := sale.LineItems[i]
		if li.RefundedAmount != want || li.Kind != refundry.LineProduct || li.TaxAmount != 0 || li.RefundedQuantity != 0 {
			t.Fatalf("line %s after 0012 = %+v, want %d refunded", li.ID, li, want)
		}
	}
	rl := func(id string, a int64) refundry.RefundLine { return refundry.RefundLine{LineItemID: id, Amount: a} }
	for id, want := range map[string][]refundry.RefundLine{
		"r1": {rl("l1", 400)},
		"r2": {rl("l1", 300), rl("l2", 701)},
		"r3": {rl("l2", 50), rl("l3", 250)},
		"r4": {},
		"r5": {rl("l2", 200)},
	} {
		r, err := s.FindRefund(ctx, "m1", id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Lines, want) {
			t.Fatalf("refund %s lines = %+v, want %+v", id, r.Lines, want)
		}
	}
	CheckInvariants(t, s, "m1")
	// The pending sale refund fails: exactly its backfilled lines go back.
	if _, err := s.SettleRefund(ctx, "m1", "r2", refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
		t.Fatal(err)
	}
	sale, err = s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if a, b, c := sale.LineItems[0].RefundedAmount, sale.LineItems[1].RefundedAmount, sale.LineItems[2].RefundedAmount; a != 400 || b != 50 || c != 250 {
		t.Fatalf("after r2 failed, lines refunded %d, %d, %d; want 400, 50, 250", a, b, c)
	}
	CheckInvariants(t, s, "m1")
	// Units refund after the upgrade: one widget of 5.00 with 6.00 left on its line.
	res, err := s.CreateRefunds(ctx, refundry.RefundRequest{MerchantID: "m1", Target: refundry.RefundTarget{SaleID: "s1"},
		Lines: []refundry.LineRequest{{LineItemID: "l1", Quantity: 1}}, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	if li := res.Sale.LineItems[0]; li.RefundedAmount != 900 || li.RefundedQuantity != 1 {
		t.Fatalf("after one unit: %+v", li)
	}
	CheckInvariants(t, s, "m1")
}
