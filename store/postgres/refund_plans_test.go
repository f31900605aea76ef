package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundry/refundry"
)

// refundPlanRows fills a fresh database with 12,000 refunds over three
// merchants, 6,000 sales, their payments and lines, a few pending or
// waiting for a person, spread over 90 days, and fresh statistics: on a
// nearly empty table every plan is a scan, the cheapest there.
var refundPlanRows = []string{
	`INSERT INTO merchants (id, slug, name, currency, created) SELECT 'm' || i, 'm' || i, 'M', 'USD', now() FROM generate_series(1, 3) i`,
	`INSERT INTO customers (id, merchant_id, email, first_name, last_name)
			SELECT 'c' || i, 'm' || (i % 3 + 1), 'c' || i || '@example.com', 'F', 'L' FROM generate_series(1, 3000) i`,
	`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			SELECT 's' || lpad(i::text, 19, '0'), 'm' || (i % 3 + 1), 'o' || i, 'USD', 1000, 300, 'c' || (i % 3000 + 1), '', '',
			now() - interval '90 days' + i * interval '20 minutes' FROM generate_series(1, 6000) i`,
	`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount, refunded_amount,
			processing_fee, base_amount, base_currency, created, gateway_account)
			SELECT 't' || lpad(i::text, 19, '0'), 's' || lpad(i::text, 19, '0'), 'm' || (i % 3 + 1), 0, '', 'simulator', 'ch_' || i, 'USD', 1000, 300,
			0, 1000, 'USD', now() - interval '90 days' + i * interval '20 minutes', CASE WHEN i % 50 = 0 THEN 'ga' || (i % 3 + 1) ELSE '' END
			FROM generate_series(1, 6000) i`,
	`INSERT INTO line_items (id, sale_id, merchant_id, ord, name, quantity, unit_amount, amount, refunded_amount)
			SELECT 'l' || lpad(i::text, 19, '0') || k, 's' || lpad(i::text, 19, '0'), 'm' || (i % 3 + 1), k, 'x', 1, 500, 500, 150
			FROM generate_series(1, 6000) i, generate_series(0, 1) k`,
	`INSERT INTO refunds (id, merchant_id, group_id, sale_id, transaction_id, line_item_id, amount, fee, currency, status, reason,
			metadata, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source,
			refunded_at, created, updated, approval_expires_at)
			SELECT 'r' || lpad((i * 2 + k)::text, 19, '0'), 'm' || (i % 3 + 1), 'r' || lpad((i * 2)::text, 19, '0'),
			's' || lpad(i::text, 19, '0'), 't' || lpad(i::text, 19, '0'), 'l' || lpad(i::text, 19, '0') || k, 150, 0, 'USD',
			CASE WHEN i % 97 = 0 THEN 'pending' WHEN i % 89 = 0 THEN 'requires_approval' WHEN i % 83 = 0 THEN 'requires_action'
				WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END,
			'other', NULL, false, false, 'simulator', CASE WHEN i % 97 = 0 OR i % 89 = 0 THEN '' ELSE 're_' || i || '_' || k END, '',
			'api', '', '', 'api', now(), now() - interval '90 days' + i * interval '20 minutes' + interval '1 minute',
			now() - interval '90 days' + i * interval '20 minutes' + interval '2 minutes',
			CASE WHEN i % 89 = 0 THEN now() + interval '1 day' END
			FROM generate_series(1, 6000) i, generate_series(0, 1) k`,
	`ANALYZE`,
}

