package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

type refundRequest struct {
	Sale           string          `json:"sale"`
	LineItem       string          `json:"line_item"`
	Transaction    string          `json:"transaction"`
	Target         string          `json:"target"`
	Amount         json.Number     `json:"amount"`
	Reason         string          `json:"reason"`
	Description    string          `json:"description"`
	Metadata       json.RawMessage `json:"metadata"`
	Offsite        bool            `json:"offsite"`
	NotifyCustomer bool            `json:"notify_customer"`
}

// handleCreateRefund answers 201 with the refund. A request on a sale paid
// by several transactions makes one refund per transaction it takes from:
// the answer is the first of them, and "related" lists the ids of the
// others (all share one "group"; GET /v1/refunds?group= lists them).
func handleCreateRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := edge.MerchantFrom(r.Context())
		var req refundRequest
		idem, err := readJSON(w, r, &req)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		amount, err := edge.Amount(req.Amount, "amount")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		md := bytes.TrimSpace(req.Metadata)
		if bytes.Equal(md, []byte("null")) {
			md = nil
		}
		if len(md) > 0 && md[0] != '{' {
			Error(w, r, logger, paramInvalid("metadata", "Metadata must be a JSON object."))
			return
		}
		target := refundry.RefundTarget{SaleID: req.Sale, LineItemID: req.LineItem, TransactionID: req.Transaction}
		for param, id := range map[string]string{"sale": req.Sale, "line_item": req.LineItem, "transaction": req.Transaction} {
			if id != "" && !refundry.ValidID(id) {
				Error(w, r, logger, refundry.ParamErrorf(refundry.ENOTFOUND, param, "No such %s: '%s'", param, truncateID(id)))
				return
			}
		}
		rr := refundry.RefundRequest{
			MerchantID: m.ID, Target: target, Amount: amount, Reason: req.Reason, Description: req.Description, Metadata: md,
			Offsite: req.Offsite, NotifyCustomer: req.NotifyCustomer, Source: refundry.SourceNative, Idempotency: idem,
		}
		var res *refundry.RefundResult
		if req.Target != "" {
			// "target" reads an id or a reference as a bulk row's target
			// is read, so refundry refund and POST /v1/refund_batches
			// accept the same files.
			if target != (refundry.RefundTarget{}) {
				Error(w, r, logger, paramInvalid("target", "Name exactly one of sale, line_item, transaction or target."))
				return
			}
			if len(req.Target) > 500 || !utf8.ValidString(req.Target) {
				Error(w, r, logger, paramInvalid("target", "Target must be an id or a reference of at most 500 bytes of UTF-8."))
				return
			}
			res, err = eng.RefundByTarget(r.Context(), req.Target, rr)
		} else {
			res, err = eng.Refund(r.Context(), rr)
		}
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		out := renderRefund(res.Refunds[0])
		for _, rf := range res.Refunds[1:] {
			out.Related = append(out.Related, rf.ID)
		}
		edge.WriteJSON(w, http.StatusCreated, out)
	})
}

func handleGetRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "refund")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		rf, err := eng.FindRefund(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderRefund(rf))
	})
}

func handleCancelRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "refund")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		rf, err := eng.Cancel(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderRefund(rf))
	})
}

func handleListRefunds(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := refundFilter(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		refunds, more, err := eng.ListRefunds(r.Context(), edge.MerchantFrom(r.Context()).ID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, refunds, renderRefund, more, "/v1/refunds")
	})
}

// refundFilters are the filters of GET /v1/refunds, which its export
// shares.
var refundFilters = []string{"sale", "transaction", "line_item", "group", "status", "source", "created[gte]", "created[lt]"}

// refundFilter reads GET /v1/refunds' query: its filters and its page.
func refundFilter(r *http.Request) (refundry.RefundFilter, error) {
	q, page, err := listQuery(r, refundFilters...)
	if err != nil {
		return refundry.RefundFilter{}, err
	}
	f := refundry.RefundFilter{Page: page, SaleID: q.Get("sale"), TransactionID: q.Get("transaction"),
		LineItemID: q.Get("line_item"), Group: q.Get("group"), Status: q.Get("status"), Source: q.Get("source")}
	switch f.Status {
	case "", refundry.RefundPending, refundry.RefundSucceeded, refundry.RefundFailed, refundry.RefundCanceled:
	default:
		return f, paramInvalid("status", "Status must be pending, succeeded, failed or canceled.")
	}
	if f.CreatedFrom, err = unixParam(q, "created[gte]"); err != nil {
		return f, err
	}
	if f.CreatedTo, err = unixParam(q, "created[lt]"); err != nil {
		return f, err
	}
	return f, nil
}
