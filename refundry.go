// Package refundry holds the domain of the Refundry refunds engine: the
// entities a merchant keeps (sales, line items, transactions, refunds,
// referrals), the rules that decide how a refund is spread over them, the
// error model, and the interfaces that the stores and gateways implement.
//
// It imports nothing of the project and neither net/http nor database/sql:
// every other package depends inward on it.
package refundry

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error codes. Each edge maps them to its own wire status once.
const (
	ECONFLICT     = "conflict"         // the request conflicts with the current state
	EINTERNAL     = "internal"         // a fault of ours; the client sees a safe message
	EINVALID      = "invalid"          // the request is malformed or breaks a rule
	ENOTFOUND     = "not_found"        // no such object for this merchant
	EUNAUTHORIZED = "unauthorized"     // no valid credentials
	EFORBIDDEN    = "forbidden"        // valid credentials whose scope does not cover the request
	ETOOLARGE     = "amount_too_large" // refund above what remains refundable
	EREFUNDED     = "already_refunded" // nothing remains to refund
	EIDEMPOTENCY  = "idempotency_key_reused"
	EGATEWAY      = "gateway_error"  // the gateway refused the refund
	EUNAVAILABLE  = "unavailable"    // a dependency is down for a moment; retry
	EBODYTOOLARGE = "body_too_large" // the request body is over the edge's limit

	// Limits an edge puts on a client, so that none can starve the rest.
	ERATELIMITED = "rate_limited"    // the API key asked more often than allowed; retry later
	ETIMEOUT     = "request_timeout" // the client sent its request too slowly
	// The merchant's refund policy refuses the refund (RefundPolicy).
	EWINDOW  = "refund_window_expired" // the sale is older than the policy's max_age_days
	ETOOMANY = "too_many_refunds"      // the sale has max_refunds_per_sale refunds already
)

// Error is the project's error value: a code the edges map to a status, a
// message that is safe to show a client, and the parameter at fault, if any.
type Error struct {
	Code    string
	Message string
	Param   string
	Err     error // the underlying cause, never shown to a client
}

func (e *Error) Error() string {
	s := e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ParamErrorf is Errorf for a fault in one named request parameter.
func ParamErrorf(code, param, format string, args ...any) *Error {
	return &Error{Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for any foreign error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, or a generic one for
// a foreign error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}

// ErrorParam returns the request parameter err names, if any.
func ErrorParam(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Param
	}
	return ""
}

// checkTexts refuses text that the stores could not keep alike (invalid
// UTF-8 or NUL bytes: PostgreSQL refuses both, SQLite would keep them) or
// that is longer than max bytes. Pairs are parameter name, value.
func checkTexts(max int, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		param, v := pairs[i], pairs[i+1]
		switch {
		case !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0:
			return ParamErrorf(EINVALID, param, "Parameter %s must be UTF-8 text without NUL characters.", param)
		case len(v) > max:
			return ParamErrorf(EINVALID, param, "Parameter %s must be at most %d bytes.", param, max)
		}
	}
	return nil
}
