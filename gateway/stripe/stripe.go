// Package stripe is a Refundry gateway that refunds through Stripe, on the
// official stripe-go library.
//
// A transaction paid through Stripe keeps the Stripe object that took the
// money in GatewayChargeID: a Charge (ch_..., or py_... for non-card
// payments) or a PaymentIntent (pi_...). A refund is created for it with
// Refundry's refund id as Stripe's Idempotency-Key and as the metadata
// value refundry_refund_id, so that asking again after a crash returns the
// refund Stripe already made instead of making a second one (invariant 6).
//
// Each Gateway has its own Stripe client, HTTP client, concurrency bound and
// rate limit; nothing is kept in stripe-go's package-level state, so
// gateways with different keys or API bases can live side by side.
package stripe

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v85"

	"github.com/refundry/refundry"
)

// Defaults for Config's zero values.
const (
	DefaultMaxConcurrency = 25

	// Stripe's basic rate limiter allows 100 read and 100 write operations
	// per second in live mode and 25 of each in test mode (sandbox)
	// (https://docs.stripe.com/rate-limits). Staying under it keeps a burst
	// of refunds from being answered with 429s.
	DefaultLiveRequestsPerSecond = 100
	DefaultTestRequestsPerSecond = 25

	// DefaultTimeout bounds one HTTP request when Config.HTTPClient is nil;
	// it is stripe-go's own default. A caller's ctx deadline, if shorter,
	// wins.
	DefaultTimeout = 80 * time.Second
)

// MetadataRefundID is the metadata key under which every Stripe refund made
// by Refundry names the Refundry refund it belongs to.
const MetadataRefundID = "refundry_refund_id"

// idempotencyWindow is how long Stripe is guaranteed to remember an
// idempotency key: keys may be pruned once they are at least 24 hours old
// (https://docs.stripe.com/api/idempotent_requests). The hour of margin
// covers clock skew between Refundry and Stripe. Past it, a retry first
// looks the refund up by its metadata, since the key alone may no longer
// prevent a second refund.
const idempotencyWindow = 23 * time.Hour

// Config configures a Gateway.
type Config struct {
	// SecretKey is the Stripe secret (sk_...) or restricted (rk_...) key.
	SecretKey string
	// APIBase is the base URL of the API; "" means Stripe itself. Tests
	// point it at stripe-mock, e.g. http://127.0.0.1:12111.
	APIBase string
	// HTTPClient makes the requests; nil means a client with
	// DefaultTimeout. It is copied, never changed: the Gateway wraps a copy
	// of its transport with the concurrency bound and the rate limit.
	HTTPClient *http.Client
	// MaxConcurrency bounds the requests in flight to Stripe at once;
	// 0 means DefaultMaxConcurrency.
	MaxConcurrency int
	// RequestsPerSecond caps the requests sent to Stripe per second (an
	// integer: a rate needs no fractions here). 0 means
	// DefaultTestRequestsPerSecond for a test-mode key (sk_test_,
	// rk_test_) and DefaultLiveRequestsPerSecond otherwise.
	RequestsPerSecond int
}

// Gateway refunds through Stripe. It is safe for concurrent use; create it
// with New.
type Gateway struct {
	client *stripeapi.Client
	key    string
}

var _ refundry.Gateway = (*Gateway)(nil)

