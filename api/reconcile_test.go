package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/refundry/refundry/engine"
)

// A run of reconciliation is stored and listed through the API: the
// refund the simulator made "in its dashboard" (no event sent) is
// adopted, the run shows it, and the other merchant sees no run of it.
func TestReconciliationRunsListed(t *testing.T) {
	e := newEnv(t)
	sale := e.sale(e.keyA, "sim_gateway_refund_silent_500", 3500)
	runs, err := e.eng.Reconcile(context.Background(), e.merchA.ID, time.Now().Add(-time.Hour), engine.TriggerCommand)
	if err != nil || len(runs) != 1 {
		t.Fatalf("Reconcile = %v, %v; want one run", runs, err)
	}

	list := e.do("GET", "/v1/reconciliation_runs", e.keyA, "")
	data := objects(list.body["data"])
	if list.status != http.StatusOK || len(data) != 1 || data[0]["id"] != runs[0].ID || data[0]["object"] != "reconciliation_run" {
		t.Fatalf("list = %d %s, want the one run", list.status, list.raw)
	}
	got := e.do("GET", "/v1/reconciliation_runs/"+runs[0].ID, e.keyA, "")
	if got.status != http.StatusOK || got.num("charges") != 1 || got.num("adopted") != 1 || got.num("mismatched") != 0 || got.str("trigger") != "command" {
		t.Fatalf("run = %d %s, want one charge, one adopted", got.status, got.raw)
	}
	refunds := e.do("GET", "/v1/refunds?sale="+sale.str("id"), e.keyA, "")
	if rs := objects(refunds.body["data"]); len(rs) != 1 || rs[0]["source"] != "gateway" {
		t.Fatalf("refunds = %s, want the adopted one with source gateway", refunds.raw)
	}

	if other := e.do("GET", "/v1/reconciliation_runs", e.keyB, ""); len(objects(other.body["data"])) != 0 {
		t.Fatalf("B's runs = %s, want none", other.raw)
	}
	if r := e.do("GET", "/v1/reconciliation_runs/"+runs[0].ID, e.keyB, ""); r.status != http.StatusNotFound {
		t.Fatalf("B asking for A's run: %d, want 404 (invariant 5)", r.status)
	}
	if r := e.do("GET", "/v1/reconciliation_runs?limit=0", e.keyA, ""); r.status != http.StatusBadRequest {
		t.Fatalf("limit=0: %d, want 400", r.status)
	}
}
