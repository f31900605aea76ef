// Package keepup is a Refundry gateway that refunds through KeepUp's
// "Refund Sale" endpoint (seed 000): PUT /v2.0/sales/refund/{sale_id}
// with a Bearer API key. KeepUp refunds a sale whole, so only a refund of
// the whole payment is sent; a partial one is refused before any call.
//
// The KeepUp sale is the payment's GatewayChargeID (else its Reference).
//
// A KeepUp refund is idempotent by its nature: it refunds whatever
// remains of the sale, so a second call after a lost answer finds nothing
// left and moves nothing. The gateway may be asked again (not OneShot).
package keepup

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/httpjson"
)

// Name is the gateway name of payments taken through KeepUp.
const Name = "keepup"

// DefaultBaseURL is KeepUp's API, from its document.
const DefaultBaseURL = "https://api.keepup.store"

// Config configures a Gateway.
type Config struct {
	// BaseURL is the API's base; "" means DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>".
	APIKey string
	// HTTPClient makes the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
}

// Gateway refunds through KeepUp. It is safe for concurrent use.
type Gateway struct {
	call *httpjson.Caller
	key  string
}

var (
	_ refundry.Gateway       = (*Gateway)(nil)
	_ refundry.OneShot       = (*Gateway)(nil)
	_ refundry.RefundChecker = (*Gateway)(nil)
)

// New returns a Gateway for cfg. Returns EINVALID for a missing key or a
// base URL that is not http(s).
func New(cfg Config) (*Gateway, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "credentials.api_key", "KeepUp needs an API key.")
	}
	c, err := httpjson.New("KeepUp", cfg.BaseURL, DefaultBaseURL, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &Gateway{call: c, key: cfg.APIKey}, nil
}

// Name is the gateway name KeepUp payments use.
func (g *Gateway) Name() string { return Name }

// OneShot is false: a whole-sale refund sent twice refunds once.
func (g *Gateway) OneShot() bool { return false }

// CheckRefund returns EINVALID (param amount) for a refund that is not the
// whole payment: KeepUp refunds only whole sales.
func (g *Gateway) CheckRefund(r refundry.GatewayRefund) error {
	if r.Transaction == nil || r.Amount != r.Transaction.Amount {
		var whole int64
		if r.Transaction != nil {
			whole = r.Transaction.Amount
		}
		return refundry.ParamErrorf(refundry.EINVALID, "amount", "KeepUp refunds only whole sales: the amount must be the payment's whole %d, not %d (minor units).", whole, r.Amount)
	}
	return nil
}

type refundRequest struct {
	AlertCustomer string `json:"alert_customer"`
}

type answer struct {
	Status  any    `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error"`
	Data    *struct {
		Status string `json:"status"`
	} `json:"data"`
}

// Refund asks KeepUp to refund r's sale. A partial refund is a failed
// result and nothing is sent (see CheckRefund). data.status refunded is
// succeeded, pending pending. A refusal (404, 422, 502 with KeepUp's
// error) is a failed result; no answer, 429 and 5xx are EUNAVAILABLE;
// 401/403 and answers not KeepUp's EGATEWAY.
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	if err := g.CheckRefund(r); err != nil {
		return httpjson.Failed("KeepUp", refundry.ErrorMessage(err)), nil
	}
	id := httpjson.ProviderID(r)
	if id == "" {
		return httpjson.Failed("KeepUp", "the payment has no KeepUp sale id"), nil
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+g.key)
	// Refundry sends its own refund notice; KeepUp is not asked to.
	const op = "refund sale"
	a, err := g.call.Do(ctx, op, http.MethodPut, "/v2.0/sales/refund/"+url.PathEscape(id), h, refundRequest{AlertCustomer: "no"})
	if err != nil {
		return refundry.GatewayResult{}, err
	}
	var ans answer
	own := httpjson.Decode(a.Body, &ans) == nil && ans.Status != nil
	switch a.Status {
	case http.StatusOK:
		if own && ans.Data != nil {
			switch ans.Data.Status {
			case "refunded":
				return refundry.GatewayResult{Status: refundry.RefundSucceeded}, nil
			case "pending":
				return refundry.GatewayResult{Status: refundry.RefundPending}, nil
			}
		}
		return refundry.GatewayResult{}, g.call.TurnedAway(op, a, "not KeepUp's answer to a refund; the outcome is unknown")
	case http.StatusUnauthorized, http.StatusForbidden:
		return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Error)
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusBadGateway:
		if own && ans.Error != "" {
			// KeepUp looked at the refund and said no; nothing moved.
			return httpjson.Failed("KeepUp", ans.Error), nil
		}
	}
	if a.Status == http.StatusTooManyRequests || a.Status >= 500 {
		return refundry.GatewayResult{}, g.call.Unknown(op, "answered "+http.StatusText(a.Status), nil)
	}
	return refundry.GatewayResult{}, g.call.TurnedAway(op, a, ans.Error)
}

// Cancel returns ECONFLICT: KeepUp's document has no way to cancel a
// refund.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "KeepUp offers no way to cancel a refund.")
}