// New returns a Gateway for cfg. Returns EINVALID for a missing key, a bad
// APIBase or negative limits.
func New(cfg Config) (*Gateway, error) {
	if strings.TrimSpace(cfg.SecretKey) == "" {
		return nil, refundry.Errorf(refundry.EINVALID, "Stripe needs a secret key.")
	}
	if cfg.MaxConcurrency < 0 {
		return nil, refundry.Errorf(refundry.EINVALID, "Stripe's MaxConcurrency must not be negative.")
	}
	if cfg.RequestsPerSecond < 0 {
		return nil, refundry.Errorf(refundry.EINVALID, "Stripe's RequestsPerSecond must not be negative.")
	}
	conc := cfg.MaxConcurrency
	if conc == 0 {
		conc = DefaultMaxConcurrency
	}
	rps := cfg.RequestsPerSecond
	if rps == 0 {
		rps = DefaultLiveRequestsPerSecond
		if testMode(cfg.SecretKey) {
			rps = DefaultTestRequestsPerSecond
		}
	}

	hc := &http.Client{Timeout: DefaultTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.Transport = newLimitedTransport(hc.Transport, conc, rps)

	bc := &stripeapi.BackendConfig{
		HTTPClient: hc,
		// stripe-go retries by sleeping without watching ctx; Refundry
		// already asks again about every refund left pending, with the same
		// idempotency key (invariant 6), so one call is one request and a
		// caller's deadline holds.
		MaxNetworkRetries: stripeapi.Int64(0),
		// Errors are returned to the caller, which logs them once.
		LeveledLogger: &stripeapi.LeveledLogger{Level: stripeapi.LevelNull},
	}
	if cfg.APIBase != "" {
		u, err := url.Parse(cfg.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, refundry.Errorf(refundry.EINVALID, "Stripe API base %q is not an http(s) URL.", cfg.APIBase)
		}
		bc.URL = stripeapi.String(strings.TrimRight(cfg.APIBase, "/"))
	}
	client := stripeapi.NewClient(cfg.SecretKey, stripeapi.WithBackends(stripeapi.NewBackendsWithConfig(bc)))
	return &Gateway{client: client, key: cfg.SecretKey}, nil
}

// Name is the gateway name Stripe payments use.
func (g *Gateway) Name() string { return refundry.GatewayStripe }

// Refund creates the Stripe refund for r, or reports on it if Stripe has
// already named it (r.GatewayRefundID). Stripe's refusal (charge already
// refunded, amount too large, no such charge) is a result with status
// failed. Returns an error, EUNAVAILABLE or EGATEWAY, when the outcome is
// unknown (network, timeout, 5xx, 429, bad credentials): the refund stays
// pending and is asked about again with the same idempotency key.
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	if r.GatewayRefundID != "" {
		re, err := g.client.V1Refunds.Retrieve(ctx, r.GatewayRefundID, nil)
		if err != nil {
			// Stripe named this refund before: not finding it now means a
			// wrong key or account, not a refusal, so it stays pending.
			return refundry.GatewayResult{}, unknownOutcome("retrieve refund "+r.GatewayRefundID, err)
		}
		return result(re)
	}

	var chargeID string
	if r.Transaction != nil {
		chargeID = r.Transaction.GatewayChargeID
	}
	pi, ok := paymentObject(chargeID)
	if !ok {
		// Stripe would answer resource_missing: nothing can have moved.
		return failed("%q is not a Stripe charge (ch_...) or PaymentIntent (pi_...) id.", chargeID), nil
	}
	if r.Currency != "" && r.Transaction.Currency != "" && !strings.EqualFold(r.Currency, r.Transaction.Currency) {
		// Stripe refunds in the payment's currency: an amount in another
		// one would be read as the wrong sum.
		return failed("The refund is in %s but the Stripe payment in %s.", r.Currency, r.Transaction.Currency), nil
	}
	if r.Amount <= 0 {
		// Stripe accepts only positive amounts; nothing can have moved.
		return failed("Stripe refunds only a positive amount; this one is %d.", r.Amount), nil
	}

	if !r.Created.IsZero() && time.Since(r.Created) >= idempotencyWindow {
		re, err := g.find(ctx, chargeID, pi, r.RefundID)
		if err != nil {
			return refundry.GatewayResult{}, unknownOutcome("look up refund "+r.RefundID, err)
		}
		if re != nil {
			return result(re)
		}
	}

	params := &stripeapi.RefundCreateParams{
		Amount:   stripeapi.Int64(r.Amount),
		Metadata: map[string]string{MetadataRefundID: r.RefundID},
	}
	if pi {
		params.PaymentIntent = stripeapi.String(chargeID)
	} else {
		params.Charge = stripeapi.String(chargeID)
	}
	if stripeReason(r.Reason) {
		params.Reason = stripeapi.String(r.Reason)
	}
	// The same refund always sends the same key and the same parameters, so
	// Stripe replays its first answer instead of refunding again.
	params.IdempotencyKey = stripeapi.String(r.RefundID)

	re, err := g.client.V1Refunds.Create(ctx, params)
	if err != nil {
		if msg, ok := refusal(err); ok {
			return refundry.GatewayResult{Status: refundry.RefundFailed, FailureReason: msg}, nil
		}
		return refundry.GatewayResult{}, unknownOutcome("create refund "+r.RefundID, err)
	}
	return result(re)
}

