// Package jetti is a Refundry gateway that refunds through Jetti's
// "refund a transaction" endpoint (seed 004): PUT
// /v1/transactions/{id}/refund.json with refundAmount in the
// transaction's major units and a Bearer token.
//
// The Jetti transaction is the integer in the payment's GatewayChargeID
// (else its Reference). Jetti's document names no host of its own (its
// sample uses api.example.com), so Config.BaseURL is required.
//
// Jetti's document offers no idempotency key and no way to look a refund
// up, so the gateway is OneShot (see refundry.OneShot). It sends an
// Idempotency-Key all the same, which Refundry playing Jetti honours.
package jetti

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/httpjson"
)

// Name is the gateway name of payments taken through Jetti.
const Name = "jetti"

// Config configures a Gateway.
type Config struct {
	// BaseURL is the API's base, without the /v1 of the path: required.
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>".
	Token string
	// HTTPClient makes the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
}

// Gateway refunds through Jetti. It is safe for concurrent use.
type Gateway struct {
	call  *httpjson.Caller
	token string
}

var (
	_ refundry.Gateway = (*Gateway)(nil)
	_ refundry.OneShot = (*Gateway)(nil)
)

// New returns a Gateway for cfg. Returns EINVALID for a missing token, a
// missing base URL or one that is not http(s).
func New(cfg Config) (*Gateway, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "credentials.token", "Jetti needs an access token.")
	}
	if cfg.BaseURL == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "base_url", "Jetti needs a base URL: its document names no host.")
	}
	c, err := httpjson.New("Jetti", cfg.BaseURL, "", cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &Gateway{call: c, token: cfg.Token}, nil
}

// Name is the gateway name Jetti payments use.
func (g *Gateway) Name() string { return Name }

// OneShot is true: Jetti documents no idempotency key and no look-up.
func (g *Gateway) OneShot() bool { return true }

type refundRequest struct {
	RefundAmount json.Number `json:"refundAmount"`
}

// answer is the parts of the Transaction model (and of the error body)
// the gateway reads.
type answer struct {
	ID             json.Number `json:"id"`
	RefundAmount   json.Number `json:"refundAmount"`
	Status         string      `json:"status"`
	StripeRefundID *string     `json:"stripeRefundId"`
	Message        string      `json:"message"`
}

// Refund asks Jetti to refund r. The transaction Jetti answers with says
// how its latest refund stands: complete is succeeded, pending pending,
// error failed, cancelled canceled. A refusal (400, 404, 422, 502 with
// Jetti's message) is a failed result; no answer, 409, 429 and 5xx are
// EUNAVAILABLE; 401/403 and answers not Jetti's EGATEWAY.
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	if r.GatewayRefundID != "" {
		// Jetti acknowledged it before and offers no look-up: nothing is
		// sent again; Jetti's own report, or a person, settles it.
		return refundry.GatewayResult{Status: refundry.RefundPending, GatewayRefundID: r.GatewayRefundID}, nil
	}
	ref := httpjson.ProviderID(r)
	number, err := strconv.ParseInt(ref, 10, 64)
	if err != nil || number < 1 {
		return httpjson.Failed("Jetti", "\""+ref+"\" is not a Jetti transaction id (an integer of at least 1)"), nil
	}
	if r.Transaction.Currency != "" && r.Currency != "" && !strings.EqualFold(r.Currency, r.Transaction.Currency) {
		return httpjson.Failed("Jetti", "the refund is in "+r.Currency+" but the payment in "+r.Transaction.Currency), nil
	}
	if r.Amount <= 0 {
		// refundAmount 0 would ask Jetti for everything that remains.
		return httpjson.Failed("Jetti", "only a positive amount can be refunded"), nil
	}
	cur := httpjson.Currency(r)
	amount, err := httpjson.Major(r.Amount, cur)
	if err != nil {
		return httpjson.Failed("Jetti", refundry.ErrorMessage(err)), nil
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+g.token)
	h.Set("Idempotency-Key", r.RefundID)
	const op = "refund transaction"
	a, err := g.call.Do(ctx, op, http.MethodPut, "/v1/transactions/"+strconv.FormatInt(number, 10)+"/refund.json", h,
		refundRequest{RefundAmount: amount})
	if err != nil {
		return refundry.GatewayResult{}, err
	}
	var ans answer
	own := httpjson.Decode(a.Body, &ans) == nil
	switch a.Status {
	case http.StatusOK:
		total, terr := httpjson.Minor(ans.RefundAmount, cur)
		if !own || ans.ID.String() != strconv.FormatInt(number, 10) || terr != nil {
			return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "not Jetti's answer to a refund; the outcome is unknown")
		}
		if total < r.Amount {
			return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "Jetti shows "+ans.RefundAmount.String()+" refunded in all, less than the "+amount.String()+" asked")
		}
		out := refundry.GatewayResult{GatewayRefundID: strconv.FormatInt(number, 10) + ":" + r.RefundID}
		if ans.StripeRefundID != nil && *ans.StripeRefundID != "" {
			out.GatewayRefundID = *ans.StripeRefundID
		}
		switch ans.Status {
		case "complete":
			out.Status = refundry.RefundSucceeded
		case "pending":
			out.Status = refundry.RefundPending
		case "error":
			out.Status, out.FailureReason = refundry.RefundFailed, "Jetti: the refund failed"
		case "cancelled":
			out.Status = refundry.RefundCanceled
		default:
			return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "unknown status \""+ans.Status+"\"")
		}
		return out, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Message)
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusBadGateway:
		if own && ans.Message != "" {
			// Jetti looked at the refund and said no; nothing moved.
			return httpjson.Failed("Jetti", ans.Message), nil
		}
	case http.StatusConflict:
		return refundry.GatewayResult{}, g.call.Unknown(op, "answered Conflict", nil)
	}
	if a.Status == http.StatusTooManyRequests || a.Status >= 500 {
		return refundry.GatewayResult{}, g.call.Unknown(op, "answered "+http.StatusText(a.Status), nil)
	}
	return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Message)
}

// Cancel returns ECONFLICT: Jetti's document has no way to cancel a
// refund.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "Jetti offers no way to cancel a refund.")
}
