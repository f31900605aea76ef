package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// Returns: goods a customer sends back. POST /v1/returns claims units of
// a sale's lines; receive records their arrival; refund pays for them by
// quantity, less a restocking fee the merchant keeps.

type returnRequest struct {
	Sale        string              `json:"sale"`
	Lines       []returnLineRequest `json:"lines"`
	Reason      string              `json:"reason"`
	Description string              `json:"description"`
}

type returnLineRequest struct {
	LineItem string      `json:"line_item"`
	Quantity json.Number `json:"quantity"`
}

type returnRefundRequest struct {
	RestockingFee json.Number `json:"restocking_fee"`
}

type returnJSON struct {
	ID            string           `json:"id"`
	Object        string           `json:"object"`
	Sale          string           `json:"sale"`
	Status        string           `json:"status"`
	Reason        *string          `json:"reason"`
	Description   *string          `json:"description"`
	Lines         []returnLineJSON `json:"lines"`
	RestockingFee int64            `json:"restocking_fee"`
	Refunds       []string         `json:"refunds"`
	Created       int64            `json:"created"`
	ReceivedAt    *int64           `json:"received_at"`
	RefundedAt    *int64           `json:"refunded_at"`
}

type returnLineJSON struct {
	LineItem string `json:"line_item"`
	Quantity int64  `json:"quantity"`
}

func renderReturn(r *refundry.Return) returnJSON {
	out := returnJSON{ID: r.ID, Object: "return", Sale: r.SaleID, Status: r.Status, Reason: nullable(r.Reason),
		Description: nullable(r.Description), Lines: []returnLineJSON{}, RestockingFee: r.RestockingFee,
		Refunds: []string{}, Created: unix(r.Created), ReceivedAt: optUnix(r.ReceivedAt), RefundedAt: optUnix(r.RefundedAt)}
	for _, l := range r.Lines {
		out.Lines = append(out.Lines, returnLineJSON{LineItem: l.LineItemID, Quantity: l.Quantity})
	}
	out.Refunds = append(out.Refunds, r.RefundIDs...)
	return out
}

// returnLines reads "lines": each a line item and a whole number of
// units, at least 1. What each line has left to return is the store's to
// check, under the sale's lock.
func (req *returnRequest) returnLines() ([]refundry.ReturnLine, error) {
	if len(req.Lines) > refundry.MaxReturnLines {
		return nil, paramInvalid("lines", fmt.Sprintf("Name at most %d lines.", refundry.MaxReturnLines))
	}
	out := make([]refundry.ReturnLine, 0, len(req.Lines))
	for i, l := range req.Lines {
		p := "lines[" + strconv.Itoa(i) + "]."
		if l.LineItem == "" {
			return nil, paramInvalid(p+"line_item", "Parameter "+p+"line_item is required.")
		}
		if l.Quantity == "" {
			return nil, paramInvalid(p+"quantity", "Parameter "+p+"quantity is required.")
		}
		q, err := refundry.ParseMinor(string(l.Quantity))
		if err != nil || q <= 0 {
			return nil, paramInvalid(p+"quantity", "Parameter "+p+"quantity must be a whole number of units, at least 1.")
		}
		out = append(out, refundry.ReturnLine{LineItemID: l.LineItem, Quantity: q})
	}
	return out, nil
}

// handleCreateReturn answers 201 with the return, requested.
func handleCreateReturn(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := edge.MerchantFrom(r.Context())
		var req returnRequest
		idem, err := readJSON(w, r, &req)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if req.Sale == "" {
			Error(w, r, logger, paramInvalid("sale", "Parameter sale is required."))
			return
		}
		if !refundry.ValidID(req.Sale) {
			Error(w, r, logger, refundry.ParamErrorf(refundry.ENOTFOUND, "sale", "No such sale: '%s'", truncateID(req.Sale)))
			return
		}
		lines, err := req.returnLines()
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ret := &refundry.Return{MerchantID: m.ID, SaleID: req.Sale, Lines: lines, Reason: req.Reason, Description: req.Description}
		replayed, err := eng.CreateReturn(r.Context(), ret, idem)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		edge.WriteJSON(w, http.StatusCreated, renderReturn(ret))
	})
}

func handleListReturns(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, page, err := listQuery(r, "sale", "status")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		f := refundry.ReturnFilter{Page: page, SaleID: q.Get("sale"), Status: q.Get("status")}
		if f.SaleID != "" && !refundry.ValidID(f.SaleID) {
			Error(w, r, logger, paramInvalid("sale", "Parameter sale must be a sale id."))
			return
		}
		list, more, err := eng.ListReturns(r.Context(), edge.MerchantFrom(r.Context()).ID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, list, renderReturn, more, "/v1/returns")
	})
}

func handleGetReturn(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "return")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ret, err := eng.FindReturn(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderReturn(ret))
	})
}

// handleMoveReturn answers receive and cancel: bodiless, idempotent by
// nature (a return already there is answered as it is).
func handleMoveReturn(eng *engine.Engine, logger *slog.Logger, move func(*engine.Engine) func(ctx context.Context, merchantID, id string) (*refundry.Return, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "return")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ret, err := move(eng)(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderReturn(ret))
	})
}

func handleReceiveReturn(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return handleMoveReturn(eng, logger, func(e *engine.Engine) func(context.Context, string, string) (*refundry.Return, error) {
		return e.ReceiveReturn
	})
}

func handleCancelReturn(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return handleMoveReturn(eng, logger, func(e *engine.Engine) func(context.Context, string, string) (*refundry.Return, error) {
		return e.CancelReturn
	})
}

// handleRefundReturn answers 200 with the return, refunded; its refunds
// (GET /v1/refunds/{id}) show the return and the restocking fee as their
// fee. Asked again, it answers the refunded return and refunds nothing.
func handleRefundReturn(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var req returnRefundRequest
		if len(bytes.TrimSpace(body)) > 0 {
			if err := DecodeStrict(body, &req); err != nil {
				Error(w, r, logger, err)
				return
			}
		}
		fee, err := restockingFee(req.RestockingFee)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "return")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ret, _, err := eng.RefundReturn(r.Context(), edge.MerchantFrom(r.Context()).ID, id, fee)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderReturn(ret))
	})
}

// restockingFee reads "restocking_fee": absent is none; otherwise a whole
// number of minor units, 0 or more. Whether it is above the refund's
// amount is the refund's decision.
func restockingFee(n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	fee, err := refundry.ParseMinor(string(n))
	if err != nil || fee < 0 {
		return 0, paramInvalid("restocking_fee", "Parameter restocking_fee must be a whole number of minor units, 0 or more.")
	}
	return fee, nil
}
