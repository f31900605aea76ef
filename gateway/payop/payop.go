// Package payop is a Refundry gateway that refunds through Payop's
// "Create Refund" endpoint (seed 003): POST /v1/refunds/create with a
// Bearer token, refundType 1 for all that remains of the transaction and
// 2 for a partial amount, the amount in the transaction's major units,
// and metadata naming the Refundry refund.
//
// The Payop transaction is the one whose GatewayChargeID (else Reference)
// is the merchant's checkout transaction identifier.
//
// Payop's document offers no idempotency key and no way to look a refund
// up, so the gateway is OneShot: a call whose outcome is unknown is never
// sent again (see refundry.OneShot).
package payop

import (
	"context"
	"net/http"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/httpjson"
)

// Name is the gateway name of payments taken through Payop.
const Name = "payop"

// DefaultBaseURL is Payop's API, from its document.
const DefaultBaseURL = "https://api.payop.com"

// MetadataRefundID is the metadata key naming the Refundry refund.
const MetadataRefundID = "refundry_refund_id"

// Refund types, from the document: "1 - all transaction amount, 2 -
// partial amount".
const (
	refundAll     = 1
	refundPartial = 2
)

// Config configures a Gateway.
type Config struct {
	// BaseURL is the API's base; "" means DefaultBaseURL.
	BaseURL string
	// Token is the JWT sent as "Authorization: Bearer <token>".
	Token string
	// HTTPClient makes the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
}

// Gateway refunds through Payop. It is safe for concurrent use.
type Gateway struct {
	call  *httpjson.Caller
	token string
}

var (
	_ refundry.Gateway = (*Gateway)(nil)
	_ refundry.OneShot = (*Gateway)(nil)
)

// New returns a Gateway for cfg. Returns EINVALID for a missing token or
// a base URL that is not http(s).
func New(cfg Config) (*Gateway, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "credentials.token", "Payop needs a token (the JWT of its Bearer authentication).")
	}
	c, err := httpjson.New("Payop", cfg.BaseURL, DefaultBaseURL, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &Gateway{call: c, token: cfg.Token}, nil
}

// Name is the gateway name Payop payments use.
func (g *Gateway) Name() string { return Name }

// OneShot is true: Payop documents no idempotency key and no look-up.
func (g *Gateway) OneShot() bool { return true }

type createRequest struct {
	TransactionIdentifier string            `json:"transactionIdentifier"`
	RefundType            int               `json:"refundType"`
	Amount                any               `json:"amount"`
	Metadata              map[string]string `json:"metadata"`
}

type answer struct {
	Data    any    `json:"data"`
	Status  any    `json:"status"`
	Message string `json:"message"`
}

// Refund asks Payop to refund r. Payop's 200 (status 1, the refund's id
// in the identifier header) is a succeeded result: the document knows no
// other state. A refusal (422: amount too large, transaction not found;
// 400; 502 with Payop's message) is a failed result. No answer, 429 and
// 5xx are EUNAVAILABLE, 401/403, 404 and answers that are not Payop's
// EGATEWAY: the refund stays pending, and is not sent again (OneShot).
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	if r.GatewayRefundID != "" {
		// Payop took it before (its 200 is final); nothing is sent again.
		return refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: r.GatewayRefundID}, nil
	}
	id := httpjson.ProviderID(r)
	if id == "" {
		return httpjson.Failed("Payop", "the payment has no Payop transaction identifier"), nil
	}
	if r.Transaction.Currency != "" && r.Currency != "" && !strings.EqualFold(r.Currency, r.Transaction.Currency) {
		return httpjson.Failed("Payop", "the refund is in "+r.Currency+" but the payment in "+r.Transaction.Currency), nil
	}
	if r.Amount <= 0 {
		return httpjson.Failed("Payop", "only a positive amount can be refunded"), nil
	}
	amount, err := httpjson.Major(r.Amount, httpjson.Currency(r))
	if err != nil {
		return httpjson.Failed("Payop", refundry.ErrorMessage(err)), nil
	}
	body := createRequest{TransactionIdentifier: id, RefundType: refundPartial, Amount: amount,
		Metadata: map[string]string{MetadataRefundID: r.RefundID}}
	if r.Remainder {
		// The amount goes with type 1 too (the document marks it
		// required): Payop then refuses rather than refund a remainder
		// other than the one Refundry counted.
		body.RefundType = refundAll
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+g.token)
	// Not in Payop's document, harmless where unknown; Refundry playing
	// Payop honours it.
	h.Set("Idempotency-Key", r.RefundID)
	const op = "create refund"
	a, err := g.call.Do(ctx, op, http.MethodPost, "/v1/refunds/create", h, body)
	if err != nil {
		return refundry.GatewayResult{}, err
	}
	var ans answer
	own := httpjson.Decode(a.Body, &ans) == nil
	switch {
	case a.Status == http.StatusOK:
		if !own || !statusOne(ans.Status) {
			return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "not Payop's answer to a refund; the outcome is unknown")
		}
		return refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: a.Header.Get("identifier")}, nil
	case a.Status == http.StatusUnprocessableEntity, a.Status == http.StatusBadRequest,
		a.Status == http.StatusBadGateway && own && ans.Message != "":
		// Payop looked at the refund and said no; nothing moved. A 502
		// with Payop's own message is the card gateway's refusal; a 502
		// from a proxy is not Payop's word and falls to unknown below.
		if !own {
			ans.Message = ""
		}
		return httpjson.Failed("Payop", ans.Message), nil
	case a.Status == http.StatusTooManyRequests, a.Status >= 500:
		return refundry.GatewayResult{}, g.call.Unknown(op, "answered "+http.StatusText(a.Status), nil)
	}
	return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Message)
}

// statusOne reports whether Payop's body status is 1 (a number, or its
// text).
func statusOne(v any) bool {
	switch s := v.(type) {
	case interface{ String() string }:
		return s.String() == "1"
	case string:
		return s == "1"
	}
	return false
}

// Cancel returns ECONFLICT: Payop's document has no way to cancel a
// refund.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "Payop offers no way to cancel a refund.")
}
