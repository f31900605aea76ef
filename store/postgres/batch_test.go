package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// The refund batch suite, at both isolation levels, on the run's database.
func TestBatchStore(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			needServer(t)
			storetest.RunBatches(t, func(t *testing.T) refundry.Store { return sharedStore(t, iso) })
		})
	}
}

// The counts a batch keeps, at both isolation levels; each store opened
// has a pool of its own, as a process would.
func TestBatchCounts(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			needServer(t)
			s := sharedStore(t, iso)
			storetest.RunBatchCounts(t, func(t *testing.T) refundry.Store { return mustOpen(t, iso) },
				func(tb testing.TB, id string) (kept, counted refundry.BatchCounts) {
					tb.Helper()
					return batchCounts(tb, s, id)
				})
		})
	}
}

// batchCounts reads the counts batch id keeps and counts its rows.
func batchCounts(tb testing.TB, s *Store, id string) (kept, counted refundry.BatchCounts) {
	tb.Helper()
	ctx := context.Background()
	if err := s.pool.QueryRow(ctx, `SELECT total, pending, processing, succeeded, failed FROM refund_batches WHERE id = $1`, id).Scan(
		&kept.Total, &kept.Pending, &kept.Processing, &kept.Succeeded, &kept.Failed); err != nil {
		tb.Fatal(err)
	}
	counted.Total = kept.Total
	rows, err := s.pool.Query(ctx, `SELECT status, COUNT(*) FROM refund_batch_rows WHERE batch_id = $1 GROUP BY status`, id)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			tb.Fatal(err)
		}
		counted.Add(st, n)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return kept, counted
}
