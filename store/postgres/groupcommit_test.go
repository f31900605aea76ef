package postgres

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestStoreGroupCommitOff runs the conformance suite with each write in a
// transaction of its own; TestStore runs it with group commit on.
func TestStoreGroupCommitOff(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			s := mustOpenWith(t, iso, WithGroupCommit(false))
			storetest.Run(t, func(t *testing.T) refundry.Store { return s })
		})
	}
}

// TestGroupCommit forces a batch that holds refunds that must pass and
// refunds and settlements that must fail, and checks each gets its own
// answer and the store ends exact (invariants 2 and 4).
func TestGroupCommit(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			var mu sync.Mutex
			var sizes []int
			// One lane: Gather holds back the batch of the first lane.
			s := mustOpenWith(t, iso, WithGroupCommitLanes(1), WithBatchObserver(func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }))
			storetest.GroupCommit(t, s, s.batch.Gather)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Contains(sizes, 11) {
				t.Fatalf("batch sizes %v: the 11 writes never shared one batch", sizes)
			}
		})
	}
}

// TestGroupCommitRetried: a serialization failure in one write of a batch
// runs the whole batch again, every write of it, and all then succeed
// exactly once.
func TestGroupCommitRetried(t *testing.T) {
	s := mustOpenWith(t, serializable, WithGroupCommitLanes(1))
	s.backoffBase = time.Microsecond
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)

	var failed atomic.Bool
	var runs atomic.Int32
	s.batch.Gather(3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = s.CreateRefunds(context.Background(), storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
		})
	}
	wg.Go(func() {
		errs[2] = s.grouped(context.Background(), func(tx pgx.Tx) error {
			runs.Add(1)
			if !failed.Swap(true) {
				return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
			}
			return nil
		})
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if runs.Load() != 2 {
		t.Errorf("the failing write ran %d times, want 2", runs.Load())
	}
	if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 200 {
		t.Errorf("refunded %d, want 200: the first run's refunds must be gone", got)
	}
	if st := s.Stats(); st.Retries < 1 || st.SerializationFailures < 1 {
		t.Errorf("stats %+v: the batch was not retried", st)
	}
	storetest.CheckInvariants(t, s, m.ID)
}

// TestGroupCommitFallback: a write that fails with an error that is not
// its own (a statement PostgreSQL rejects, standing for a bug or a broken
// connection) aborts its batch, and the other writes are run again alone.
func TestGroupCommitFallback(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)

	s.batch.Gather(3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = s.CreateRefunds(context.Background(), storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
		})
	}
	wg.Go(func() {
		errs[2] = s.grouped(context.Background(), func(tx pgx.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO no_such_table VALUES (1)`)
			return err
		})
	})
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("neighbours of a broken write: %v, %v; want both to succeed", errs[0], errs[1])
	}
	if refundry.ErrorCode(errs[2]) != refundry.EINTERNAL {
		t.Fatalf("broken write: %v, want EINTERNAL", errs[2])
	}
	if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 200 {
		t.Fatalf("refunded %d, want 200", got)
	}
	storetest.CheckInvariants(t, s, m.ID)
}

// mustOpenWith opens a store of its own with options, closed at the end.
func mustOpenWith(t testing.TB, iso string, opts ...Option) *Store {
	t.Helper()
	needServer(t)
	s, err := Open(context.Background(), isolationURL(iso), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
