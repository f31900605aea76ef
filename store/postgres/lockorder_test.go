package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

			refundRace{stores: stores, merchant: m.ID, sales: sales, refunds: 96, lineItem: 1, releaseEvery: 5}.run(t)
			checkNoDeadlocks(t, stores...)
		})
	}
}

// TestInvariant2SaleLockedBeforeRead pins the first layer of invariant 2
// in CreateRefunds: the sale's row is locked before the sale is read. A
// reservation of the sale is left uncommitted in another transaction
// while a second refund of it starts; once the second waits for a lock,
// the first commits. Locked before the read, the second plans on what the
// first committed, and answers with the sale refunded in full. Read
// before any lock, it would plan on the sale as it was: the conditional
// updates still keep the amounts right, but it would answer with a sale
// missing the first refund.
func TestInvariant2SaleLockedBeforeRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"GroupCommitOff", []Option{WithGroupCommit(false)}},
		{"GroupCommitOn", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), freshDatabase(t), tc.opts...)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			m := storetest.MustCreateMerchant(t, s)
			sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(300, 700))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			first, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Rollback(context.WithoutCancel(ctx))
			if _, err := createRefunds(ctx, first, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(400)), s.now()); err != nil {
				t.Fatalf("first refund: %v", err)
			}

			type answer struct {
				res *refundry.RefundResult
				err error
			}
			second := make(chan answer, 1)
			go func() {
				res, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(600)))
				second <- answer{res, err}
			}()
			waitForLockWait(ctx, t, s)
			if err := first.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			a := <-second
			if a.err != nil {
				t.Fatalf("second refund: %v", a.err)
			}
			if got := a.res.Sale; got.RefundedAmount != 1000 || got.Status != refundry.PaymentRefunded {
				t.Errorf("second refund answered the sale as %d refunded, %s; want 1000, %s: it read the sale before locking it",
					got.RefundedAmount, got.Status, refundry.PaymentRefunded)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestInvariant2BatchLocksSalesFirst: a group-commit batch locks the
// sales its writes name before any of them runs, in the order of their
// ids, whatever order the writes came in and whatever they lock
// themselves. The lower sale is held by another transaction; while the
// batch waits for it, the higher one must still be free, or a batch of
// another process taking them the other way round would deadlock with it.
func TestInvariant2BatchLocksSalesFirst(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
	m := storetest.MustCreateMerchant(t, s)
	low := storetest.MustCreateSale(t, s, m.ID)
	high := storetest.MustCreateSale(t, s, m.ID)
	if low.ID > high.ID {
		low, high = high, low
	}
	lock := func(id string) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			_, err := tx.Exec(context.Background(), `SELECT id FROM sales WHERE id = $1 FOR UPDATE`, id)
			return err
		}
	}
	both := func(tx pgx.Tx) error {
		// Takes the higher sale first: only the batch's own lock, taken
		// before, keeps the order.
		if err := lock(high.ID)(tx); err != nil {
			return err
		}
		return lock(low.ID)(tx)
	}
	type write struct {
		sale string
		fn   func(pgx.Tx) error
	}
	for _, tc := range []struct {
		name   string
		writes []write
		runs   int
	}{
		{"LoneWriteLockingOutOfOrder", []write{{low.ID, both}}, 1},
		// Which write the batch takes first is up to the scheduler, so
		// the pair runs a few times.
		{"TwoWrites", []write{{high.ID, lock(high.ID)}, {low.ID, lock(low.ID)}}, 6},
	} {
		for run := range tc.runs {
			t.Run(fmt.Sprint(tc.name, run), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				holder, err := s.pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer holder.Rollback(context.WithoutCancel(ctx))
				if err := lock(low.ID)(holder); err != nil {
					t.Fatal(err)
				}
				s.batch.Gather(len(tc.writes))
				errs := make([]error, len(tc.writes))
				var wg sync.WaitGroup
				for i, w := range tc.writes {
					wg.Go(func() { errs[i] = s.grouped(forSale(ctx, m.ID, w.sale), w.fn) })
				}
				waitForLockWait(ctx, t, s)
				probe, err := s.pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, err = probe.Exec(ctx, `SELECT id FROM sales WHERE id = $1 FOR UPDATE NOWAIT`, high.ID)
				probe.Rollback(ctx)
				if err != nil {
					t.Errorf("while the batch waits for sale %s, sale %s is locked (%v): the batch took its sales out of order", low.ID, high.ID, err)
				}
				if err := holder.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("write %d: %v", i, err)
					}
				}
			})
		}
	}
}

// waitForLockWait returns once a session of s's database other than the
// caller's waits for a lock.
func waitForLockWait(ctx context.Context, t *testing.T, s *Store) {
	t.Helper()
	waitFor(ctx, t, "a session to wait for a lock", func() bool {
		var n int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
}

// waitFor polls cond until it holds, failing the test at ctx's deadline.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
