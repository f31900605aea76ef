package api

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

type reconciliationRunJSON struct {
	ID         string         `json:"id"`
	Object     string         `json:"object"`
	Trigger    string         `json:"trigger"`
	Since      int64          `json:"since"`
	Started    int64          `json:"started"`
	Finished   int64          `json:"finished"`
	Charges    int            `json:"charges"`
	Matched    int            `json:"matched"`
	Adopted    int            `json:"adopted"`
	Corrected  int            `json:"corrected"`
	Mismatched int            `json:"mismatched"`
	Mismatches []mismatchJSON `json:"mismatches"`
}

type mismatchJSON struct {
	Kind            string  `json:"kind"`
	Sale            string  `json:"sale"`
	Transaction     string  `json:"transaction"`
	Refund          *string `json:"refund"`
	GatewayRefundID *string `json:"gateway_refund_id"`
	Detail          string  `json:"detail"`
}

func renderReconciliationRun(r *refundry.ReconciliationRun) reconciliationRunJSON {
	out := reconciliationRunJSON{ID: r.ID, Object: "reconciliation_run", Trigger: r.Trigger,
		Since: unix(r.Since), Started: unix(r.Started), Finished: unix(r.Finished),
		Charges: r.Charges, Matched: r.Matched, Adopted: r.Adopted, Corrected: r.Corrected, Mismatched: r.Mismatched,
		Mismatches: make([]mismatchJSON, 0, len(r.Mismatches))}
	for _, m := range r.Mismatches {
		out.Mismatches = append(out.Mismatches, mismatchJSON{Kind: m.Kind, Sale: m.SaleID, Transaction: m.TransactionID,
			Refund: nullable(m.RefundID), GatewayRefundID: nullable(m.GatewayRefundID), Detail: m.Detail})
	}
	return out
}

func handleListReconciliationRuns(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		_, page, err := listQuery(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		runs, more, err := eng.ListReconciliationRuns(r.Context(), merchantID, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, runs, renderReconciliationRun, more, "/v1/reconciliation_runs")
	})
}

func handleGetReconciliationRun(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		id, err := idParam(r, "reconciliation run")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		run, err := eng.FindReconciliationRun(r.Context(), merchantID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderReconciliationRun(run))
	})
}
