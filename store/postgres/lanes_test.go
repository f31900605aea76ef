package postgres

import (
	"context"
	"sync"
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
			ctx := context.Background()
			var sales []*refundry.Sale
			for range 6 {
				sales = append(sales, storetest.MustCreateSale(t, s, m.ID, storetest.Lines(300, 700)))
			}
			var mu sync.Mutex
			accepted := map[string]int64{}
			var wg sync.WaitGroup
			for i := range 120 {
				sale := sales[i%len(sales)]
				var req refundry.RefundRequest
				switch i % 3 {
				case 0:
					req = storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(90))
				case 1:
					req = storetest.LineItemRefund(m.ID, sale.LineItems[0].ID, storetest.Amount(70))
				default:
					req = storetest.TransactionRefund(m.ID, sale.Transactions[0].ID, storetest.Amount(110))
				}
				wg.Go(func() {
					res, err := s.CreateRefunds(ctx, req)
					if err != nil {
						if c := refundry.ErrorCode(err); c == refundry.EINTERNAL || c == refundry.EUNAVAILABLE {
							t.Errorf("refund %d: %v", i, err)
						}
						return
					}
					r := res.Refunds[0]
					if i%4 == 0 {
						// A failed refund gives its amount back.
						if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
							t.Errorf("settle %s: %v", r.ID, err)
						}
						return
					}
					mu.Lock()
					accepted[sale.ID] += r.Amount
					mu.Unlock()
				})
			}
			wg.Wait()
			for _, sale := range sales {
				got := storetest.MustFindSale(t, s, m.ID, sale.ID)
				if got.RefundedAmount != accepted[sale.ID] {
					t.Errorf("sale %s: %d reserved, %d accepted", sale.ID, got.RefundedAmount, accepted[sale.ID])
				}
				if got.RefundedAmount > got.Amount {
					t.Errorf("sale %s: %d refunded of %d", sale.ID, got.RefundedAmount, got.Amount)
				}
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}
