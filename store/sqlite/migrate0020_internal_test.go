package sqlite

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
)

// A batch made before 0020 gets its counts from its rows, and reads
// answer them. A batch made or worked after it by a process still on an
// older binary, which keeps no counts, is answered by counting its rows.
func TestMigrate0020CountsBatches(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0020")
	rows := `INSERT INTO refund_batch_rows (batch_id, row_num, target, amount, reason, status, attempts, updated) VALUES
		('b1', 1, 'x', NULL, '', 'pending', 0, 0), ('b1', 2, 'x', NULL, '', 'processing', 1, 0),
		('b1', 3, 'x', NULL, '', 'succeeded', 1, 0), ('b1', 4, 'x', NULL, '', 'succeeded', 2, 0), ('b1', 5, 'x', NULL, '', 'failed', 1, 0),
		('b2', 1, 'x', NULL, '', 'succeeded', 1, 0), ('b2', 2, 'x', NULL, '', 'failed', 1, 0)`
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`,
		`INSERT INTO refund_batches (id, merchant_id, status, total, created, updated) VALUES
			('b1', 'm1', 'processing', 5, 0, 0), ('b2', 'm1', 'completed', 2, 0, 1)`,
		rows,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := mustOpenInternal(t, path)
	kept := func(id string) refundry.BatchCounts {
		t.Helper()
		var c refundry.BatchCounts
		if err := s.write.QueryRowContext(ctx, `SELECT total, pending, processing, succeeded, failed FROM refund_batches WHERE id = ?`, id).Scan(
			&c.Total, &c.Pending, &c.Processing, &c.Succeeded, &c.Failed); err != nil {
			t.Fatal(err)
		}
		return c
	}
	find := func(id string, want refundry.BatchCounts, status string) {
		t.Helper()
		b, err := s.FindRefundBatch(ctx, "m1", id)
		if err != nil || b.Counts != want || b.Status != status {
			t.Fatalf("batch %s = %+v, %v; want %+v %s", id, b, err, want, status)
		}
	}
	b1 := refundry.BatchCounts{Total: 5, Pending: 1, Processing: 1, Succeeded: 2, Failed: 1}
	b2 := refundry.BatchCounts{Total: 2, Succeeded: 1, Failed: 1}
	if c := kept("b1"); c != b1 {
		t.Fatalf("b1 keeps %+v after 0020, want %+v", c, b1)
	}
	if c := kept("b2"); c != b2 {
		t.Fatalf("b2 keeps %+v after 0020, want %+v", c, b2)
	}
	before := s.Statements()
	find("b1", b1, refundry.BatchProcessing)
	find("b2", b2, refundry.BatchCompleted)
	if n := s.Statements() - before; n != 2 {
		t.Errorf("two reads of kept counts ran %d statements, want 2: one each, no count of rows", n)
	}

	// An older binary finishes b1's rows, and makes b3, keeping no counts.
	for _, q := range []string{
		`UPDATE refund_batch_rows SET status = 'failed' WHERE batch_id = 'b1' AND status IN ('pending', 'processing')`,
		`INSERT INTO refund_batches (id, merchant_id, status, total, created, updated) VALUES ('b3', 'm1', 'processing', 2, 0, 0)`,
		`INSERT INTO refund_batch_rows (batch_id, row_num, target, amount, reason, status, updated) VALUES ('b3', 1, 'x', NULL, '', 'pending', 0), ('b3', 2, 'x', NULL, '', 'pending', 0)`,
	} {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	find("b1", refundry.BatchCounts{Total: 5, Succeeded: 2, Failed: 3}, refundry.BatchCompleted)
	find("b3", refundry.BatchCounts{Total: 2, Pending: 2}, refundry.BatchProcessing)
}
