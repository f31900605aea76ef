package sqlite

import (
	"context"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0016 keeps its payments, lines and webhook
// endpoints, which name no gateway account, and gains the accounts table.
func TestMigrate0016KeepsRows(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0016")
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`,
		`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 0, 'c1', '', '', 0)`,
		`INSERT INTO line_items (id, sale_id, position, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 0, 'Widget', 1, 1000, 1000, 0)`,
		`INSERT INTO transactions (id, merchant_id, sale_id, position, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 'm1', 's1', 0, '', 'simulator', '', 'USD', 1000, 0, 0, 0, '', 0)`,
		`INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status,
			disabled_reason, failure_streak, failing_since, created, updated)
			VALUES ('w1', 'm1', 'https://example.com/hook', '["*"]', 'whsec_1', 'enabled', '', 0, 0, 0, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s := mustOpenInternal(t, path)
	storetest.CheckUpgrade0016(t, s)
}
