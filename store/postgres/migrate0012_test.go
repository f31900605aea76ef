package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0012 upgrades with true line remainders: see
// storetest.CheckUpgrade0012 for the rows and what they become.
func TestMigrate0012AllocatesRefunds(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 12)
	refund := `INSERT INTO refunds (id, merchant_id, group_id, sale_id, transaction_id, line_item_id, amount, fee, currency, status, reason,
		offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source, refunded_at, created, updated)
		VALUES ($1, 'm1', $1, 's1', $2, $3, $4, 0, 'USD', $5, '', false, false, 'stripe', '', '', 'native', '', '', '', now(), now(), now())`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', now())`, nil},
		{`INSERT INTO customers VALUES ('c1', 'm1', '', '', '')`, nil},
		{`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'r1', 'USD', 3000, 1701, 'c1', '', '', now())`, nil},
		{`INSERT INTO line_items (id, sale_id, merchant_id, ord, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 'm1', 0, 'Widget', 2, 500, 1000, 400), ('l2', 's1', 'm1', 1, 'Gadget', 1, 1500, 1500, 0),
			('l3', 's1', 'm1', 2, 'Post', 1, 500, 500, 0)`, nil},
		{`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 's1', 'm1', 0, '', 'stripe', 'ch_1', 'USD', 2000, 1401, 0, 0, '', now()),
			('t2', 's1', 'm1', 1, '', 'stripe', 'ch_2', 'USD', 1000, 300, 0, 0, '', now())`, nil},
		{refund, []any{"r1", "t1", "l1", 400, "succeeded"}},
		{refund, []any{"r2", "t1", nil, 1001, "pending"}},
		{refund, []any{"r3", "t2", nil, 300, "succeeded"}},
		{refund, []any{"r4", "t1", nil, 500, "failed"}},
		{refund, []any{"r5", "t1", "l2", 200, "canceled"}},
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
	storetest.CheckUpgrade0012(t, s)
}
