package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestInvariant2ProcessesNoDeadlock: three stores, each with its own pool
// and group-commit lanes as three serve processes would have, refund and
// release a few sales at once on one database. Their batches take the
// sales' locks in one order, so none deadlocks another (no 40P01), every
// refund is answered, and every sale stays exact (invariant 2).
func TestInvariant2ProcessesNoDeadlock(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			url := withParam(withParam(freshDatabase(t), "default_transaction_isolation", iso), "pool_max_conns", "6")
			var stores []*Store
			for range 3 {
				s, err := Open(context.Background(), url, WithGroupCommitLanes(2))
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				stores = append(stores, s)
			}
			m := storetest.MustCreateMerchant(t, stores[0])
			var sales []*refundry.Sale
			for range 6 {
				sales = append(sales, storetest.MustCreateSale(t, stores[0], m.ID, storetest.Lines(300, 700)))
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var mu sync.Mutex
			accepted := map[string]int64{}
			var wg sync.WaitGroup
			for i := range 96 {
				s := stores[i%len(stores)]
				sale := sales[(i/len(stores))%len(sales)]
				var req refundry.RefundRequest
				switch i % 3 {
				case 0:
					req = storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(90))
				case 1:
					req = storetest.LineItemRefund(m.ID, sale.LineItems[1].ID, storetest.Amount(70))
				default:
					req = storetest.TransactionRefund(m.ID, sale.Transactions[0].ID, storetest.Amount(110))
				}
				wg.Go(func() {
					res, err := s.CreateRefunds(ctx, req)
					if err != nil {
						// Past the cap a refund is refused; anything else
						// is a refund left unanswered.
						if c := refundry.ErrorCode(err); c == refundry.EINTERNAL || c == refundry.EUNAVAILABLE {
							t.Errorf("refund %d: %v", i, err)
						}
						return
					}
					r := res.Refunds[0]
					if i%5 == 0 {
						// A release takes the sale's lock too.
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

			var deadlocks int64
			for _, s := range stores {
				deadlocks += s.Stats().Deadlocks
			}
			if deadlocks != 0 {
				t.Errorf("%d deadlocks (40P01) among the stores' batches, want none", deadlocks)
			}
			for _, sale := range sales {
				got := storetest.MustFindSale(t, stores[1], m.ID, sale.ID)
				if got.RefundedAmount != accepted[sale.ID] {
					t.Errorf("sale %s: %d reserved, %d accepted", sale.ID, got.RefundedAmount, accepted[sale.ID])
				}
				if got.RefundedAmount > got.Amount {
					t.Errorf("sale %s: %d refunded of %d", sale.ID, got.RefundedAmount, got.Amount)
				}
			}
			storetest.CheckInvariants(t, stores[2], m.ID)
		})
	}
}
