package revcent

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
)

// errorBody is the seed's "APIStandardErrors" schema, which has
// "additionalProperties": false: exactly these six properties.
type errorBody struct {
	APICallID   string `json:"api_call_id"`
	APICallUnix int64  `json:"api_call_unix"`
	// "This value indicates that there is an error. Will always be 0."
	Code      int    `json:"code"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	Result    string `json:"result"`
}

// resultFailed is every error's "result" ("A description of the API call
// result."): whatever went wrong, the product sale was not refunded.
const resultFailed = "Product sale not refunded"

// wireError is a fault of the request's HTTP form (the path, the body's
// JSON, the method) that has no domain code.
type wireError struct {
	status  int
	code    string
	message string
}

func (e *wireError) Error() string { return e.code + ": " + e.message }

// errorTable is the one map from domain codes to RevCent's answers. The
// error_code words are stable: clients branch on them. An empty message
// shows the error's own client-safe message.
var errorTable = map[string]struct {
	status  int
	code    string
	message string
}{
	// The error's own message: no key, a revoked or expired one, or an
	// unknown one (engine.Authenticate says which, and no more).
	refundry.EUNAUTHORIZED: {http.StatusUnauthorized, "invalid_api_key", ""},
	refundry.EFORBIDDEN:    {http.StatusForbidden, "insufficient_scope", ""},
	// One fixed message whatever the id: another merchant's product sale
	// must read exactly like a missing one (invariant 5).
	refundry.ENOTFOUND:     {http.StatusNotFound, "product_sale_not_found", "No product sale with that ID."},
	refundry.EREFUNDED:     {http.StatusConflict, "product_sale_already_refunded", ""},
	refundry.ETOOLARGE:     {http.StatusUnprocessableEntity, "amount_exceeds_refundable", ""},
	refundry.EINVALID:      {http.StatusUnprocessableEntity, "invalid_request", ""},
	refundry.EIDEMPOTENCY:  {http.StatusUnprocessableEntity, "idempotency_key_reused", ""},
	refundry.ECONFLICT:     {http.StatusConflict, "conflict", ""},
	refundry.EGATEWAY:      {http.StatusBadGateway, "gateway_refused", ""},
	refundry.EBODYTOOLARGE: {http.StatusRequestEntityTooLarge, "body_too_large", ""},
	refundry.EUNAVAILABLE:  {http.StatusServiceUnavailable, "service_unavailable", ""},
	refundry.ERATELIMITED:  {http.StatusTooManyRequests, "rate_limited", ""},
	refundry.ETIMEOUT:      {http.StatusRequestTimeout, "request_timeout", ""},
}

// invalidParams refines EINVALID by the parameter at fault. Amount faults
// are the ones a client most often has to tell apart from the rest; an
// over-long or repeated Idempotency-Key, a repeated key header and a body
// that could not be read (the one EINVALID on this edge that names no
// parameter) are faults of the request's form, 400 like every other bad
// body.
var invalidParams = map[string]struct {
	status int
	code   string
}{
	"amount":          {http.StatusUnprocessableEntity, "invalid_amount"},
	"Idempotency-Key": {http.StatusBadRequest, "invalid_idempotency_key"},
	"Authorization":   {http.StatusBadRequest, "invalid_authorization"},
	"X-API-Key":       {http.StatusBadRequest, "invalid_authorization"},
	"":                {http.StatusBadRequest, "invalid_body"},
}

// writeError answers err as APIStandardErrors. Anything not in the table
// is our fault (invariant 7: nothing a client sends is a 500): it is
// logged and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	api.NoteError(r.Context(), err)
	call := callFrom(r.Context())
	out := errorBody{APICallID: call.id, APICallUnix: call.unix, Code: 0, Result: resultFailed}
	var we *wireError
	if errors.As(err, &we) {
		out.ErrorCode, out.Message = we.code, we.message
		api.WriteJSON(w, we.status, out)
		return
	}
	e, ok := errorTable[refundry.ErrorCode(err)]
	if !ok {
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		out.ErrorCode, out.Message = "internal_error", refundry.ErrorMessage(err)
		api.WriteJSON(w, http.StatusInternalServerError, out)
		return
	}
	status := e.status
	out.ErrorCode, out.Message = e.code, e.message
	if out.Message == "" {
		out.Message = refundry.ErrorMessage(err)
	}
	if p, ok := invalidParams[refundry.ErrorParam(err)]; ok && refundry.ErrorCode(err) == refundry.EINVALID {
		status, out.ErrorCode = p.status, p.code
	}
	api.SetRetryAfter(w, err)
	api.WriteJSON(w, status, out)
}
