package sqlite

import (
	"context"
	"testing"
)

// 0019 changes nothing on SQLite: a database made before it keeps its
// sales and counts the over-refunded ones as before.
func TestMigrate0019KeepsSales(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0019")
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`,
		`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 400, 'c1', '', '', 0), ('s2', 'm1', 'o2', 'USD', 1000, 1200, 'c1', '', '', 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := mustOpenInternal(t, path)
	if n, err := s.CountOverRefundedSales(ctx); err != nil || n != 1 {
		t.Fatalf("CountOverRefundedSales = %d, %v; want 1", n, err)
	}
	var n int
	if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = '0019_hot_updates.sql'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("0019 recorded %d times, %v; want once", n, err)
	}
}