// Cancel cancels r at Stripe, which allows it only while the refund is in
// requires_action (a payment method that needs the customer to act).
// Returns ECONFLICT when Stripe has taken the refund, has settled it, or
// has no record of it yet (a request for it may still be in flight, so
// calling it canceled could let money move later); EUNAVAILABLE or
// EGATEWAY when Stripe did not answer.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	id := r.GatewayRefundID
	if id == "" {
		// Refundry learns the Stripe id only once a refund settles, so a
		// pending one is found by the metadata every Refundry refund has.
		var chargeID string
		if r.Transaction != nil {
			chargeID = r.Transaction.GatewayChargeID
		}
		pi, ok := paymentObject(chargeID)
		if !ok {
			return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "%q is not a Stripe charge or PaymentIntent id; the refund cannot be canceled at Stripe.", chargeID)
		}
		re, err := g.find(ctx, chargeID, pi, r.RefundID)
		if err != nil {
			return refundry.GatewayResult{}, unknownOutcome("look up refund "+r.RefundID, err)
		}
		if re == nil {
			return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "Stripe has no record of this refund yet and a request for it may still be in flight, so it cannot be canceled safely.")
		}
		if re.Status != stripeapi.RefundStatusRequiresAction {
			return cancelOutcome(re)
		}
		id = re.ID
	}

	// No idempotency key: Stripe would replay a 5xx under it for a day,
	// and a second cancel needs none (a refused one is answered below).
	re, err := g.client.V1Refunds.Cancel(ctx, id, nil)
	if err != nil {
		if _, ok := refusal(err); !ok {
			return refundry.GatewayResult{}, unknownOutcome("cancel refund "+id, err)
		}
		// Stripe refused: the refund is past requires_action. Say where
		// it is, which may be canceled already (an earlier answer lost).
		cur, rerr := g.client.V1Refunds.Retrieve(ctx, id, nil)
		if rerr != nil {
			return refundry.GatewayResult{}, &refundry.Error{Code: refundry.ECONFLICT, Message: "Stripe refused to cancel this refund: " + stripeMessage(err), Err: err}
		}
		re = cur
	}
	return cancelOutcome(re)
}

// cancelOutcome turns the refund Stripe holds after a cancel into a
// canceled result or an ECONFLICT error naming its status.
func cancelOutcome(re *stripeapi.Refund) (refundry.GatewayResult, error) {
	if re.Status == stripeapi.RefundStatusCanceled {
		return refundry.GatewayResult{Status: refundry.RefundCanceled, GatewayRefundID: re.ID}, nil
	}
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "Stripe's refund %s is %s; Stripe cancels only refunds that require action.", re.ID, re.Status)
}

// CreateTestPayment creates and confirms a PaymentIntent paid with Stripe's
// test card pm_card_visa, for a sale that asks the Stripe gateway to make
// its payment, and returns the PaymentIntent's id (pi_...), which Refund
// accepts as a transaction's GatewayChargeID. amount is in minor units of
// currency. Returns EINVALID for a live-mode key (the test card exists only
// in test mode) or a non-positive amount, EGATEWAY when Stripe declines or
// leaves the payment untaken, EUNAVAILABLE when Stripe did not answer.
func (g *Gateway) CreateTestPayment(ctx context.Context, amount int64, currency string) (string, error) {
	if !testMode(g.key) {
		return "", refundry.Errorf(refundry.EINVALID, "Test payments need a Stripe test-mode key (sk_test_...).")
	}
	if amount <= 0 {
		return "", refundry.Errorf(refundry.EINVALID, "A test payment's amount must be above zero.")
	}
	cur, err := refundry.LookupCurrency(currency)
	if err != nil {
		return "", err
	}
	params := &stripeapi.PaymentIntentCreateParams{
		Amount:   stripeapi.Int64(amount),
		Currency: stripeapi.String(strings.ToLower(cur.Code)),
		// A card-only intent confirms without a return_url, which
		// automatic payment methods would ask for.
		PaymentMethodTypes: []*string{stripeapi.String("card")},
		PaymentMethod:      stripeapi.String("pm_card_visa"),
		Confirm:            stripeapi.Bool(true),
	}
	pi, err := g.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		if msg, ok := refusal(err); ok {
			return "", &refundry.Error{Code: refundry.EGATEWAY, Message: "Stripe declined the test payment: " + msg, Err: err}
		}
		return "", unknownOutcome("create test payment", err)
	}
	switch pi.Status {
	case stripeapi.PaymentIntentStatusRequiresAction, stripeapi.PaymentIntentStatusRequiresConfirmation,
		stripeapi.PaymentIntentStatusRequiresCapture, stripeapi.PaymentIntentStatusCanceled:
		// A decline comes back as a card error above; these statuses mean
		// the PaymentIntent exists but took no money.
		return "", refundry.Errorf(refundry.EGATEWAY, "Stripe left test payment %s in status %s; it took no money.", pi.ID, pi.Status)
	}
	if !strings.HasPrefix(pi.ID, "pi_") {
		return "", refundry.Errorf(refundry.EGATEWAY, "Stripe answered a test payment with the unexpected id %q.", pi.ID)
	}
	return pi.ID, nil
}

