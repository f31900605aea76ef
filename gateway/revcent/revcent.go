// Package revcent is a Refundry gateway that refunds through RevCent's
// "Refund A Product Sale" operation (seed 002): POST
// /v2/product_sales/{product_sale_id}/refund with the amount in the
// sale's major units, and refunded_offsite for money that went back
// outside RevCent.
//
// RevCent refunds line by line. The product sale is GatewayRefund's
// GatewayLineID (the RevCent id of the line item refunded), else the
// payment's GatewayChargeID, else its Reference: a payment that is one
// product sale.
//
// RevCent's document offers no idempotency key and no way to look a
// refund up, so the gateway is OneShot (see refundry.OneShot).
package revcent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/httpjson"
)

// Name is the gateway name of payments taken through RevCent.
const Name = "revcent"

// DefaultBaseURL is RevCent's API, from its document.
const DefaultBaseURL = "https://api.revcent.com"

// idLength is the length of every RevCent id: "A 20 character product
// sale ID."
const idLength = 20

// Config configures a Gateway.
type Config struct {
	// BaseURL is the API's base; "" means DefaultBaseURL.
	BaseURL string
	// APIKey is sent in the X-API-Key header.
	APIKey string
	// HTTPClient makes the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
}

// Gateway refunds through RevCent. It is safe for concurrent use.
type Gateway struct {
	call *httpjson.Caller
	key  string
}

var (
	_ refundry.Gateway = (*Gateway)(nil)
	_ refundry.OneShot = (*Gateway)(nil)
)

// New returns a Gateway for cfg. Returns EINVALID for a missing key or a
// base URL that is not http(s).
func New(cfg Config) (*Gateway, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "credentials.api_key", "RevCent needs an API key.")
	}
	c, err := httpjson.New("RevCent", cfg.BaseURL, DefaultBaseURL, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &Gateway{call: c, key: cfg.APIKey}, nil
}

// Name is the gateway name RevCent payments use.
func (g *Gateway) Name() string { return Name }

// OneShot is true: RevCent documents no idempotency key and no look-up.
func (g *Gateway) OneShot() bool { return true }

type refundRequest struct {
	Amount          json.Number `json:"amount"`
	RefundedOffsite bool        `json:"refunded_offsite,omitempty"`
}

// answer is both of the document's schemas: the 200 and APIStandardErrors.
type answer struct {
	APICallID     string      `json:"api_call_id"`
	Code          json.Number `json:"code"`
	Amount        json.Number `json:"amount"`
	ProductSaleID string      `json:"product_sale_id"`
	PendingRefund []string    `json:"pending_refund"`
	ErrorCode     string      `json:"error_code"`
	Message       string      `json:"message"`
	Result        string      `json:"result"`
}

// Refund asks RevCent to refund r's product sale. A 200 whose
// pending_refund is empty is a succeeded result, one that lists pending
// refunds a pending one named by them. A refusal (400, 404, 422, 409
// already refunded or disputed, 502 with RevCent's error) is a failed
// result; no answer, 429 and 5xx are EUNAVAILABLE; 401/403, a 200 that
// refunded another amount, and answers not RevCent's are EGATEWAY.
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	if r.GatewayRefundID != "" {
		// RevCent named it pending before and offers no look-up: nothing
		// is sent again; RevCent's own report, or a person, settles it.
		return refundry.GatewayResult{Status: refundry.RefundPending, GatewayRefundID: r.GatewayRefundID}, nil
	}
	id := r.GatewayLineID
	if id == "" {
		id = httpjson.ProviderID(r)
	}
	if len(id) != idLength {
		return httpjson.Failed("RevCent", "\""+id+"\" is not a 20 character product sale id"), nil
	}
	if r.Transaction != nil && r.Transaction.Currency != "" && r.Currency != "" && !strings.EqualFold(r.Currency, r.Transaction.Currency) {
		return httpjson.Failed("RevCent", "the refund is in "+r.Currency+" but the payment in "+r.Transaction.Currency), nil
	}
	if r.Amount <= 0 {
		return httpjson.Failed("RevCent", "only a positive amount can be refunded"), nil
	}
	cur := httpjson.Currency(r)
	amount, err := httpjson.Major(r.Amount, cur)
	if err != nil {
		return httpjson.Failed("RevCent", refundry.ErrorMessage(err)), nil
	}
	h := http.Header{}
	h.Set("X-API-Key", g.key)
	// Not in RevCent's document, harmless where unknown; Refundry playing
	// RevCent honours it.
	h.Set("Idempotency-Key", r.RefundID)
	// The amount is always sent, whole refunds too: RevCent then refunds
	// exactly what Refundry counted, or refuses.
	const op = "refund product sale"
	a, err := g.call.Do(ctx, op, http.MethodPost, "/v2/product_sales/"+url.PathEscape(id)+"/refund", h,
		refundRequest{Amount: amount, RefundedOffsite: r.Offsite})
	if err != nil {
		return refundry.GatewayResult{}, err
	}
	var ans answer
	own := httpjson.Decode(a.Body, &ans) == nil && ans.Code != ""
	switch a.Status {
	case http.StatusOK:
		if !own || ans.Code != "1" {
			return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "not RevCent's answer to a refund; the outcome is unknown")
		}
		got, err := httpjson.Minor(ans.Amount, cur)
		if err != nil || got != r.Amount {
			return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "RevCent refunded "+ans.Amount.String()+", not "+amount.String())
		}
		if len(ans.PendingRefund) > 0 {
			return refundry.GatewayResult{Status: refundry.RefundPending, GatewayRefundID: strings.Join(ans.PendingRefund, ",")}, nil
		}
		return refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: ans.APICallID}, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Message)
	case http.StatusConflict:
		switch ans.ErrorCode {
		case "product_sale_already_refunded", "charge_disputed":
			return httpjson.Failed("RevCent", ans.Message), nil
		}
		// Another request on the product sale is still running.
		return refundry.GatewayResult{}, g.call.Unknown(op, "answered Conflict", nil)
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusBadGateway:
		if own {
			// RevCent looked at the refund and said no; nothing moved.
			return httpjson.Failed("RevCent", ans.Message), nil
		}
	}
	if a.Status == http.StatusTooManyRequests || a.Status >= 500 {
		return refundry.GatewayResult{}, g.call.Unknown(op, "answered "+http.StatusText(a.Status), nil)
	}
	return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Message)
}

// Cancel returns ECONFLICT: RevCent's document has no way to cancel a
// refund.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "RevCent offers no way to cancel a refund.")
}
