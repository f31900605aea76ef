package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// serve, on both stores, wires the simulator's situations end to end: a
// refund made "at the gateway" that no event announces is adopted by the
// sweep (--reconcile-interval), and a late failure announced by event
// reaches the ledger through the inbox. The runs are listed by the API.
func TestServeReconcilesSimulator(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) {
		key := newMerchant(t, bin, db)
		_, base, _, logs := startServe(t, bin, "--db", db, "--reconcile-interval", "300ms")
		c := &client{t: t, base: base, key: key}
		sale := func(ref string) string {
			t.Helper()
			s := c.must("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 3500}],
				"payment": {"gateway": "simulator", "reference": %q}}`, ref+"_"+refundry.NewID()))
			return s["id"].(string)
		}
		eventually := func(what string, cond func() bool) {
			t.Helper()
			deadline := time.Now().Add(15 * time.Second)
			for !cond() {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not within 15s; logs:\n%s", what, logs.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}

		silent := sale("sim_gateway_refund_silent_500")
		late := sale("sim_late_fail")
		r := c.must("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 800}`, late))
		if r["status"] != refundry.RefundSucceeded {
			t.Fatalf("refund = %v, want succeeded at once", r)
		}

		eventually("the sweep adopts the refund made at the gateway", func() bool {
			rs := c.all("/v1/refunds?sale=" + silent)
			return len(rs) == 1 && rs[0]["source"] == refundry.SourceGateway && num(rs[0]["amount"]) == 500
		})
		eventually("the late failure arrives by event", func() bool {
			got := c.must("GET", "/v1/refunds/"+r["id"].(string), "")
			return got["status"] == refundry.RefundFailed
		})
		runs := c.must("GET", "/v1/reconciliation_runs?limit=100", "")["data"].([]any)
		adopted := 0
		for _, v := range runs {
			run := v.(map[string]any)
			if run["trigger"] != "sweep" {
				t.Fatalf("run %v: want trigger sweep", run)
			}
			adopted += int(num(run["adopted"]))
		}
		if adopted != 1 {
			t.Fatalf("runs adopted %d refunds in all, want 1: %v", adopted, runs)
		}
	})
}
