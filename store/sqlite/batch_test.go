package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestBatchClaimFinishChunks claims and finishes chunks that span two
// batches, hold rows whose lease ran out beside pending ones, skip rows
// finished meanwhile, and run past one finishing statement (64 rows):
// every row is leased once per claim and finished with its own outcome,
// and the kept counts move from what each row really was.
func TestBatchClaimFinishChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	s := mustOpen(t, path)
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	m := storetest.MustCreateMerchant(t, s)
	var batches []*refundry.RefundBatch
	for range 2 {
		var rows []*refundry.BatchRow
		for i := range 150 {
			rows = append(rows, &refundry.BatchRow{Target: fmt.Sprintf("EV-%d", i), Amount: storetest.Amount(10)})
		}
		b := &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: m.ID}
		if _, err := s.CreateRefundBatch(ctx, b, rows, nil); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	// Claims take batches in id order.
	slices.SortFunc(batches, func(a, b *refundry.RefundBatch) int { return strings.Compare(a.ID, b.ID) })
	first, second := batches[0].ID, batches[1].ID
	claim := func(lease time.Duration, limit int) []*refundry.BatchRow {
		t.Helper()
		got, err := s.ClaimBatchRows(ctx, lease, limit)
		if err != nil {
			t.Fatalf("ClaimBatchRows: %v", err)
		}
		return got
	}
	finish := func(rows []*refundry.BatchRow) {
		t.Helper()
		for _, r := range rows {
			r.Status, r.RefundID, r.RefundStat, r.Error = refundry.BatchRowSucceeded, fmt.Sprintf("re_%s_%d", r.BatchID, r.Row), refundry.RefundSucceeded, ""
			if r.Row%3 == 0 {
				r.Status, r.RefundID, r.RefundStat, r.Error = refundry.BatchRowFailed, "", "", fmt.Sprintf("row %d refused", r.Row)
			}
		}
		if err := s.FinishBatchRows(ctx, rows); err != nil {
			t.Fatalf("FinishBatchRows: %v", err)
		}
	}
	type claimed struct {
		batch         string
		row, attempts int
	}
	wantClaim := func(got []*refundry.BatchRow, want []claimed) {
		t.Helper()
		var have []claimed
		for _, r := range got {
			have = append(have, claimed{r.BatchID, r.Row, r.Attempts})
			if r.Status != refundry.BatchRowProcessing || !r.LeaseUntil.After(time.Now().Add(-time.Second)) {
				t.Errorf("row %d of %s claimed as %s until %v", r.Row, r.BatchID, r.Status, r.LeaseUntil)
			}
		}
		if !slices.Equal(have, want) {
			t.Fatalf("claimed %v\nwant %v", have, want)
		}
	}
	span := func(batch string, from, to, attempts int) []claimed {
		var out []claimed
		for r := from; r <= to; r++ {
			out = append(out, claimed{batch, r, attempts})
		}
		return out
	}

	rows := claim(time.Millisecond, 100)
	wantClaim(rows, span(first, 1, 100, 1))
	finish(rows[19:29]) // rows 20-29, before their lease runs out
	time.Sleep(20 * time.Millisecond)

	// The lease of rows 1-19 and 30-100 ran out: they come first, then
	// the pending rows, the first batch's before the second's.
	rows = claim(time.Minute, 250)
	wantClaim(rows, slices.Concat(span(first, 1, 19, 2), span(first, 30, 100, 2), span(first, 101, 150, 1), span(second, 1, 110, 1)))
	// Rows 20-21 again, from another worker whose claim ran out after
	// they were finished: recorded again, counted from what they were.
	again := []*refundry.BatchRow{{BatchID: first, Row: 20}, {BatchID: first, Row: 21}}
	finish(append(rows, again...))

	b, err := s.FindRefundBatch(ctx, m.ID, first)
	if err != nil {
		t.Fatal(err)
	}
	if want := (refundry.BatchCounts{Total: 150, Succeeded: 100, Failed: 50}); b.Counts != want || b.Status != refundry.BatchCompleted {
		t.Errorf("first batch: %+v %s, want %+v completed", b.Counts, b.Status, want)
	}
	b, err = s.FindRefundBatch(ctx, m.ID, second)
	if err != nil {
		t.Fatal(err)
	}
	// Rows 1-110: 36 of them numbered by 3.
	if want := (refundry.BatchCounts{Total: 150, Pending: 40, Succeeded: 74, Failed: 36}); b.Counts != want || b.Status != refundry.BatchProcessing {
		t.Errorf("second batch: %+v %s, want %+v processing", b.Counts, b.Status, want)
	}
	for _, id := range []string{first, second} {
		// The kept counts themselves, which a read would not trust if
		// they were off, but count the rows instead.
		if kept, counted := batchCounts(t, db, id); kept != counted {
			t.Errorf("batch %s keeps %+v, its rows count %+v", id, kept, counted)
		}
		list, err := s.ListBatchRows(ctx, m.ID, id, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			want := refundry.BatchRowSucceeded
			switch {
			case id == second && r.Row > 110:
				want = refundry.BatchRowPending
			case r.Row%3 == 0:
				want = refundry.BatchRowFailed
			}
			if r.Status != want {
				t.Errorf("row %d of %s: %s, want %s", r.Row, id, r.Status, want)
			}
			if want == refundry.BatchRowSucceeded && r.RefundID != fmt.Sprintf("re_%s_%d", id, r.Row) {
				t.Errorf("row %d of %s: refund %q", r.Row, id, r.RefundID)
			}
			if want == refundry.BatchRowFailed && r.Error != fmt.Sprintf("row %d refused", r.Row) {
				t.Errorf("row %d of %s: error %q", r.Row, id, r.Error)
			}
		}
	}
	wantClaim(claim(time.Minute, 1000), span(second, 111, 150, 1))
}
