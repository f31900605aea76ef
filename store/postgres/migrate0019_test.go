package postgres

import (
	"context"
	"testing"
)

// A database made before 0019 keeps its sales, counts the over-refunded
// ones as before, and from then on a refund's update of its sale's amount
// is HOT: it changes no indexed column, so no index gets a new entry.
func TestMigrate0019SaleUpdatesStayHOT(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 19)
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', now())`,
		`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 400, 'c1', '', '', now()), ('s2', 'm1', 'o2', 'USD', 1000, 1200, 'c1', '', '', now())`,
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
	if n, err := s.CountOverRefundedSales(ctx); err != nil || n != 1 {
		t.Fatalf("CountOverRefundedSales = %d, %v; want 1", n, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, c := range []struct {
		sql string
		hot int64
	}{
		// A refund: the sale stays under what was paid.
		{`UPDATE sales SET refunded_amount = refunded_amount + 100 WHERE id = 's1'`, 1},
		// An adoption that takes it past: the partial index must learn it.
		{`UPDATE sales SET refunded_amount = refunded_amount + 600 WHERE id = 's1'`, 1},
	} {
		if _, err := tx.Exec(ctx, c.sql); err != nil {
			t.Fatal(err)
		}
		// The counters of the transaction itself, so no wait for the
		// statistics collector.
		var hot int64
		if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_hot_updated('sales'::regclass)`).Scan(&hot); err != nil {
			t.Fatal(err)
		}
		if hot != c.hot {
			t.Errorf("%s: %d HOT updates so far, want %d", c.sql, hot, c.hot)
		}
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sales WHERE over_refunded`).Scan(&n); err != nil || n != 2 {
		t.Errorf("over-refunded sales after the adoption: %d, %v; want 2", n, err)
	}
}
