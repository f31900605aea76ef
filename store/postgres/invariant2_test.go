package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// refundRace races refunds and releases on a few sales of one merchant,
// through one store or several on one database, and checks that every
// sale stays exact (invariant 2).
type refundRace struct {
	stores   []*Store
	merchant string
	sales    []*refundry.Sale
	refunds  int // how many refunds are asked
	lineItem int // which line item of its sale a line-item refund names
	// releaseEvery: every releaseEvery-th refund is then settled as
	// failed, which gives its amount back.
	releaseEvery int
	parallel     int // how many refunds are in flight at most; 0: all of them
}

// run asks the refunds and checks the sales once all are answered.
func (r refundRace) run(t *testing.T) {
	t.Helper()
	r.check(t, r.ask(t))
}

// ask asks the refunds, all at once (or parallel at a time), and returns
// once all are answered, with the amounts accepted and not released, by
// sale. Refund i goes through store i mod len(stores) to sale
// (i / len(stores)) mod len(sales), naming by turns the sale (90), its
// line item (70) and its first transaction (110). Past what was paid a
// refund is refused; any other error is a refund left unanswered and
// fails the test.
func (r refundRace) ask(t *testing.T) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	parallel := r.parallel
	if parallel == 0 {
		parallel = r.refunds
	}
	var (
		mu       sync.Mutex
		accepted = map[string]int64{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, parallel)
	)
	for i := range r.refunds {
		s := r.stores[i%len(r.stores)]
		sale := r.sales[(i/len(r.stores))%len(r.sales)]
		var req refundry.RefundRequest
		switch i % 3 {
		case 0:
			req = storetest.SaleRefund(r.merchant, sale.ID, storetest.Amount(90))
		case 1:
			req = storetest.LineItemRefund(r.merchant, sale.LineItems[r.lineItem].ID, storetest.Amount(70))
		default:
			req = storetest.TransactionRefund(r.merchant, sale.Transactions[0].ID, storetest.Amount(110))
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := s.CreateRefunds(ctx, req)
			if err != nil {
				if c := refundry.ErrorCode(err); c == refundry.EINTERNAL || c == refundry.EUNAVAILABLE {
					t.Errorf("refund %d: %v", i, err)
				}
				return
			}
			refund := res.Refunds[0]
			if i%r.releaseEvery == 0 {
				// A release takes the sale's lock too.
				if _, err := s.SettleRefund(ctx, r.merchant, refund.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
					t.Errorf("settle %s: %v", refund.ID, err)
				}
				return
			}
			mu.Lock()
			accepted[sale.ID] += refund.Amount
			mu.Unlock()
		})
	}
	wg.Wait()
	return accepted
}

// check checks, through the last store, that every sale has reserved
// exactly what was accepted of it, never more than it was paid, and that
// storetest.CheckInvariants holds.
func (r refundRace) check(t *testing.T, accepted map[string]int64) {
	t.Helper()
	last := r.stores[len(r.stores)-1]
	for _, sale := range r.sales {
		got := storetest.MustFindSale(t, last, r.merchant, sale.ID)
		if got.RefundedAmount != accepted[sale.ID] {
			t.Errorf("sale %s: %d reserved, %d accepted", sale.ID, got.RefundedAmount, accepted[sale.ID])
		}
		if got.RefundedAmount > got.Amount {
			t.Errorf("sale %s: %d refunded of %d", sale.ID, got.RefundedAmount, got.Amount)
		}
	}
	storetest.CheckInvariants(t, last, r.merchant)
}

// checkNoDeadlocks fails the test if any of the stores' batches was
// chosen as a deadlock's victim (40P01).
func checkNoDeadlocks(t *testing.T, stores ...*Store) {
	t.Helper()
	var deadlocks int64
	for _, s := range stores {
		deadlocks += s.Stats().Deadlocks
	}
	if deadlocks != 0 {
		t.Errorf("%d deadlocks (40P01) among the stores' batches, want none", deadlocks)
	}
}
