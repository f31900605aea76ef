package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

func TestBatchStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	storetest.RunBatches(t, func(t *testing.T) refundry.Store { return mustOpen(t, path) })
}

// The counts a batch keeps, on one file that two stores share as two
// processes would.
func TestBatchCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	open := func(t *testing.T) refundry.Store { return mustOpen(t, path) }
	open(t)
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.RunBatchCounts(t, open, func(tb testing.TB, id string) (kept, counted refundry.BatchCounts) {
		tb.Helper()
		kept, counted = batchCounts(tb, db, id)
		return kept, counted
	})
}

// batchCounts reads the counts batch id keeps and counts its rows.
func batchCounts(tb testing.TB, db *sql.DB, id string) (kept, counted refundry.BatchCounts) {
	tb.Helper()
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, `SELECT total, pending, processing, succeeded, failed FROM refund_batches WHERE id = ?`, id).Scan(
		&kept.Total, &kept.Pending, &kept.Processing, &kept.Succeeded, &kept.Failed); err != nil {
		tb.Fatal(err)
	}
	counted.Total = kept.Total
	rows, err := db.QueryContext(ctx, `SELECT status, COUNT(*) FROM refund_batch_rows WHERE batch_id = ? GROUP BY status`, id)
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
