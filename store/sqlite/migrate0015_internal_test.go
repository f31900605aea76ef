package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// oldRows0015 writes, into a database migrated before 0015, the rows
// storetest.CheckUpgrade0015 expects: refunds and keys that the rebuilt
// tables must keep, and rows of other tables that refer to them.
func oldRows0015(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	refund := `INSERT INTO refunds (id, merchant_id, grp, sale_id, transaction_id, amount, fee, currency, status, reason,
		offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source, refunded_at,
		created, updated, next_attempt_at, recovery_attempts, description)
		VALUES (?, 'm1', ?, 's1', 't1', ?, 0, 'USD', ?, '', 0, 0, 'simulator', '', '', 'native', '', '', '', 0, 0, 0, ?, ?, 'kept')`
	key := `INSERT INTO api_keys (id, merchant_id, hash, created, name, scope) VALUES (?, 'm1', ?, 0, ?, ?)`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`, nil},
		{`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`, nil},
		{`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 400, 'c1', '', '', 0)`, nil},
		{`INSERT INTO line_items (id, sale_id, position, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 0, 'Widget', 1, 1000, 1000, 400)`, nil},
		{`INSERT INTO transactions (id, merchant_id, sale_id, position, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 'm1', 's1', 0, '', 'simulator', 'ch_1', 'USD', 1000, 400, 0, 0, '', 0)`, nil},
		{refund, []any{"r1", "r1", 300, "pending", 5000000, 3}},
		{refund, []any{"r2", "r2", 100, "succeeded", nil, 0}},
		{refund, []any{"r3", "r3", 200, "failed", nil, 1}},
		{`INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount) VALUES ('r1', 'l1', 0, 300), ('r2', 'l1', 0, 100)`, nil},
		{`INSERT INTO notifications (id, merchant_id, refund_id, sale_id, recipient, customer_name, merchant_name, sale_reference,
			amount, currency, status, attempts, last_error, next_attempt, locked_until, sent_at, created)
			VALUES ('n1', 'm1', 'r2', 's1', 'ada@example.com', 'Ada', 'Old', 'o1', 100, 'USD', 'sent', 1, '', 0, 0, 1, 0)`, nil},
		{key, []any{"k1", []byte("hash-k1"), "key k1", "read"}},
		{key, []any{"k2", []byte("hash-k2"), "key k2", "refund"}},
		{key, []any{"k3", []byte("hash-k3"), "key k3", "write"}},
		{`INSERT INTO audit_log VALUES ('a1', 'm1', 'k3', 'refund.create', 'r1', 'succeeded', '', '', 'POST', '/v1/refunds', 0)`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.text, q.args...); err != nil {
			t.Fatalf("%s: %v", q.text, err)
		}
	}
}

// A database made before 0015 keeps every refund and key through the
// rebuild of their tables, with the rows that refer to them, and comes
// out with foreign keys enforced again.
func TestMigrate0015KeepsRows(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0015")
	oldRows0015(t, ctx, db)
	db.Close()

	s := mustOpenInternal(t, path)
	var attempts int
	var next sql.NullInt64
	if err := s.write.QueryRowContext(ctx, `SELECT recovery_attempts, next_attempt_at FROM refunds WHERE id = 'r1'`).Scan(&attempts, &next); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || next.Int64 != 5000000 {
		t.Fatalf("r1's recovery schedule after 0015: %d attempts, next %v", attempts, next)
	}
	var n int
	if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE refund_id = 'r2'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("r2's notification after 0015: %d, %v", n, err)
	}
	if err := s.write.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("foreign_keys after the migrations = %d, %v", n, err)
	}
	// Enforced, not only on: a line of a refund that does not exist is refused.
	if _, err := s.write.ExecContext(ctx, `INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount) VALUES ('nope', 'l1', 0, 1)`); err == nil {
		t.Fatal("a refund line of a missing refund was stored")
	}
	var indexes []string
	rows, err := s.write.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'refunds' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	rows.Close()
	// 0015 made every index again; 0022 dropped those another serves.
	want := "refunds_approval_due refunds_due refunds_gateway_refund refunds_merchant " +
		"refunds_merchant_created refunds_queue refunds_sale refunds_updated"
	if got := strings.Join(indexes, " "); got != want {
		t.Fatalf("indexes of refunds after 0015 and 0022:\n%s\nwant\n%s", got, want)
	}
	storetest.CheckUpgrade0015(t, s)
}

// A migration that leaves a foreign key broken is rolled back whole: the
// store does not open, and the database stays as it was.
func TestMigrateRefusesBrokenForeignKeys(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0015")
	oldRows0015(t, ctx, db)
	// A row an older bug could have left: its refund does not exist.
	for _, q := range []string{`PRAGMA foreign_keys = OFF`,
		`INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount) VALUES ('gone', 'l1', 0, 1)`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err == nil {
		s.Close()
		t.Fatal("the store opened with a broken foreign key")
	}
	if !strings.Contains(err.Error(), "0015") || !strings.Contains(err.Error(), "refund_lines") {
		t.Fatalf("error = %v, want one naming the migration and the table", err)
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = '0015_controls.sql'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("0015 recorded: %d, %v", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('users', 'refunds_0015')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("0015's tables exist after its rollback: %d, %v", n, err)
	}
}
