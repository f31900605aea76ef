package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// TestRefundQueryPlans reads SQLite's plan of every query on refunds that
// runs per request or per worker pass: each must find its rows through
// the index named (docs/storage.md, "Indexes of refunds"), and none may
// scan the table, so that an index dropped or a query changed so that it
// no longer matches one fails here instead of slowing down with the
// table. (The store runs no ANALYZE, so the plans do not depend on the
// rows: an empty file plans as a full one.)
func TestRefundQueryPlans(t *testing.T) {
	s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
	now := micros(time.Now())
	type plan struct {
		text string
		args []any
	}
	list := func(f refundry.RefundFilter) plan {
		t.Helper()
		if err := f.Normalize(); err != nil {
			t.Fatal(err)
		}
		text, args := listRefundsQuery("m1", f)
		return plan{text, args}
	}
	charges := func(merchantID string) plan {
		text, args := recentChargesQuery(merchantID, "simulator", time.Now(), "", 100)
		return plan{text, args}
	}
	for _, tt := range []struct {
		name string
		plan
		want string
	}{
		{"FindRefund", plan{refundColumns + ` WHERE merchant_id = ? AND id = ?`, []any{"m1", "r1"}}, "(id=?)"},
		{"ListRefunds", list(refundry.RefundFilter{}), "INDEX refunds_merchant (merchant_id=?)"},
		{"ListRefundsNextPage", list(refundry.RefundFilter{Page: refundry.Page{StartingAfter: "r1"}}),
			"INDEX refunds_merchant (merchant_id=? AND id<?)"},
		{"ListRefundsPreviousPage", list(refundry.RefundFilter{Page: refundry.Page{EndingBefore: "r1"}}),
			"INDEX refunds_merchant (merchant_id=? AND id>?)"},
		{"ListRefundsOfSale", list(refundry.RefundFilter{SaleID: "s1"}), "INDEX refunds_sale (sale_id=?)"},
		{"ListRefundsOfTransaction", list(refundry.RefundFilter{TransactionID: "t1"}), "INDEX refunds_sale (sale_id=?)"},
		{"ListRefundsOfLineItem", list(refundry.RefundFilter{LineItemID: "l1"}), "INDEX refunds_sale (sale_id=?)"},
		{"ListRefundsOfGroup", list(refundry.RefundFilter{Group: "r1"}), "INDEX refunds_sale (sale_id=?)"},
		{"ListRefundsOfGroupNextPage", list(refundry.RefundFilter{Group: "r1", Page: refundry.Page{StartingAfter: "r2"}}),
			"INDEX refunds_sale (sale_id=? AND id<?)"},
		{"ListRefundsCreated", list(refundry.RefundFilter{CreatedFrom: time.Now().Add(-time.Hour), CreatedTo: time.Now()}),
			"INDEX refunds_merchant"},
		{"PendingRefunds", plan{pendingRefundsQuery, []any{now, 1}}, "COVERING INDEX refunds_due"},
		{"PendingMerchants", plan{pendingMerchants, nil}, "INDEX refunds_due"},
		{"DueOfMerchant", plan{dueOfMerchant, []any{"m1", now, 10}}, "INDEX refunds_due (merchant_id=? AND <expr><?)"},
		{"AttemptsOfPending", plan{attemptsOfPending, []any{"m1", "r1"}}, "(id=?)"},
		{"ReasonCounts", plan{reasonCountsQuery, []any{"m1", now - 1e6, now}},
			"INDEX refunds_merchant_created (merchant_id=? AND created>? AND created<?)"},
		{"RecentCharges", charges("m1"), "INDEX refunds_updated (updated>?)"},
		{"RecentChargesOfAll", charges(""), "INDEX refunds_updated (updated>?)"},
		{"ReportedByGatewayID", plan{reportedByGatewayID, []any{"simulator", "re_1", "m1", "s1"}}, "INDEX refunds_"},
		{"ReportedByID", plan{reportedByID, []any{"m1", "r1", "t1"}}, "(id=?)"},
		{"HeldRefunds", plan{heldRefundsQuery, []any{"s1"}}, "INDEX refunds_sale (sale_id=?)"},
		{"AccountUnsettled", plan{accountUnsettledQuery, []any{"m1", "a1"}}, "INDEX refunds_sale (sale_id=?)"},
		{"ExpiredApprovals", plan{refundColumns + ` WHERE status = 'requires_approval' AND approval_expires_at <= ?
			ORDER BY approval_expires_at, id LIMIT ?`, []any{now, 10}}, "INDEX refunds_approval_due"},
		{"Queues", plan{queuesQuery + ` AND merchant_id = ? GROUP BY status`, []any{"m1"}}, "COVERING INDEX refunds_queue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines := queryPlan(t, s, tt.text, tt.args...)
			text := strings.Join(lines, "\n")
			if !strings.Contains(text, tt.want) {
				t.Errorf("plan does not use %s", tt.want)
			}
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) < 2 || f[0] != "SCAN" || f[1] == "CONSTANT" || f[1] == "m" {
					continue
				}
				// A SCAN of a table reads every row, and so does a SCAN
				// of a full index; a partial index holds only the
				// refunds waiting for something.
				if len(f) == 2 || !partial(l) {
					t.Errorf("plan scans %s", strings.Join(f[1:], " "))
				}
			}
			if t.Failed() {
				t.Logf("plan:\n%s", text)
			}
		})
	}
}

// partial reports whether a SCAN in a plan reads a partial index of
// refunds, or a table other than refunds (a union's other arms, which
// this test does not judge).
func partial(line string) bool {
	for _, name := range []string{"refunds_due", "refunds_queue", "refunds_approval_due", "refunds_gateway_refund"} {
		if strings.Contains(line, "INDEX "+name) {
			return true
		}
	}
	f := strings.Fields(line)
	return f[1] != "refunds" && f[1] != "r"
}