// find returns the Stripe refund of chargeID whose metadata names
// refundID, or nil if Stripe has none.
func (g *Gateway) find(ctx context.Context, chargeID string, pi bool, refundID string) (*stripeapi.Refund, error) {
	params := &stripeapi.RefundListParams{}
	params.Limit = stripeapi.Int64(100)
	if pi {
		params.PaymentIntent = stripeapi.String(chargeID)
	} else {
		params.Charge = stripeapi.String(chargeID)
	}
	for re, err := range g.client.V1Refunds.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, err
		}
		if re.Metadata[MetadataRefundID] == refundID {
			return re, nil
		}
	}
	return nil, nil
}

// result maps a Stripe refund's status onto Refundry's.
func result(re *stripeapi.Refund) (refundry.GatewayResult, error) {
	out := refundry.GatewayResult{GatewayRefundID: re.ID}
	switch re.Status {
	case stripeapi.RefundStatusPending, stripeapi.RefundStatusRequiresAction:
		// requires_action waits for the customer; until then the refund
		// is Stripe's and still cancelable.
		out.Status = refundry.RefundPending
	case stripeapi.RefundStatusSucceeded:
		out.Status = refundry.RefundSucceeded
	case stripeapi.RefundStatusFailed:
		out.Status = refundry.RefundFailed
		out.FailureReason = failureText(re.FailureReason)
	case stripeapi.RefundStatusCanceled:
		out.Status = refundry.RefundCanceled
	default:
		// A status this code does not know cannot be called final.
		return refundry.GatewayResult{}, refundry.Errorf(refundry.EGATEWAY, "Stripe answered refund %s with the unknown status %q.", re.ID, re.Status)
	}
	return out, nil
}

// failureText explains Stripe's failure_reason codes
// (https://docs.stripe.com/refunds#failed-refunds).
func failureText(code stripeapi.RefundFailureReason) string {
	var why string
	switch code {
	case "":
		return "Stripe reported the refund as failed."
	case "lost_or_stolen_card":
		why = "the card was reported lost or stolen"
	case "expired_or_canceled_card":
		why = "the card has expired or been canceled"
	case "charge_for_pending_refund_disputed":
		why = "the charge was disputed while the refund was pending"
	case "insufficient_funds":
		why = "the Stripe balance could not cover it"
	case "declined":
		why = "the card issuer declined it"
	case "merchant_request":
		why = "the merchant asked for it to be failed"
	default:
		why = "the reason is unknown"
	}
	return "Stripe could not refund: " + why + " (" + string(code) + ")."
}

// paymentObject tells whether id names a PaymentIntent (true) or a Charge
// (false); ok is false for anything else.
func paymentObject(id string) (pi, ok bool) {
	switch {
	case strings.HasPrefix(id, "pi_") && len(id) > 3:
		return true, true
	case (strings.HasPrefix(id, "ch_") || strings.HasPrefix(id, "py_")) && len(id) > 3:
		return false, true
	}
	return false, false
}

// stripeReason tells whether a reason is one of Stripe's own reason
// codes. The engine sends the one the refund's reason code maps to
// (RefundReason.StripeReason); anything else is left out rather than
// sent, since Stripe rejects it.
func stripeReason(s string) bool {
	switch stripeapi.RefundReason(s) {
	case stripeapi.RefundReasonDuplicate, stripeapi.RefundReasonFraudulent, stripeapi.RefundReasonRequestedByCustomer:
		return true
	}
	return false
}

func testMode(key string) bool {
	return strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "rk_test_")
}

func failed(format string, args ...any) refundry.GatewayResult {
	return refundry.GatewayResult{Status: refundry.RefundFailed, FailureReason: fmt.Sprintf(format, args...)}
}
