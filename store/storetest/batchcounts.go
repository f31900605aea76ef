package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// BatchCounter reads, straight from the database, the counts a batch
// keeps and a COUNT(*) of its rows grouped by status (Total is the
// batch's in both).
type BatchCounter = func(tb testing.TB, batchID string) (kept, counted refundry.BatchCounts)

// RunBatchCounts runs the suite of the counts a batch keeps: after every
// claim and finish they equal a count of the rows, and FindRefundBatch
// answers them. open is called twice in the concurrent test, for two
// stores on one database, as two processes would share it.
func RunBatchCounts(t *testing.T, open Opener, count BatchCounter) {
	t.Run("KeptAsCounted", func(t *testing.T) { testBatchCountsKept(t, open, count) })
	t.Run("ConcurrentWorkers", func(t *testing.T) { testBatchCountsConcurrent(t, open, count) })
}

// wantKept checks that the batch's kept counts equal its rows' count, and
// that FindRefundBatch answers want.
func wantKept(tb testing.TB, bs refundry.BatchStore, count BatchCounter, merchantID, id string, want refundry.BatchCounts, status string) {
	tb.Helper()
	kept, counted := count(tb, id)
	if kept != counted {
		tb.Fatalf("batch %s keeps %+v, its rows count %+v", id, kept, counted)
	}
	if counted != want {
		tb.Fatalf("batch %s rows count %+v, want %+v", id, counted, want)
	}
	wantCounts(tb, bs, merchantID, id, want, status)
}

func testBatchCountsKept(t *testing.T, open Opener, count BatchCounter) {
	s := open(t)
	bs := s.(refundry.BatchStore)
	ctx := context.Background()
	m := MustCreateMerchant(t, s)
	b := mustCreateBatch(t, bs, m.ID, batchRows("a", "b", "c", "d", "e", "f"))
	wantKept(t, bs, count, m.ID, b.ID, refundry.BatchCounts{Total: 6, Pending: 6}, refundry.BatchProcessing)

	// Two rows under a lease that runs out, claimed again: they stay
	// processing, and the other four leave pending.
	if got := claimOwn(t, bs, b.ID, time.Millisecond, 2); len(got) != 2 {
		t.Fatalf("claimed %d rows, want 2", len(got))
	}
	wantKept(t, bs, count, m.ID, b.ID, refundry.BatchCounts{Total: 6, Pending: 4, Processing: 2}, refundry.BatchProcessing)
	time.Sleep(20 * time.Millisecond)
	got := claimOwn(t, bs, b.ID, time.Minute, 1000)
	if len(got) != 6 || got[0].Attempts != 2 || got[2].Attempts != 1 {
		t.Fatalf("claimed %+v; want the 2 expired rows again, then 4", got)
	}
	wantKept(t, bs, count, m.ID, b.ID, refundry.BatchCounts{Total: 6, Processing: 6}, refundry.BatchProcessing)

	// A refund made, one refused, a target that names nothing.
	got[0].Status, got[0].RefundID, got[0].RefundStat = refundry.BatchRowSucceeded, refundry.NewID(), refundry.RefundSucceeded
	got[1].Status, got[1].Error = refundry.BatchRowFailed, "The refund was declined."
	got[2].Status, got[2].Error = refundry.BatchRowFailed, "No sale, line item or transaction has the id or reference \"c\"."
	if err := bs.FinishBatchRows(ctx, got[:3]); err != nil {
		t.Fatal(err)
	}
	wantKept(t, bs, count, m.ID, b.ID, refundry.BatchCounts{Total: 6, Processing: 3, Succeeded: 1, Failed: 2}, refundry.BatchProcessing)

	// A second worker, whose lease ran out, records row 1 again with
	// another outcome: the row takes it, as before the counts were kept,
	// and the counts move from what the row was.
	again := *got[0]
	again.Status, again.RefundID, again.RefundStat, again.Error = refundry.BatchRowFailed, "", "", "Gave up after 5 attempts."
	got[3].Status, got[3].RefundID, got[3].RefundStat = refundry.BatchRowSucceeded, refundry.NewID(), refundry.RefundPending
	if err := bs.FinishBatchRows(ctx, []*refundry.BatchRow{&again, got[3]}); err != nil {
		t.Fatal(err)
	}
	wantKept(t, bs, count, m.ID, b.ID, refundry.BatchCounts{Total: 6, Processing: 2, Succeeded: 1, Failed: 3}, refundry.BatchProcessing)
	if rows, err := bs.ListBatchRows(ctx, m.ID, b.ID, 0, 1); err != nil || rows[0].Status != refundry.BatchRowFailed || rows[0].Error != again.Error {
		t.Fatalf("row 1 recorded again = %+v, %v", rows, err)
	}

	for _, r := range got[4:] {
		r.Status = refundry.BatchRowSucceeded
	}
	if err := bs.FinishBatchRows(ctx, got[4:]); err != nil {
		t.Fatal(err)
	}
	wantKept(t, bs, count, m.ID, b.ID, refundry.BatchCounts{Total: 6, Succeeded: 3, Failed: 3}, refundry.BatchCompleted)
	found, err := bs.FindRefundBatch(ctx, m.ID, b.ID)
	if err != nil || !found.Updated.After(found.Created) {
		t.Fatalf("completed batch = %+v, %v; want updated when it completed", found, err)
	}
}

