package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
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
	// Lines and Shipping refund a sale by what came back: units of its
	// lines and its shipping. They name the sale's parts, so they go with
	// "sale" (or, without it, the sale of the first line).
	Lines    []refundLineRequest `json:"lines"`
	Shipping json.RawMessage     `json:"shipping"`
}

// refundLineRequest is one entry of "lines": units of a line item, or an
// explicit amount of it (with or without the units it pays for).
type refundLineRequest struct {
	LineItem string      `json:"line_item"`
	Quantity json.Number `json:"quantity"`
	Amount   json.Number `json:"amount"`
}

// maxRefundLines bounds "lines": a sale has at most 1000 line items.
const maxRefundLines = 1000

// lineRequests reads "lines". A quantity is a whole number of units,
// at least 1; it may be left out only when the entry names an amount.
// What remains of each line is the store's to check, under its lock.
func (req *refundRequest) lineRequests() ([]refundry.LineRequest, error) {
	if len(req.Lines) > maxRefundLines {
		return nil, paramInvalid("lines", fmt.Sprintf("Name at most %d lines.", maxRefundLines))
	}
	out := make([]refundry.LineRequest, 0, len(req.Lines))
	for i, l := range req.Lines {
		p := "lines[" + strconv.Itoa(i) + "]."
		if l.LineItem == "" {
			return nil, paramInvalid(p+"line_item", "Parameter "+p+"line_item is required.")
		}
		if !refundry.ValidID(l.LineItem) {
			return nil, refundry.ParamErrorf(refundry.ENOTFOUND, p+"line_item", "No such line item: '%s'", truncateID(l.LineItem))
		}
		lr := refundry.LineRequest{LineItemID: l.LineItem}
		if l.Amount != "" {
			a, err := refundry.ParseMinor(string(l.Amount))
			if err != nil || a <= 0 {
				return nil, paramInvalid(p+"amount", "Parameter "+p+"amount must be a positive whole number of minor units.")
			}
			lr.Amount = &a
		}
		if l.Quantity != "" || lr.Amount == nil {
			q, err := refundry.ParseMinor(string(l.Quantity))
			if l.Quantity == "" {
				return nil, paramInvalid(p+"quantity", "Parameter "+p+"quantity is required (or an amount).")
			}
			if err != nil || q <= 0 {
				return nil, paramInvalid(p+"quantity", "Parameter "+p+"quantity must be a whole number of units, at least 1.")
			}
			lr.Quantity = q
		}
		out = append(out, lr)
	}
	return out, nil
}

// shippingRequest reads "shipping": true refunds all the shipping that
// remains, a number that amount of it in minor units; false or null
// none. Anything else is refused, not read loosely: "shipping": "yes"
// or "shipping": 1.5 could mean too many things to guess at.
func (req *refundRequest) shippingRequest() (*refundry.ShippingRequest, error) {
	raw := bytes.TrimSpace(req.Shipping)
	switch string(raw) {
	case "", "null", "false":
		return nil, nil
	case "true":
		return &refundry.ShippingRequest{All: true}, nil
	}
	const msg = "Parameter shipping must be true (all the shipping that remains) or a positive whole number of minor units."
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return nil, paramInvalid("shipping", msg)
	}
	n, err := refundry.ParseMinor(string(raw))
	if err != nil || n <= 0 {
		return nil, paramInvalid("shipping", msg)
	}
	return &refundry.ShippingRequest{Amount: n}, nil
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
		lines, err := req.lineRequests()
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		shipping, err := req.shippingRequest()
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		itemized := len(lines) > 0 || shipping != nil
		// "lines": [] or a lone "shipping": false asks for nothing; read
		// as no itemization at all it would refund the whole sale.
		if !itemized && req.Lines != nil {
			Error(w, r, logger, paramInvalid("lines", "Name at least one line, or leave lines out."))
			return
		}
		if !itemized && string(bytes.TrimSpace(req.Shipping)) == "false" {
			Error(w, r, logger, paramInvalid("shipping", "shipping false with no lines asks for nothing: name lines, or leave shipping out."))
			return
		}
		if itemized {
			switch {
			case req.LineItem != "" || req.Transaction != "" || req.Target != "":
				Error(w, r, logger, paramInvalid("lines", "Lines and shipping refund a sale: name it with sale, not line_item, transaction or target."))
				return
			case amount != nil:
				Error(w, r, logger, paramInvalid("amount", "Give amount, or lines and shipping, not both: the lines' units decide the amount (an entry of lines may name its own amount)."))
				return
			}
		}
		target := refundry.RefundTarget{SaleID: req.Sale, LineItemID: req.LineItem, TransactionID: req.Transaction}
		if bad, ok := malformedID(namedID{"sale", req.Sale}, namedID{"line_item", req.LineItem}, namedID{"transaction", req.Transaction}); ok {
			Error(w, r, logger, refundry.ParamErrorf(refundry.ENOTFOUND, bad.name, "No such %s: '%s'", bad.name, truncateID(bad.id)))
			return
		}
		if itemized && target.SaleID == "" {
			if len(lines) == 0 {
				Error(w, r, logger, paramInvalid("sale", "Parameter sale is required to refund shipping."))
				return
			}
			// The sale is implied by the first line; a later line of
			// another sale is refused by the decision, naming it.
			s, err := eng.FindSale(r.Context(), m.ID, refundry.SaleLookup{LineItemID: lines[0].LineItemID})
			if err != nil {
				if refundry.ErrorCode(err) == refundry.ENOTFOUND {
					err = refundry.ParamErrorf(refundry.ENOTFOUND, "lines[0].line_item", "No such line item: '%s'", lines[0].LineItemID)
				}
				Error(w, r, logger, err)
				return
			}
			target.SaleID = s.ID
		}
		rr := refundry.RefundRequest{
			MerchantID: m.ID, Target: target, Amount: amount, Reason: req.Reason, Description: req.Description, Metadata: md,
			Offsite: req.Offsite, NotifyCustomer: req.NotifyCustomer, Source: refundry.SourceNative, Idempotency: idem,
			Lines: lines, Shipping: shipping,
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
	case "", refundry.RefundPending, refundry.RefundSucceeded, refundry.RefundFailed, refundry.RefundCanceled,
		refundry.RefundRequiresApproval, refundry.RefundRequiresAction:
	default:
		return f, paramInvalid("status", "Status must be pending, requires_approval, requires_action, succeeded, failed or canceled.")
	}
	if f.CreatedFrom, err = unixParam(q, "created[gte]"); err != nil {
		return f, err
	}
	if f.CreatedTo, err = unixParam(q, "created[lt]"); err != nil {
		return f, err
	}
	return f, nil
}
