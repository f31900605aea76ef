package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// A database made before 0022 comes out with the indexes of refunds that
// docs/storage.md lists and no other, and its refunds are found as
// before: the oldest pending one through the rebuilt refunds_due, and a
// payment's, a line's and a group's through their sale.
func TestMigrate0022RefundIndexes(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0022")
	refund := `INSERT INTO refunds (id, merchant_id, grp, sale_id, transaction_id, line_item_id, amount, fee, currency, status, reason,
		offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source, refunded_at,
		created, updated) VALUES (?, 'm1', ?, ?, ?, ?, 100, 0, 'USD', ?, '', 0, 0, 'simulator', '', '', 'native', '', '', '', 0, ?, ?)`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`, nil},
		{`INSERT INTO customers VALUES ('c1', 'm1', 'ada@example.com', 'Ada', '')`, nil},
		{`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'o1', 'USD', 1000, 400, 'c1', '', '', 0), ('s2', 'm1', 'o2', 'USD', 1000, 100, 'c1', '', '', 0)`, nil},
		{`INSERT INTO line_items (id, sale_id, position, name, quantity, unit_amount, amount, refunded_amount) VALUES
			('l1', 's1', 0, 'Widget', 1, 1000, 1000, 400), ('l2', 's2', 0, 'Gadget', 1, 1000, 1000, 100)`, nil},
		{`INSERT INTO transactions (id, merchant_id, sale_id, position, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created) VALUES
			('t1', 'm1', 's1', 0, '', 'simulator', 'ch_1', 'USD', 1000, 400, 0, 0, '', 0),
			('t2', 'm1', 's2', 0, '', 'simulator', 'ch_2', 'USD', 1000, 100, 0, 0, '', 0)`, nil},
		// r1 and r2 are one request's two refunds (group r1); r4, pending
		// and older, is the oldest pending refund.
		{refund, []any{"r1", "r1", "s1", "t1", "l1", "pending", 3000000, 3000000}},
		{refund, []any{"r2", "r1", "s1", "t1", nil, "succeeded", 3000000, 3000000}},
		{refund, []any{"r3", "r3", "s1", "t1", "l1", "failed", 3000000, 3000000}},
		{refund, []any{"r4", "r4", "s2", "t2", "l2", "pending", 1000000, 1000000}},
	} {
		if _, err := db.ExecContext(ctx, q.text, q.args...); err != nil {
			t.Fatalf("%s: %v", q.text, err)
		}
	}
	db.Close()

	s := mustOpenInternal(t, path)
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
	want := "refunds_approval_due refunds_due refunds_gateway_refund refunds_merchant refunds_merchant_created refunds_queue " +
		"refunds_sale refunds_updated"
	if got := strings.Join(indexes, " "); got != want {
		t.Fatalf("indexes of refunds after 0022:\n%s\nwant\n%s", got, want)
	}

	pending, err := s.PendingRefunds(ctx, time.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := refundIDs(pending); got != "r4 r1" {
		t.Errorf("PendingRefunds = %s, want r4 r1 (oldest first)", got)
	}
	if oldest, err := s.PendingRefunds(ctx, time.Now(), 1); err != nil || refundIDs(oldest) != "r4" {
		t.Errorf("PendingRefunds limit 1 = %s, %v; want r4", refundIDs(oldest), err)
	}
	if before, err := s.PendingRefunds(ctx, fromMicros(2000000), 10); err != nil || refundIDs(before) != "r4" {
		t.Errorf("PendingRefunds created before 2s = %s, %v; want r4", refundIDs(before), err)
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
