package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/internal/group"
	"github.com/refundry/refundry/store/storetest"
)

// TestGroupCommitLanes: every way of naming a sale (its id, a line item,
// a transaction, a refund of it) leads to the sale's one lane, and what
// names nothing that exists goes to the first lane, where it is answered
// as missing.
func TestGroupCommitLanes(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(4))
	m := storetest.MustCreateMerchant(t, s)
	other := storetest.MustCreateMerchant(t, s)
	ctx := context.Background()
	// Enough sales that not all of them share a lane.
	lanes := map[*group.Queue[*write]]bool{}
	for range 8 {
		sale := storetest.MustCreateSale(t, s, m.ID)
		want := s.lane(forSale(ctx, m.ID, sale.ID))
		lanes[want] = true
		refund := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100))).Refunds[0]
		for _, tc := range []struct {
			name string
			req  refundry.RefundRequest
		}{
			{"Sale", storetest.SaleRefund(m.ID, sale.ID, nil)},
			{"LineItem", storetest.LineItemRefund(m.ID, sale.LineItems[0].ID, nil)},
			{"Transaction", storetest.TransactionRefund(m.ID, sale.Transactions[0].ID, nil)},
		} {
			rctx, err := s.refundLane(ctx, tc.req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := s.lane(rctx); got != want {
				t.Errorf("%s: a refund of sale %s went to another lane than the sale's", tc.name, sale.ID)
			}
		}
		sctx, err := s.settleLane(ctx, m.ID, refund.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.lane(sctx) != want {
			t.Errorf("the settlement of refund %s went to another lane than its sale's", refund.ID)
		}
		// Another merchant's line item is as missing as one that never was.
		rctx, err := s.refundLane(ctx, storetest.LineItemRefund(other.ID, sale.LineItems[0].ID, nil))
		if err != nil {
			t.Fatal(err)
		}
		if s.lane(rctx) != s.batch {
			t.Errorf("another merchant's line item chose a lane")
		}
		if _, err := s.settleLane(ctx, other.ID, refund.ID); refundry.ErrorCode(err) != refundry.ENOTFOUND {
			t.Errorf("settling another merchant's refund: %v, want ENOTFOUND", err)
		}
	}
	if len(lanes) < 2 {
		t.Errorf("8 sales all went to one of 4 lanes")
	}
}

// TestGroupCommitLanesExact: refunds and failed settlements racing on a
// few sales through every kind of target, spread over four lanes, leave
// every sale exact (invariant 2): what was accepted adds up to what is
// reserved, and never more than was paid.
func TestGroupCommitLanesExact(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			s := mustOpenWith(t, iso, WithGroupCommitLanes(4))
			m := storetest.MustCreateMerchant(t, s)
			var sales []*refundry.Sale
			for range 6 {
				sales = append(sales, storetest.MustCreateSale(t, s, m.ID, storetest.Lines(300, 700)))
			}
			refundRace{stores: []*Store{s}, merchant: m.ID, sales: sales, refunds: 120, lineItem: 0, releaseEvery: 4}.run(t)
		})
	}
}
