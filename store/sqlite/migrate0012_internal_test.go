package sqlite

import (
	"context"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0012 upgrades with true line remainders: a line
// refund keeps its line, sale and transaction refunds that hold money are
// allocated over the lines by the allocation rule (largest remainder),
// refunds that hold none get no lines, and a release afterwards reverses
// exactly what the backfill put on the lines.
func TestMigrate0012AllocatesRefunds(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0012")
	refund := `INSERT INTO refunds (id, merchant_id, grp, sale_id, transaction_id, line_item_id, amount, fee, currency, status, reason,
		offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source, refunded_at, created, updated)
		VALUES (?, 'm1', ?, 's1', ?, ?, ?, 0, 'USD', ?, '', 0, 0, 'stripe', '', '', 'native', '', '', '', 0, 0, 0)`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`, nil},
		{`INSERT INTO customers VALUES ('c1', 'm1', '', '', '')`, nil},
		{`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'r1', 'USD', 3000, 1701, 'c1', '', '', 0)`, nil},
		{`INSERT INTO line_items (id, sale_id, position, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 0, 'Widget', 2, 500, 1000, 400), ('l2', 's1', 1, 'Gadget', 1, 1500, 1500, 0), ('l3', 's1', 2, 'Post', 1, 500, 500, 0)`, nil},
		{`INSERT INTO transactions (id, merchant_id, sale_id, position, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 'm1', 's1', 0, '', 'stripe', 'ch_1', 'USD', 2000, 1401, 0, 0, '', 0),
			('t2', 'm1', 's1', 1, '', 'stripe', 'ch_2', 'USD', 1000, 300, 0, 0, '', 0)`, nil},
		{refund, []any{"r1", "r1", "t1", "l1", 400, "succeeded"}},
		{refund, []any{"r2", "r2", "t1", nil, 1001, "pending"}},
		{refund, []any{"r3", "r3", "t2", nil, 300, "succeeded"}},
		{refund, []any{"r4", "r4", "t1", nil, 500, "failed"}},
		{refund, []any{"r5", "r5", "t1", "l2", 200, "canceled"}},
	} {
		if _, err := db.ExecContext(ctx, q.text, q.args...); err != nil {
			t.Fatalf("%s: %v", q.text, err)
		}
	}
	db.Close()

	s := mustOpenInternal(t, path)
	storetest.CheckUpgrade0012(t, s)
}
