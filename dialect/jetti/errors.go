package jetti

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// errorBody is the contract's error shape: {"message": "...", "errors":
// {"field": ["..."]}}, with "errors" only on a validation failure.
type errorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
}

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
var errorTable = edge.ErrorTable{
	// The error's own message: no token, a revoked or expired one, or an
	// unknown one (engine.Authenticate says which, and no more).
	refundry.EUNAUTHORIZED: {Status: http.StatusUnauthorized},
	refundry.EFORBIDDEN:    {Status: http.StatusForbidden},
	// One fixed message whatever the number: another merchant's
	// transaction must read exactly like a missing one (invariant 5).
	refundry.ENOTFOUND: {Status: http.StatusNotFound, Message: "Transaction not found."},
	refundry.EINVALID:  {Status: http.StatusBadRequest},
	refundry.ETOOLARGE: {Status: http.StatusUnprocessableEntity},
	// A partial refund of a transaction with nothing left; the full refund
	// of one is answered 200 by the handler before it gets here.
	refundry.EREFUNDED: {Status: http.StatusUnprocessableEntity},
	// 422 as the other refunds the transaction's state refuses; a message
	// only, since no field of the body is at fault.
	refundry.ECHARGEDISPUTED: {Status: http.StatusUnprocessableEntity, Message: "Transaction is disputed: it has an open dispute (chargeback) and cannot be refunded until the dispute is closed."},
	// The merchant's refund policy refuses it: 422 and a fixed message,
	// as a dispute.
	refundry.EWINDOW:  {Status: http.StatusUnprocessableEntity, Message: "Refund window expired: the merchant's policy allows no refund of this transaction so long after the sale."},
	refundry.ETOOMANY: {Status: http.StatusUnprocessableEntity, Message: "Too many refunds: the sale has as many refunds as the merchant's policy allows."},
	// The IETF Idempotency-Key draft's answer to a key reused with
	// another payload.
	refundry.EIDEMPOTENCY:  {Status: http.StatusUnprocessableEntity},
	refundry.ECONFLICT:     {Status: http.StatusConflict},
	refundry.EGATEWAY:      {Status: http.StatusBadGateway},
	refundry.EBODYTOOLARGE: {Status: http.StatusRequestEntityTooLarge},
	refundry.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable},
	refundry.ERATELIMITED:  {Status: http.StatusTooManyRequests},
	refundry.ETIMEOUT:      {Status: http.StatusRequestTimeout},
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
	var ve *validationError
	if errors.As(err, &ve) {
		edge.NoteError(r.Context(), err)
		edge.WriteJSON(w, http.StatusBadRequest, errorBody{Message: "The request body is invalid.", Errors: ve.fields})
		return
	}
	a := errorTable.Answer(w, r, logger, err)
	out := errorBody{Message: a.Message}
	if param := refundry.ErrorParam(err); refundry.ErrorCode(err) == refundry.EINVALID && !notFields[param] {
		field := param
		if f, ok := fieldNames[param]; ok {
			field = f
		}
		out.Errors = map[string][]string{field: {out.Message}}
	}
	edge.WriteJSON(w, a.Status, out)
}
