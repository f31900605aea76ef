package api_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// auditOf lists merchant A's audit rows about one object, oldest first,
// each as "action key result".
func (c *controlsEnv) auditOf(objectID string) []string {
	c.t.Helper()
	var out []string
	path := "/v1/audit_log?limit=100"
	for {
		r := c.do("GET", path, c.keyA, "")
		if r.status != 200 {
			c.t.Fatalf("audit log: %d %s", r.status, r.raw)
		}
		entries := objects(r.body["data"])
		for _, e := range entries {
			if id, _ := e["object_id"].(string); id == objectID {
				out = append(out, fmt.Sprintf("%s %s %s", e["action"], e["key"], e["result"]))
			}
		}
		if r.body["has_more"] != true || len(entries) == 0 {
			break
		}
		path = "/v1/audit_log?limit=100&starting_after=" + entries[len(entries)-1]["id"].(string)
	}
	slices.Reverse(out)
	return out
}

// One audit row per refund answered at once: the request's refund.create,
// written with the reservation, and no refund.settle for the gateway's
// answer within that request. A refund the request left pending, or one
// held for approval, has the row of whoever settled it later.
func TestRefundAuditRows(t *testing.T) {
	for _, store := range returnStores {
		t.Run(store.name, func(t *testing.T) {
			c := newControlsEnvOn(t, store.open(t))
			created := refundry.AuditRefundCreate + " " + c.writeID + " " + refundry.AuditSucceeded
			for _, tc := range []struct {
				name, payRef, status string
			}{
				{"Succeeded", "pay", refundry.RefundSucceeded},
				{"Failed", "sim_fail", refundry.RefundFailed},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s := c.sale(c.keyA, tc.payRef, 1000).str("id")
					r := c.refund(c.keyA, s, 400)
					if r.status != 201 || r.str("status") != tc.status {
						t.Fatalf("refund: %d %s", r.status, r.raw)
					}
					if got := c.auditOf(r.str("id")); !slices.Equal(got, []string{created}) {
						t.Fatalf("audit rows %q, want only %q", got, created)
					}
				})
			}
			t.Run("PendingSettledByRecovery", func(t *testing.T) {
				s := c.sale(c.keyA, "sim_pending", 1000).str("id")
				r := c.refund(c.keyA, s, 400)
				id := r.str("id")
				if r.status != 201 || r.str("status") != refundry.RefundPending {
					t.Fatalf("refund: %d %s", r.status, r.raw)
				}
				if got := c.auditOf(id); !slices.Equal(got, []string{created}) {
					t.Fatalf("audit rows while pending %q, want only %q", got, created)
				}
				if !c.sim.Settle(id, refundry.RefundSucceeded) {
					t.Fatal("the simulator did not hold the refund pending")
				}
				// An hour on: past the backoff the pending answer set.
				if n, err := c.eng.Recover(context.Background(), c.eng.Now().Add(time.Hour), 100); err != nil || n != 1 {
					t.Fatalf("Recover = %d, %v", n, err)
				}
				want := []string{created, refundry.AuditRefundSettle + " " + refundry.ActorSystem + " " + refundry.AuditSucceeded}
				if got := c.auditOf(id); !slices.Equal(got, want) {
					t.Fatalf("audit rows %q, want %q", got, want)
				}
			})
			t.Run("Approval", func(t *testing.T) {
				c.policy(`{"approval_threshold": {"USD": 0}}`)
				defer c.policy(`{"approval_threshold": null}`)
				approver := c.keyIDs[refundry.ScopeApprove]
				s := c.sale(c.keyA, "pay", 1000).str("id")
				approved, rejected := c.refund(c.keyA, s, 400).str("id"), c.refund(c.keyA, s, 300).str("id")
				if r := c.do("POST", "/v1/refunds/"+approved+"/approve", c.keys[refundry.ScopeApprove], `{"note": "checked"}`); r.str("status") != refundry.RefundSucceeded {
					t.Fatalf("approve: %d %s", r.status, r.raw)
				}
				if r := c.do("POST", "/v1/refunds/"+rejected+"/reject", c.keys[refundry.ScopeApprove], `{"note": "duplicate"}`); r.str("status") != refundry.RefundCanceled {
					t.Fatalf("reject: %d %s", r.status, r.raw)
				}
				// The approval's request did not create the refund: the
				// answer to the call it made keeps its own row.
				want := []string{created, refundry.AuditRefundApprove + " " + approver + " " + refundry.AuditSucceeded,
					refundry.AuditRefundSettle + " " + approver + " " + refundry.AuditSucceeded}
				if got := c.auditOf(approved); !slices.Equal(got, want) {
					t.Errorf("approved refund's audit rows %q, want %q", got, want)
				}
				want = []string{created, refundry.AuditRefundReject + " " + approver + " " + refundry.AuditSucceeded}
				if got := c.auditOf(rejected); !slices.Equal(got, want) {
					t.Errorf("rejected refund's audit rows %q, want %q", got, want)
				}
			})
		})
	}
}
