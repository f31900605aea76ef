package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// reconciliationConformance produces every documented answer of the
// reconciliation run routes: a run with one mismatch of each kind, as a
// run is stored, listed and retrieved, and another merchant's run
// answered as missing (invariant 5).
func reconciliationConformance(t *testing.T, c *conformance, env *testenv.Env) {
	ctx := context.Background()
	key := env.KeyA
	now := time.Now().UTC()
	run := &refundry.ReconciliationRun{ID: refundry.NewID(), MerchantID: env.A.ID, Trigger: "sweep",
		Since: now.Add(-72 * time.Hour), Started: now, Finished: now, Charges: 4, Matched: 1, Adopted: 1, Corrected: 1}
	for _, kind := range []string{refundry.MismatchMissingAtGateway, refundry.MismatchAmount, refundry.MismatchStatus, refundry.MismatchUnreachable} {
		m := refundry.Mismatch{Kind: kind, SaleID: refundry.NewID(), TransactionID: refundry.NewID(), Detail: "what differs"}
		if kind != refundry.MismatchUnreachable {
			m.RefundID, m.GatewayRefundID = refundry.NewID(), "sim_"+m.RefundID
		}
		run.Mismatches = append(run.Mismatches, m)
	}
	run.Mismatched = len(run.Mismatches)
	if err := env.Store.SaveReconciliationRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	other := &refundry.ReconciliationRun{ID: refundry.NewID(), MerchantID: env.B.ID, Trigger: "command", Since: now, Started: now, Finished: now}
	if err := env.Store.SaveReconciliationRun(ctx, other); err != nil {
		t.Fatal(err)
	}
	missing := refundry.NewID()

	list := c.do("GET", "/v1/reconciliation_runs", "/v1/reconciliation_runs?limit=100", key, "", 200)
	if data, _ := list["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != run.ID {
		t.Errorf("A's runs = %v, want its one run and not B's", list["data"])
	}
	c.do("GET", "/v1/reconciliation_runs", "/v1/reconciliation_runs?starting_after="+run.ID, key, "", 200)
	c.do("GET", "/v1/reconciliation_runs", "/v1/reconciliation_runs?since=0", key, "", 400)
	c.do("GET", "/v1/reconciliation_runs", "/v1/reconciliation_runs", "", "", 401)
	got := c.do("GET", "/v1/reconciliation_runs/{id}", "/v1/reconciliation_runs/"+run.ID, key, "", 200)
	if mm, _ := got["mismatches"].([]any); len(mm) != 4 || fmt.Sprint(got["mismatched"]) != "4" {
		t.Errorf("run = %v, want its four mismatches", got)
	}
	c.do("GET", "/v1/reconciliation_runs/{id}", "/v1/reconciliation_runs/"+run.ID, "", "", 401)
	c.do("GET", "/v1/reconciliation_runs/{id}", "/v1/reconciliation_runs/"+missing, key, "", 404)
	c.do("GET", "/v1/reconciliation_runs/{id}", "/v1/reconciliation_runs/"+other.ID, key, "", 404)
}
