package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reads of refund controls use their partial indexes, so that each
// costs what waits for a person, never what was ever refunded; a plan
// that stopped using one would fail here instead of slowing down.
func TestControlsQueryPlans(t *testing.T) {
	s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
	for _, tt := range []struct {
		name string
		text string
		args []any
		want string
	}{
		{"QueuesOfMerchant", queuesQuery + ` AND merchant_id = ? GROUP BY status`, []any{"m1"}, "COVERING INDEX refunds_queue"},
		{"QueuesOfAll", queuesQuery + ` GROUP BY status`, nil, "COVERING INDEX refunds_queue"},
		{"ExpiredApprovals", refundColumns + ` WHERE status = 'requires_approval' AND approval_expires_at <= ?
			ORDER BY approval_expires_at, id LIMIT ?`, []any{micros(time.Now()), 10}, "INDEX refunds_approval_due"},
		{"HeldRefunds", heldRefundsQuery, []any{"s1"}, "INDEX refunds_sale"},
		{"UserByEmail", userByEmail, []any{"m1", "ana@example.com"}, "INDEX users_email"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := strings.Join(queryPlan(t, s, tt.text, tt.args...), "\n")
			if !strings.Contains(plan, tt.want) || strings.Contains(plan, "SCAN refunds\n") || strings.HasSuffix(plan, "SCAN refunds") {
				t.Fatalf("plan:\n%s\nwant it to use %s", plan, tt.want)
			}
		})
	}
}
