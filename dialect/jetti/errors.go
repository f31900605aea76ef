package jetti

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
)

// errorBody is the contract's error shape: {"message": "...", "errors":
// {"field": ["..."]}}, with "errors" only on a validation failure.
type errorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
}

// wireError is a fault of the request's HTTP form (the path, the method,
// the body's JSON) that has no domain code.
type wireError struct {
	status  int
	message string
}

func (e *wireError) Error() string { return e.message }

// validationError is every problem found in the body at once, by field.
type validationError struct {
	fields map[string][]string
}

func (e *validationError) Error() string { return "validation failed" }

func (e *validationError) add(field, msg string) {
	if e.fields == nil {
		e.fields = map[string][]string{}
	}
	e.fields[field] = append(e.fields[field], msg)
}

// errorTable is the one map from domain codes to Jetti's answers. An empty
// message shows the error's own client-safe message.
var errorTable = map[string]struct {
	status  int
	message string
}{
	// The error's own message: no token, a revoked or expired one, or an
	// unknown one (engine.Authenticate says which, and no more).
	refundry.EUNAUTHORIZED: {http.StatusUnauthorized, ""},
	refundry.EFORBIDDEN:    {http.StatusForbidden, ""},
	// One fixed message whatever the number: another merchant's
	// transaction must read exactly like a missing one (invariant 5).
	refundry.ENOTFOUND: {http.StatusNotFound, "Transaction not found."},
	refundry.EINVALID:  {http.StatusBadRequest, ""},
	refundry.ETOOLARGE: {http.StatusUnprocessableEntity, ""},
	// A partial refund of a transaction with nothing left; the full refund
	// of one is answered 200 by the handler before it gets here.
	refundry.EREFUNDED: {http.StatusUnprocessableEntity, ""},
	// The IETF Idempotency-Key draft's answer to a key reused with
	// another payload.
	refundry.EIDEMPOTENCY:  {http.StatusUnprocessableEntity, ""},
	refundry.ECONFLICT:     {http.StatusConflict, ""},
	refundry.EGATEWAY:      {http.StatusBadGateway, ""},
	refundry.EBODYTOOLARGE: {http.StatusRequestEntityTooLarge, ""},
	refundry.EUNAVAILABLE:  {http.StatusServiceUnavailable, ""},
	refundry.ERATELIMITED:  {http.StatusTooManyRequests, ""},
	refundry.ETIMEOUT:      {http.StatusRequestTimeout, ""},
}

// fieldNames maps the engine's parameter names to the seed's field names,
// so a validation error points at what the client sent.
var fieldNames = map[string]string{
	"amount":         "refundAmount",
	"fee":            "processingFee",
	"external_id":    "externalId",
	"created_source": "createdSource",
}

// notFields are the parameters an EINVALID can name that are no field of
// the Transaction: the Idempotency-Key and Authorization headers (too
// long, or sent twice), and none at all for a body that could not be
// read. Their answer is a message only: "errors" is for validation of the
// body's fields.
var notFields = map[string]bool{"": true, "Idempotency-Key": true, "Authorization": true}

// writeError answers err in Jetti's shape. Anything not in the table is
// our fault (invariant 7: nothing a client sends is a 500): it is logged
// and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	api.NoteError(r.Context(), err)
	var we *wireError
	if errors.As(err, &we) {
		api.WriteJSON(w, we.status, errorBody{Message: we.message})
		return
	}
	var ve *validationError
	if errors.As(err, &ve) {
		api.WriteJSON(w, http.StatusBadRequest, errorBody{Message: "The request body is invalid.", Errors: ve.fields})
		return
	}
	e, ok := errorTable[refundry.ErrorCode(err)]
	if !ok {
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		api.WriteJSON(w, http.StatusInternalServerError, errorBody{Message: refundry.ErrorMessage(err)})
		return
	}
	out := errorBody{Message: e.message}
	if out.Message == "" {
		out.Message = refundry.ErrorMessage(err)
	}
	if param := refundry.ErrorParam(err); refundry.ErrorCode(err) == refundry.EINVALID && !notFields[param] {
		field := param
		if f, ok := fieldNames[param]; ok {
			field = f
		}
		out.Errors = map[string][]string{field: {out.Message}}
	}
	api.SetRetryAfter(w, err)
	api.WriteJSON(w, e.status, out)
}
