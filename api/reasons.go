package api

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

type reasonRequest struct {
	Code         string  `json:"code"`
	Label        string  `json:"label"`
	StripeReason *string `json:"stripe_reason"`
}

type reasonJSON struct {
	Object       string  `json:"object"`
	Code         string  `json:"code"`
	Label        string  `json:"label"`
	StripeReason *string `json:"stripe_reason"`
	Created      int64   `json:"created"`
}

func renderReason(r *refundry.RefundReason) reasonJSON {
	return reasonJSON{Object: "refund_reason", Code: r.Code, Label: r.Label, StripeReason: nullable(r.StripeReason), Created: unix(r.Created)}
}

// handleListRefundReasons answers every reason of the merchant at once,
// in the order they were made: a merchant has a handful, never a page's
// worth, so the list has no cursor and has_more is always false.
func handleListRefundReasons(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := listQuery(r); err != nil {
			Error(w, r, logger, err)
			return
		}
		rs, err := eng.ListRefundReasons(r.Context(), edge.MerchantFrom(r.Context()).ID)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, rs, renderReason, false, "/v1/refund_reasons")
	})
}

// handlePutRefundReason creates the reason with the code, or replaces
// its label and Stripe reason: repeating it changes nothing more, so it
// needs no Idempotency-Key. A missing stripe_reason is none (Stripe is
// told no reason).
func handlePutRefundReason(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req reasonRequest
		if _, err := readJSON(w, r, &req); err != nil {
			Error(w, r, logger, err)
			return
		}
		rr := &refundry.RefundReason{MerchantID: edge.MerchantFrom(r.Context()).ID, Code: req.Code, Label: req.Label}
		if req.StripeReason != nil {
			rr.StripeReason = *req.StripeReason
		}
		if err := eng.PutRefundReason(r.Context(), rr); err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderReason(rr))
	})
}

// handleDeleteRefundReason removes a reason; refunds made with it keep
// their code.
func handleDeleteRefundReason(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		code := r.PathValue("code")
		if !refundry.ValidReasonCode(code) {
			Error(w, r, logger, refundry.ParamErrorf(refundry.ENOTFOUND, "code", "No such refund reason: '%s'", truncateID(code)))
			return
		}
		if err := eng.DeleteRefundReason(r.Context(), edge.MerchantFrom(r.Context()).ID, code); err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, map[string]any{"object": "refund_reason", "code": code, "deleted": true})
	})
}
