package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundry/refundry"
)

// A database made before 0022 comes out with the indexes of refunds that
// docs/storage.md lists and no other, and its refunds are found as
// before: the oldest pending one through refunds_due_idx, and a
// payment's, a line's and a group's through their sale.
func TestMigrate0022RefundIndexes(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 22)
	refund := `INSERT INTO refunds (id, merchant_id, group_id, sale_id, transaction_id, line_item_id, amount, fee, currency, status,
		reason, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source,
		refunded_at, created, updated) VALUES ($1, 'm1', $2, $3, $4, $5, 100, 0, 'USD', $6, '', false, false, 'simulator', '', '',
		'native', '', '', '', $7, $7, $7)`
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', now())`, nil},
		{`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`, nil},
		{`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 400, 'c1', '', '', now()), ('s2', 'm1', 'o2', 'USD', 1000, 100, 'c1', '', '', now())`, nil},
		{`INSERT INTO line_items (id, sale_id, merchant_id, ord, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 'm1', 0, 'Widget', 1, 1000, 1000, 400), ('l2', 's2', 'm1', 0, 'Gadget', 1, 1000, 1000, 100)`, nil},
		{`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 's1', 'm1', 0, '', 'simulator', 'ch_1', 'USD', 1000, 400, 0, 0, '', now()),
			('t2', 's2', 'm1', 0, '', 'simulator', 'ch_2', 'USD', 1000, 100, 0, 0, '', now())`, nil},
		// r1 and r2 are one request's two refunds (group r1); r4, pending
		// and older, is the oldest pending refund.
		{refund, []any{"r1", "r1", "s1", "t1", "l1", "pending", t0.Add(3 * time.Second)}},
		{refund, []any{"r2", "r1", "s1", "t1", nil, "succeeded", t0.Add(3 * time.Second)}},
		{refund, []any{"r3", "r3", "s1", "t1", "l1", "failed", t0.Add(3 * time.Second)}},
		{refund, []any{"r4", "r4", "s2", "t2", "l2", "pending", t0.Add(time.Second)}},
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
	rows, err := s.pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'refunds' ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := "refunds_approval_due_idx refunds_created_idx refunds_due_idx refunds_gateway_refund_idx refunds_merchant_idx " +
		"refunds_pkey refunds_queue_idx refunds_sale_idx refunds_updated_idx"
	if got := strings.Join(indexes, " "); got != want {
		t.Fatalf("indexes of refunds after 0022:\n%s\nwant\n%s", got, want)
	}

	for _, tt := range []struct {
		before time.Time
		limit  int
		want   string
	}{
		{time.Now(), 10, "r4 r1"},
		{time.Now(), 1, "r4"},
		{t0.Add(2 * time.Second), 10, "r4"},
	} {
		got, err := s.PendingRefunds(ctx, tt.before, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if refundIDs(got) != tt.want {
			t.Errorf("PendingRefunds(%s, %d) = %q, want %q (oldest first)", tt.before, tt.limit, refundIDs(got), tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		f    refundry.RefundFilter
		want string
	}{
		{"Transaction", refundry.RefundFilter{TransactionID: "t1"}, "r3 r2 r1"},
		{"LineItem", refundry.RefundFilter{LineItemID: "l1"}, "r3 r1"},
		{"Group", refundry.RefundFilter{Group: "r1"}, "r2 r1"},
		{"GroupOfOne", refundry.RefundFilter{Group: "r4"}, "r4"},
		{"MissingTransaction", refundry.RefundFilter{TransactionID: "t9"}, ""},
		{"TransactionAndSale", refundry.RefundFilter{TransactionID: "t1", SaleID: "s2"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := s.ListRefunds(ctx, "m1", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if refundIDs(got) != tt.want {
				t.Errorf("ListRefunds = %q, want %q", refundIDs(got), tt.want)
			}
		})
	}
}

func refundIDs(rs []*refundry.Refund) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return strings.Join(ids, " ")
}