// TestRefundQueryPlans reads PostgreSQL's plan of every query on refunds
// that runs per request or per worker pass, both the plan for the values
// given and the generic plan a prepared statement falls back to (pgx
// prepares every statement): each must find its rows through the index
// named (docs/storage.md, "Indexes of refunds"), never scan the table, and
// a list filtered by sale, payment, line or group must not walk the
// merchant's refunds in id order. An index dropped, or a query changed
// so that no index serves it, fails here instead of slowing down with the
// table.
func TestRefundQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, stmt := range refundPlanRows {
		if _, err := s.pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	type plan struct {
		text string
		args []any
	}
	list := func(f refundry.RefundFilter) plan {
		t.Helper()
		if err := f.Page.Normalize(); err != nil {
			t.Fatal(err)
		}
		text, args := listRefundsQuery("m1", f)
		return plan{text, args}
	}
	held := func(target refundry.RefundTarget) plan {
		text, arg := heldRefundsQuery(target)
		return plan{text, []any{"m1", arg, heldStatuses}}
	}
	now := time.Now().UTC()
	sale, txn, line, group := "s0000000000000000300", "t0000000000000000300", "l00000000000000003001", "r0000000000000000600"
	const walk = "Index Scan Backward using refunds_merchant_idx"
	for _, tt := range []struct {
		name string
		plan
		want string
		not  string
	}{
		{"FindRefund", plan{findRefundQuery, []any{group, "m1"}}, "refunds_pkey|refunds_merchant_idx", ""},
		{"ListRefunds", list(refundry.RefundFilter{}), "refunds_merchant_idx", ""},
		{"ListRefundsNextPage", list(refundry.RefundFilter{Page: refundry.Page{StartingAfter: group}}), "refunds_merchant_idx|refunds_pkey", ""},
		{"ListRefundsOfSale", list(refundry.RefundFilter{SaleID: sale}), "refunds_sale_idx", walk},
		{"ListRefundsOfTransaction", list(refundry.RefundFilter{TransactionID: txn}), "refunds_sale_idx", walk},
		{"ListRefundsOfLineItem", list(refundry.RefundFilter{LineItemID: line}), "refunds_sale_idx", walk},
		{"ListRefundsOfGroup", list(refundry.RefundFilter{Group: group}), "refunds_sale_idx", walk},
		{"ListRefundsCreated", list(refundry.RefundFilter{CreatedFrom: now.Add(-24 * time.Hour), CreatedTo: now}), "Index", ""},
		{"PendingRefunds", plan{pendingRefundsQuery, []any{now, 1}}, "refunds_due_idx", "refunds_created_idx"},
		{"PendingMerchants", plan{pendingMerchants, nil}, "refunds_due_idx", ""},
		{"DueOfMerchants", plan{dueOfMerchants, []any{[]string{"m1", "m2"}, now, 10}}, "refunds_due_idx", ""},
		{"ReasonCounts", plan{reasonCountsQuery, []any{"m1", now.Add(-24 * time.Hour), now}}, "refunds_created_idx", ""},
		{"RecentCharges", plan{recentChargesQuery, []any{"simulator", "", "", now.Add(-time.Hour), 100}}, "refunds_updated_idx", ""},
		{"ReportedByGatewayID", plan{reportedByGatewayID, []any{"simulator", "re_300_0", "m1", sale}}, "Index", ""},
		{"ReportedByID", plan{reportedByID, []any{group, "m1", txn}}, "refunds_pkey|refunds_merchant_idx", ""},
		{"AccountUnsettled", plan{accountUnsettledQuery, []any{"m1", "ga1", refundry.UnsettledStatuses()}}, "refunds_sale_idx", ""},
		{"ExpiredApprovals", plan{expiredApprovalsQuery, []any{now, 10}}, "refunds_approval_due_idx", ""},
		{"HeldRefundsOfSale", held(refundry.RefundTarget{SaleID: sale}), "refunds_sale_idx", "refunds_merchant_idx"},
		{"HeldRefundsOfTransaction", held(refundry.RefundTarget{TransactionID: txn}), "refunds_sale_idx", "refunds_merchant_idx"},
		{"HeldRefundsOfLineItem", held(refundry.RefundTarget{LineItemID: line}), "refunds_sale_idx", "refunds_merchant_idx"},
		{"Queues", plan{queuesQuery + ` AND merchant_id = $1 GROUP BY status`, []any{"m1"}}, "refunds_queue_idx", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, generic := range []bool{false, true} {
				text := explain(t, s, tt.text, tt.args, generic)
				if strings.Contains(text, "Seq Scan on refunds") {
					t.Errorf("generic %v: plan scans refunds", generic)
				}
				if !containsAny(text, strings.Split(tt.want, "|")) {
					t.Errorf("generic %v: plan does not use %s", generic, tt.want)
				}
				if tt.not != "" && strings.Contains(text, tt.not) {
					t.Errorf("generic %v: plan reads %s", generic, tt.not)
				}
				if t.Failed() {
					t.Logf("plan (generic %v):\n%s", generic, text)
					return
				}
			}
		})
	}
}

func containsAny(text string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(text, sub) {
			return true
		}
	}
	return false
}

// explain returns the plan of text for args, or (generic) the generic
// plan of text prepared, which knows no value.
func explain(t *testing.T, s *Store, text string, args []any, generic bool) string {
	t.Helper()
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	q := "EXPLAIN " + text
	if generic {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "RESET plan_cache_mode")
		if _, err := conn.Exec(ctx, "PREPARE refund_plan AS "+text); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "DEALLOCATE refund_plan")
		// EXECUTE takes no parameters of its own: the values are
		// spelled out, which the generic plan does not see anyway.
		values := make([]string, len(args))
		for i, a := range args {
			values[i] = literal(t, a)
		}
		q, args = "EXPLAIN EXECUTE refund_plan", nil
		if len(values) > 0 {
			q += "(" + strings.Join(values, ", ") + ")"
		}
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// literal spells a test's value out in SQL.
func literal(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case int:
		return fmt.Sprint(v)
	case time.Time:
		return "'" + v.Format(time.RFC3339Nano) + "'::timestamptz"
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = literal(t, s)
		}
		return "ARRAY[" + strings.Join(out, ", ") + "]::text[]"
	}
	t.Fatalf("no literal for %T", v)
	return ""
}
