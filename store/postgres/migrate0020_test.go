package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
)

// A batch made before 0020 gets its counts from its rows, and reads
// answer them. A batch made or worked after it by a process still on an
// older binary (a rolling upgrade), which keeps no counts, is answered by
// counting its rows.
func TestMigrate0020CountsBatches(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 20)
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', now())`,
		`INSERT INTO refund_batches (id, merchant_id, status, total, created, updated) VALUES
			('b1', 'm1', 'processing', 5, now(), now()), ('b2', 'm1', 'completed', 2, now(), now())`,
		`INSERT INTO refund_batch_rows (batch_id, row_num, target, amount, reason, status, attempts, updated) VALUES
			('b1', 1, 'x', NULL, '', 'pending', 0, now()), ('b1', 2, 'x', NULL, '', 'processing', 1, now()),
			('b1', 3, 'x', NULL, '', 'succeeded', 1, now()), ('b1', 4, 'x', NULL, '', 'succeeded', 2, now()),
			('b1', 5, 'x', NULL, '', 'failed', 1, now()),
			('b2', 1, 'x', NULL, '', 'succeeded', 1, now()), ('b2', 2, 'x', NULL, '', 'failed', 1, now())`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	find := func(id string, want refundry.BatchCounts, status string) {
		t.Helper()
		b, err := s.FindRefundBatch(ctx, "m1", id)
		if err != nil || b.Counts != want || b.Status != status {
			t.Fatalf("batch %s = %+v, %v; want %+v %s", id, b, err, want, status)
		}
	}
	b1 := refundry.BatchCounts{Total: 5, Pending: 1, Processing: 1, Succeeded: 2, Failed: 1}
	b2 := refundry.BatchCounts{Total: 2, Succeeded: 1, Failed: 1}
	for id, want := range map[string]refundry.BatchCounts{"b1": b1, "b2": b2} {
		if kept, counted := batchCounts(t, s, id); kept != want || counted != want {
			t.Fatalf("%s keeps %+v after 0020, its rows count %+v; want %+v", id, kept, counted, want)
		}
	}
	find("b1", b1, refundry.BatchProcessing)
	find("b2", b2, refundry.BatchCompleted)

	// An older binary finishes b1's rows, and makes b3, keeping no counts.
	for _, q := range []string{
		`UPDATE refund_batch_rows SET status = 'failed' WHERE batch_id = 'b1' AND status IN ('pending', 'processing')`,
		`INSERT INTO refund_batches (id, merchant_id, status, total, created, updated) VALUES ('b3', 'm1', 'processing', 2, now(), now())`,
		`INSERT INTO refund_batch_rows (batch_id, row_num, target, amount, reason, status, updated) VALUES ('b3', 1, 'x', NULL, '', 'pending', now()), ('b3', 2, 'x', NULL, '', 'pending', now())`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	find("b1", refundry.BatchCounts{Total: 5, Succeeded: 2, Failed: 3}, refundry.BatchCompleted)
	find("b3", refundry.BatchCounts{Total: 2, Pending: 2}, refundry.BatchProcessing)
}
