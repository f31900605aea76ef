// Package keepup is the KeepUp dialect: KeepUp's "Refund Sale" endpoint
// (seed 000), answered by the Refundry engine so that a client written
// against KeepUp's documentation works unchanged. It translates only; every
// rule of a refund is the engine's.
package keepup

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// maxBody bounds a request body: the only field is alert_customer, so
// anything near this size is not a KeepUp request.
const maxBody = 64 << 10

// maxSaleID is the longest sale id or reference a store keeps; a longer
// one cannot name a sale, so it is not looked up at all.
const maxSaleID = 255

// NewHandler returns the KeepUp routes.
func NewHandler(eng *engine.Engine, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, logger, err) }
	refund := edge.Authenticate(eng, edge.KeyForms{}, fail, handleRefundSale(eng, logger))

	// The seed's endpoint is PUT, but its own Node, PHP and Python samples
	// send POST ("CURLOPT_CUSTOMREQUEST => \"POST\""): both are the refund.
	mux.Handle("PUT /v2.0/sales/refund/{sale_id}", refund)
	mux.Handle("POST /v2.0/sales/refund/{sale_id}", refund)
	mux.HandleFunc("/v2.0/sales/refund/{sale_id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "PUT, POST")
		writeError(w, r, logger, &edge.WireError{Status: http.StatusMethodNotAllowed, Message: "Method not allowed"})
	})
	return mux
}

// refundSaleRequest is the seed's body: "alert_customer, string, optional:
// Whether to alert the customer (yes, no)". It is read as any value so that
// a number or a boolean there is told apart from bad JSON.
type refundSaleRequest struct {
	AlertCustomer any `json:"alert_customer"`
}

// refundSaleResponse is the seed's success sample:
// {"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}.
type refundSaleResponse struct {
	Status  int            `json:"status"`
	Message string         `json:"message"`
	Data    refundSaleData `json:"data"`
}

type refundSaleData struct {
	Status string `json:"status"`
}

func handleRefundSale(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m := edge.MerchantFrom(ctx)
		body, idem, err := edge.ReadRequest(w, r, maxBody)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		notify, err := decodeRefundSale(body)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		sale, err := findSale(ctx, eng, m.ID, r.PathValue("sale_id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		res, err := eng.Refund(ctx, refundry.RefundRequest{
			MerchantID: m.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
			NotifyCustomer: notify, Source: refundry.SourceKeepUp, Idempotency: idem,
		})
		switch refundry.ErrorCode(err) {
		case "":
			for _, rf := range res.Refunds {
				if err := rf.Refusal(); err != nil {
					writeError(w, r, logger, err)
					return
				}
			}
		case refundry.EREFUNDED:
			// Decided: PUT is idempotent, so a sale refunded in full
			// before answers the same 200 and moves nothing.
		default:
			writeError(w, r, logger, err)
			return
		}
		pending, err := refundPending(ctx, eng, m.ID, sale.ID)
		if err != nil && res != nil {
			// This call made the refund: a read failing now must not
			// answer "try again" for money that may have moved
			// (invariant 4). Its own refunds say whether it is pending.
			logger.WarnContext(ctx, "reading the sale's pending refunds failed; answered from the refund made", "err", err)
			pending, err = false, nil
			for _, rf := range res.Refunds {
				pending = pending || awaiting(rf.Status)
			}
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		out := refundSaleResponse{Status: http.StatusOK, Message: "sale refunded", Data: refundSaleData{Status: "refunded"}}
		if pending {
			out.Message, out.Data.Status = "sale refund pending", "pending"
		}
		edge.WriteJSON(w, http.StatusOK, out)
	})
}

// decodeRefundSale reads the optional body and reports whether the
// customer is to be alerted. An empty body means "no".
func decodeRefundSale(body []byte) (notify bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return false, nil
	}
	if body[0] != '{' {
		return false, refundry.Errorf(refundry.EINVALID, "Request body must be a JSON object.")
	}
	var req refundSaleRequest
	if err := edge.DecodeJSON(body, &req); err != nil {
		return false, err
	}
	switch req.AlertCustomer {
	case nil, "no":
		return false, nil
	case "yes":
		return true, nil
	}
	return false, refundry.ParamErrorf(refundry.EINVALID, "alert_customer", `alert_customer must be "yes" or "no".`)
}

// findSale resolves the path's sale_id, which is decided to be the sale's
// id or its merchant reference (KeepUp clients know their own order ids).
func findSale(ctx context.Context, eng *engine.Engine, merchantID, saleID string) (*refundry.Sale, error) {
	if saleID == "" || len(saleID) > maxSaleID {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such sale.")
	}
	if refundry.ValidID(saleID) {
		s, err := eng.FindSale(ctx, merchantID, refundry.SaleLookup{ID: saleID})
		if refundry.ErrorCode(err) != refundry.ENOTFOUND {
			return s, err
		}
	}
	return eng.FindSale(ctx, merchantID, refundry.SaleLookup{Reference: saleID})
}

// refundPending reports whether any of the sale's refunds still awaits
// its outcome (a gateway's answer, an approval, a person's review): the
// answer then says so rather than claim money went back.
func refundPending(ctx context.Context, eng *engine.Engine, merchantID, saleID string) (bool, error) {
	for _, status := range awaitingStatuses() {
		refunds, _, err := eng.ListRefunds(ctx, merchantID, refundry.RefundFilter{
			Page: refundry.Page{Limit: 1}, SaleID: saleID, Status: status,
		})
		if err != nil || len(refunds) > 0 {
			return len(refunds) > 0, err
		}
	}
	return false, nil
}

// awaiting reports whether a refund in status is answered "sale refund
// pending": it holds its amount (refundry.Holds) but the money has not
// gone back yet. That is a refund its gateway has not confirmed, one a
// merchant's policy holds for approval and one in manual review; KeepUp
// has one word for all three. A succeeded refund is "refunded"; a failed
// one was answered with the gateway's reason; a canceled one holds
// nothing.
func awaiting(status string) bool {
	return refundry.Holds(status) && status != refundry.RefundSucceeded
}

// awaitingStatuses lists the statuses awaiting reports, in the order of
// refundry.Transitions.
func awaitingStatuses() []string {
	var out []string
	for _, s := range refundry.HoldingStatuses() {
		if awaiting(s) {
			out = append(out, s)
		}
	}
	return out
}
