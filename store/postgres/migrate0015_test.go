package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0015 keeps every refund, key and audit entry,
// gains the controls' columns empty, and lets in the approve scope.
func TestMigrate0015KeepsRows(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 15)
	refund := `INSERT INTO refunds (id, merchant_id, group_id, sale_id, transaction_id, amount, fee, currency, status, reason,
		offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source, refunded_at,
		created, updated, recovery_attempts, description)
		VALUES ($1, 'm1', $1, 's1', 't1', $2, 0, 'USD', $3, '', false, false, 'simulator', '', '', 'native', '', '', '', now(), now(), now(), $4, 'kept')`
	key := `INSERT INTO api_keys (id, merchant_id, hash, created, name, scope) VALUES ($1, 'm1', $2, now(), $3, $4)`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', now())`, nil},
		{`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`, nil},
		{`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 400, 'c1', '', '', now())`, nil},
		{`INSERT INTO line_items (id, sale_id, merchant_id, ord, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 'm1', 0, 'Widget', 1, 1000, 1000, 400)`, nil},
		{`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 's1', 'm1', 0, '', 'simulator', 'ch_1', 'USD', 1000, 400, 0, 0, '', now())`, nil},
		{refund, []any{"r1", 300, "pending", 3}},
		{refund, []any{"r2", 100, "succeeded", 0}},
		{refund, []any{"r3", 200, "failed", 1}},
		{`INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount) VALUES ('r1', 'l1', 0, 300), ('r2', 'l1', 0, 100)`, nil},
		{key, []any{"k1", []byte("hash-k1"), "key k1", "read"}},
		{key, []any{"k2", []byte("hash-k2"), "key k2", "refund"}},
		{key, []any{"k3", []byte("hash-k3"), "key k3", "write"}},
		{`INSERT INTO audit_log VALUES ('a1', 'm1', 'k3', 'refund.create', 'r1', 'succeeded', '', '', 'POST', '/v1/refunds', now())`, nil},
	} {
		if _, err := conn.Exec(ctx, q.text, q.args...); err != nil {
			t.Fatalf("%s: %v", q.text, err)
		}
	}
	conn.Close(ctx)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgrade0015(t, s)
}
