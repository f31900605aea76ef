package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

const disputeStatusMessage = "Status must be one of warning_needs_response, warning_under_review, warning_closed, needs_response, under_review, won, lost or prevented."

type disputeRequest struct {
	Transaction string      `json:"transaction"`
	Amount      json.Number `json:"amount"`
	Status      string      `json:"status"`
	Reason      string      `json:"reason"`
}

type disputeUpdateRequest struct {
	Status string `json:"status"`
}

func checkDisputeStatus(status string) error {
	if !slices.Contains(refundry.DisputeStatuses, status) {
		return paramInvalid("status", disputeStatusMessage)
	}
	return nil
}

// handleCreateDispute records a dispute by hand, for a payment whose
// gateway sends Refundry no dispute events (offsite, simulator): 201 with
// the dispute. While it is open, refunds of its transaction are refused
// with charge_disputed on every edge.
func handleCreateDispute(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := edge.MerchantFrom(r.Context())
		var req disputeRequest
		if _, err := readJSON(w, r, &req); err != nil {
			Error(w, r, logger, err)
			return
		}
		if req.Transaction == "" {
			Error(w, r, logger, paramInvalid("transaction", "Parameter transaction is required."))
			return
		}
		if !refundry.ValidID(req.Transaction) {
			Error(w, r, logger, refundry.ParamErrorf(refundry.ENOTFOUND, "transaction", "No such transaction: '%s'", truncateID(req.Transaction)))
			return
		}
		amount, err := edge.Amount(req.Amount, "amount")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if req.Status == "" {
			req.Status = refundry.DisputeNeedsResponse
		}
		if err := checkDisputeStatus(req.Status); err != nil {
			Error(w, r, logger, err)
			return
		}
		// The sale gives the payment's currency and gateway, and the
		// amount when none is given: all of the payment is disputed.
		sale, err := eng.FindSale(r.Context(), m.ID, refundry.SaleLookup{TransactionID: req.Transaction})
		if err != nil {
			if refundry.ErrorCode(err) == refundry.ENOTFOUND {
				err = refundry.ParamErrorf(refundry.ENOTFOUND, "transaction", "No such transaction: '%s'", req.Transaction)
			}
			Error(w, r, logger, err)
			return
		}
		var txn *refundry.Transaction
		for _, t := range sale.Transactions {
			if t.ID == req.Transaction {
				txn = t
			}
		}
		if txn == nil {
			Error(w, r, logger, refundry.ParamErrorf(refundry.ENOTFOUND, "transaction", "No such transaction: '%s'", req.Transaction))
			return
		}
		rep := refundry.DisputeReport{
			Gateway: txn.Gateway, MerchantID: m.ID, TransactionID: txn.ID, Amount: txn.Amount,
			Currency: sale.Currency, Status: req.Status, Reason: req.Reason, Created: eng.Now(),
		}
		if amount != nil {
			rep.Amount = *amount
		}
		d, err := eng.RecordDispute(r.Context(), m.ID, rep)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusCreated, renderDispute(d))
	})
}

// handleUpdateDispute moves a dispute recorded by hand to another status
// (won, lost, ...): 200 with the dispute. A dispute a gateway reports is
// moved only by the gateway's own events.
func handleUpdateDispute(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req disputeUpdateRequest
		if _, err := readJSON(w, r, &req); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "dispute")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if req.Status == "" {
			Error(w, r, logger, paramInvalid("status", "Parameter status is required."))
			return
		}
		if err := checkDisputeStatus(req.Status); err != nil {
			Error(w, r, logger, err)
			return
		}
		d, err := eng.UpdateDispute(r.Context(), edge.MerchantFrom(r.Context()).ID, id, req.Status)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderDispute(d))
	})
}

func handleGetDispute(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "dispute")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		d, err := eng.FindDispute(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderDispute(d))
	})
}

func handleListDisputes(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, page, err := listQuery(r, "transaction", "sale", "status")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		f := refundry.DisputeFilter{Page: page, TransactionID: q.Get("transaction"), SaleID: q.Get("sale"), Status: q.Get("status")}
		if bad, ok := malformedID(namedID{"transaction", f.TransactionID}, namedID{"sale", f.SaleID}); ok {
			Error(w, r, logger, paramInvalid(bad.name, "Parameter "+bad.name+" must be an object id."))
			return
		}
		if f.Status != "" {
			if err := checkDisputeStatus(f.Status); err != nil {
				Error(w, r, logger, err)
				return
			}
		}
		disputes, more, err := eng.ListDisputes(r.Context(), edge.MerchantFrom(r.Context()).ID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, disputes, renderDispute, more, "/v1/disputes")
	})
}
