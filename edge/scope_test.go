package edge_test

import (
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// One table decides for every edge, the dashboard included: what a key of
// each scope may do through each kind of route.
func TestAuthorize(t *testing.T) {
	for _, tt := range []struct {
		name            string
		method, pattern string
		allowed         refundry.Scope // the narrowest scope allowed
	}{
		{"NativeRead", "GET", "GET /v1/sales", refundry.ScopeRead},
		{"NativeRefund", "POST", "POST /v1/refunds", refundry.ScopeRefund},
		{"NativeWrite", "POST", "POST /v1/api_keys", refundry.ScopeWrite},
		{"NativeApprove", "POST", "POST /v1/refunds/{id}/approve", refundry.ScopeApprove},
		{"NativeReject", "POST", "POST /v1/refunds/{id}/reject", refundry.ScopeApprove},
		{"NativeResolve", "POST", "POST /v1/refunds/{id}/resolve", refundry.ScopeApprove},
		{"NativePolicyRead", "GET", "GET /v1/refund_policy", refundry.ScopeRead},
		{"NativePolicyWrite", "POST", "POST /v1/refund_policy", refundry.ScopeWrite},
		{"NativeUsersRead", "GET", "GET /v1/users/{id}", refundry.ScopeRead},
		{"NativeUserCreate", "POST", "POST /v1/users", refundry.ScopeWrite},
		{"NativeUserDisable", "POST", "POST /v1/users/{id}/disable", refundry.ScopeWrite},
		{"NativeUnknownPath", "POST", "/v1/", refundry.ScopeRead},
		{"DialectRefund", "PUT", "PUT /transactions/{id}/refund.json", refundry.ScopeRefund},
		{"UnlistedGet", "GET", "GET /v9/things", refundry.ScopeRead},
		{"UnlistedWrite", "POST", "POST /v9/things", refundry.ScopeWrite},
		{"DashboardPage", "GET", "GET /dashboard/sales/{id}", refundry.ScopeRead},
		{"DashboardSignOut", "POST", "POST /dashboard/signout", refundry.ScopeRead},
		{"DashboardRefund", "POST", "POST /dashboard/sales/{id}/refund", refundry.ScopeRefund},
		{"DashboardReview", "POST", "POST /dashboard/sales/{id}/refund/review", refundry.ScopeRefund},
		{"DashboardCancel", "POST", "POST /dashboard/refunds/{id}/cancel", refundry.ScopeRefund},
		{"DashboardNoSuchPage", "GET", "/dashboard/", refundry.ScopeRead},
		{"DashboardNoSuchForm", "POST", "/dashboard/", refundry.ScopeRefund},
	} {
		t.Run(tt.name, func(t *testing.T) {
			route := edge.RouteFor(tt.pattern, tt.method)
			for _, have := range []refundry.Scope{refundry.ScopeRead, refundry.ScopeRefund, refundry.ScopeApprove, refundry.ScopeWrite} {
				want := have.Allows(tt.allowed)
				err := edge.Authorize(have, route)
				if (err == nil) != want || (err != nil && refundry.ErrorCode(err) != refundry.EFORBIDDEN) {
					t.Errorf("scope %s: %v, want allowed %v", have, err, want)
				}
				if got := edge.May(have, tt.method, tt.pattern); got != want {
					t.Errorf("May(%s) = %v, want %v", have, got, want)
				}
			}
		})
	}
}
