package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// Option configures NewHandler.
type Option func(*options)

type options struct {
	stripeWebhookSecret string
}

// WithStripeWebhookSecret has POST /v1/gateway_events/stripe receive the
// events signed with secret, the signing secret (whsec_...) of the
// webhook endpoint Stripe sends them to. Without it the route answers 404.
func WithStripeWebhookSecret(secret string) Option {
	return func(o *options) { o.stripeWebhookSecret = secret }
}

// MaxEventBody caps an inbound gateway event. Stripe's are a few KiB; a
// charge.refunded of an old API version that lists its refunds stays far
// below this.
const MaxEventBody = 512 << 10

// StripeEventTolerance is how old a signature may be: Stripe signs each
// attempt afresh, so an older one is a replay.
const StripeEventTolerance = 5 * time.Minute

type eventReceipt struct {
	Received  bool `json:"received"`
	Duplicate bool `json:"duplicate"`
}

// handleStripeEvent receives one Stripe event. No API key: the request
// proves it comes from Stripe by its Stripe-Signature, an HMAC of the
// body with the endpoint's secret and a time at most five minutes old.
// The event is stored durably before the 200 (a redelivery is answered
// 200 too, changing nothing) and applied by the inbox worker; anything
// that fails the checks is refused with 400 (413 when too large) and
// nothing is stored.
func handleStripeEvent(eng *engine.Engine, logger *slog.Logger, secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if secret == "" {
			Error(w, r, logger, &apiError{http.StatusNotFound, "invalid_request_error", "resource_missing",
				"This server does not receive Stripe events: start serve with --stripe-webhook-secret (REFUNDRY_STRIPE_WEBHOOK_SECRET) set to the signing secret of the Stripe webhook endpoint that points here.", ""})
			return
		}
		body, err := edge.ReadBody(w, r, MaxEventBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		sig, err := edge.SingleHeader(r, "Stripe-Signature")
		if err != nil {
			Error(w, r, logger, signatureError("signature_invalid", "The request has more than one Stripe-Signature header."))
			return
		}
		ev, err := webhook.ConstructEventWithOptions(body, sig, secret, webhook.ConstructEventOptions{
			Tolerance: StripeEventTolerance,
			// Refundry reads events of any API version (see
			// stripe.ParseEvent), so the endpoint's version need not be
			// stripe-go's.
			IgnoreAPIVersionMismatch: true,
		})
		switch {
		case errors.Is(err, webhook.ErrNotSigned):
			Error(w, r, logger, signatureError("signature_missing", "The request has no Stripe-Signature header: only Stripe's signed events are received here."))
			return
		case errors.Is(err, webhook.ErrTooOld):
			Error(w, r, logger, signatureError("signature_expired", "The Stripe-Signature is more than 5 minutes old (a replay, or a clock far off); Stripe signs every attempt afresh."))
			return
		case errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
			Error(w, r, logger, signatureError("signature_invalid", "The Stripe-Signature does not match the body and the webhook signing secret set with --stripe-webhook-secret."))
			return
		case err != nil:
			// Signed by Stripe, yet not an event: nothing to store.
			Error(w, r, logger, &apiError{http.StatusBadRequest, "invalid_request_error", "event_malformed",
				"The body is not a Stripe event: " + err.Error(), ""})
			return
		}
		gev := &refundry.GatewayEvent{Gateway: refundry.GatewayStripe, EventID: ev.ID, Type: string(ev.Type), Payload: body}
		dup, err := eng.ReceiveGatewayEvent(r.Context(), gev)
		if err != nil {
			if refundry.ErrorCode(err) == refundry.EINVALID {
				err = &apiError{http.StatusBadRequest, "invalid_request_error", "event_malformed",
					"The body is not a Stripe event: " + refundry.ErrorMessage(err), ""}
			}
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, eventReceipt{Received: true, Duplicate: dup})
	})
}

func signatureError(code, msg string) error {
	return &apiError{http.StatusBadRequest, "invalid_request_error", code, msg, ""}
}