// Workers of two stores claim and finish one batch's rows at once, some
// rows finished twice with different outcomes, as workers whose leases
// overlapped would: the kept counts end equal to the rows'.
func testBatchCountsConcurrent(t *testing.T, open Opener, count BatchCounter) {
	stores := []refundry.BatchStore{open(t).(refundry.BatchStore), open(t).(refundry.BatchStore)}
	s := open(t)
	ctx := context.Background()
	m := MustCreateMerchant(t, s)
	targets := make([]string, 120)
	for i := range targets {
		targets[i] = fmt.Sprintf("t%d", i)
	}
	b := mustCreateBatch(t, stores[0], m.ID, batchRows(targets...))

	var (
		mu   sync.Mutex
		own  []*refundry.BatchRow
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for w := range 6 {
		wg.Go(func() {
			bs := stores[w%2]
			for {
				got, err := bs.ClaimBatchRows(ctx, time.Minute, 7)
				if err != nil {
					fail(err)
					return
				}
				if len(got) == 0 {
					return
				}
				var other []*refundry.BatchRow
				mu.Lock()
				for _, r := range got {
					if r.BatchID == b.ID {
						own = append(own, r)
					} else {
						r.Status, r.Error = refundry.BatchRowFailed, "left over by another test"
						other = append(other, r)
					}
				}
				mu.Unlock()
				if len(other) > 0 {
					if err := bs.FinishBatchRows(ctx, other); err != nil {
						fail(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("claims: %v", errs)
	}
	kept, counted := count(t, b.ID)
	if kept != counted || counted.Processing != 120 {
		t.Fatalf("after the claims the batch keeps %+v, its rows count %+v; want 120 processing", kept, counted)
	}

	// Eight finishers, in chunks of 5; every fourth row is finished a
	// second time, by the next finisher, with the other outcome.
	work := make([][]*refundry.BatchRow, 8)
	for i, r := range own {
		r.Status = refundry.BatchRowSucceeded
		if i%3 == 0 {
			r.Status, r.Error = refundry.BatchRowFailed, "No such sale."
		}
		work[i%8] = append(work[i%8], r)
		if i%4 == 0 {
			twin := *r
			twin.Status, twin.Error = refundry.BatchRowSucceeded, ""
			if r.Status == refundry.BatchRowSucceeded {
				twin.Status, twin.Error = refundry.BatchRowFailed, "Gave up after 5 attempts."
			}
			work[(i+1)%8] = append(work[(i+1)%8], &twin)
		}
	}
	for w, rows := range work {
		wg.Go(func() {
			bs := stores[w%2]
			for len(rows) > 0 {
				n := min(5, len(rows))
				if err := bs.FinishBatchRows(ctx, rows[:n]); err != nil {
					fail(err)
					return
				}
				rows = rows[n:]
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("finishes: %v", errs)
	}
	kept, counted = count(t, b.ID)
	if kept != counted || counted.Pending+counted.Processing != 0 || counted.Succeeded+counted.Failed != 120 {
		t.Fatalf("after the finishes the batch keeps %+v, its rows count %+v", kept, counted)
	}
	wantCounts(t, stores[1], m.ID, b.ID, counted, refundry.BatchCompleted)
}
