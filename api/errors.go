package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// apiError is an error found at this edge (decoding, query parameters)
// that has no domain code of its own.
type apiError struct {
	status  int
	typ     string
	code    string
	message string
	param   string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func paramUnknown(param string) error {
	return &apiError{http.StatusBadRequest, "invalid_request_error", "parameter_unknown", "Received unknown parameter: " + param + ".", param}
}

func paramInvalid(param, msg string) error {
	return &apiError{http.StatusBadRequest, "invalid_request_error", "parameter_invalid", msg, param}
}

// errorBody is the native error shape of the contract.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// Error writes err in the native shape. This is the one table from domain
// codes to HTTP statuses for the native API; internal faults are logged
// and the client sees a safe message (invariant 7: nothing a client sends
// is answered 500, so a 500 here is always our fault).
func Error(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	edge.NoteError(r.Context(), err)
	var ae *apiError
	if errors.As(err, &ae) {
		edge.WriteJSON(w, ae.status, errorBody{errorDetail{ae.typ, ae.code, ae.message, ae.param}})
		return
	}
	status, typ, code := http.StatusInternalServerError, "api_error", "internal_error"
	msg, param := refundry.ErrorMessage(err), refundry.ErrorParam(err)
	switch refundry.ErrorCode(err) {
	case refundry.EUNAUTHORIZED:
		status, typ, code = http.StatusUnauthorized, "authentication_error", "authentication_required"
	case refundry.EFORBIDDEN:
		status, typ, code = http.StatusForbidden, "permission_error", "insufficient_scope"
		if param == "approver" {
			// Two people must agree before money leaves: the scope is
			// enough, the person is not (refundry.CheckApprover).
			code, param = "self_approval", ""
		}
	case refundry.ENOTFOUND:
		status, typ, code = http.StatusNotFound, "invalid_request_error", "resource_missing"
	case refundry.ETOOLARGE:
		status, typ, code = http.StatusBadRequest, "invalid_request_error", "amount_too_large"
	case refundry.EREFUNDED:
		status, typ, code = http.StatusBadRequest, "invalid_request_error", "already_refunded"
	case refundry.ECHARGEDISPUTED:
		// 400 as Stripe answers its own charge_disputed, and as this table
		// answers the other refusals of a refund by the state of the money
		// (amount_too_large, already_refunded): the request is refused
		// until the dispute closes, whereas 409 here means two writes met.
		status, typ, code = http.StatusBadRequest, "invalid_request_error", "charge_disputed"
	case refundry.EWINDOW, refundry.ETOOMANY:
		// 400 with a code of its own, as the other refusals of a refund
		// by the state of the money: the merchant's policy refuses this
		// refund, and will refuse it again until the policy changes.
		status, typ, code = http.StatusBadRequest, "invalid_request_error", refundry.ErrorCode(err)
	case refundry.EINVALID:
		status, typ, code = http.StatusBadRequest, "invalid_request_error", "parameter_invalid"
		if param == "amount" {
			code = "invalid_amount"
		}
	case refundry.EIDEMPOTENCY:
		status, typ, code = http.StatusBadRequest, "idempotency_error", "idempotency_key_reused"
	case refundry.ECONFLICT:
		status, typ, code = http.StatusConflict, "invalid_request_error", "resource_conflict"
	case refundry.EGATEWAY:
		status, typ, code = http.StatusBadGateway, "api_error", "gateway_error"
	case refundry.EBODYTOOLARGE:
		status, typ, code = http.StatusRequestEntityTooLarge, "invalid_request_error", "body_too_large"
	case refundry.ETIMEOUT:
		status, typ, code = http.StatusRequestTimeout, "invalid_request_error", "request_timeout"
	case refundry.ERATELIMITED:
		status, typ, code = http.StatusTooManyRequests, "rate_limit_error", "rate_limited"
	case refundry.EUNAVAILABLE:
		status, typ, code = http.StatusServiceUnavailable, "api_error", "service_unavailable"
	default:
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	edge.SetRetryAfter(w, err)
	edge.WriteJSON(w, status, errorBody{errorDetail{typ, code, msg, param}})
}
