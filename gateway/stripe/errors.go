package stripe

import (
	"errors"
	"net/http"

	stripeapi "github.com/stripe/stripe-go/v85"

	"github.com/refundry/refundry"
)

// Stripe's answers sort into two kinds, and mixing them up either loses a
// refund or pays it twice:
//
//   - a refusal: Stripe looked at the request and said no (400, 402, 404:
//     charge_already_refunded, amount_too_large, resource_missing, a card
//     error). Stripe keeps that answer under the idempotency key, nothing
//     moved, and asking again gives the same no, so it is a final result.
//   - anything else: no answer (network, timeout), a fault of Stripe's
//     (5xx), throttling (429), a concurrent request with the same key
//     (409), credentials Stripe does not accept (401, 403), the key reused
//     with other parameters, or a body that is not Stripe's. The outcome
//     is unknown or not Stripe's word on the refund, so it is an error and
//     the refund stays pending (invariant 6).

// refusal reports whether err is Stripe's refusal, and Stripe's message.
func refusal(err error) (string, bool) {
	var se *stripeapi.Error
	if !errors.As(err, &se) {
		return "", false
	}
	if se.Type == stripeapi.ErrorTypeIdempotency {
		return "", false
	}
	switch se.HTTPStatusCode {
	case http.StatusBadRequest, http.StatusPaymentRequired, http.StatusNotFound:
		return stripeMessage(err), true
	}
	return "", false
}

// unknownOutcome wraps an error after which the outcome is unknown.
// Credentials and a reused idempotency key are EGATEWAY (they need a
// person); the rest EUNAVAILABLE (asking again later may well work).
func unknownOutcome(op string, err error) error {
	code := refundry.EUNAVAILABLE
	msg := "Stripe did not answer (" + op + "); the outcome is unknown and the refund is asked about again with the same idempotency key."
	var se *stripeapi.Error
	if errors.As(err, &se) {
		switch {
		case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
			code = refundry.EGATEWAY
			msg = "Stripe did not accept the API key (" + op + "): " + stripeMessage(err)
		case se.Type == stripeapi.ErrorTypeIdempotency && se.HTTPStatusCode != http.StatusConflict:
			// 409 is another request with the key still running: that one
			// passes, so it is EUNAVAILABLE below. Any other idempotency
			// error is the key reused with other parameters.
			code = refundry.EGATEWAY
			msg = "Stripe has seen this refund's idempotency key with other parameters (" + op + "): " + stripeMessage(err)
		default:
			msg = "Stripe answered " + http.StatusText(se.HTTPStatusCode) + " (" + op + "); the outcome is unknown and the refund is asked about again with the same idempotency key."
		}
	}
	return &refundry.Error{Code: code, Message: msg, Err: err}
}

// stripeMessage is the human part of a Stripe error: its message, else its
// code.
func stripeMessage(err error) string {
	var se *stripeapi.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	switch {
	case se.Msg != "":
		return se.Msg
	case se.Code != "":
		return string(se.Code)
	}
	return "Stripe answered " + http.StatusText(se.HTTPStatusCode) + "."
}
