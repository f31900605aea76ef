package revcent

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
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

// errorTable is the one map from domain codes to RevCent's answers. The
// error_code words are stable: clients branch on them. An empty message
// shows the error's own client-safe message.
var errorTable = edge.ErrorTable{
	// The error's own message: no key, a revoked or expired one, or an
	// unknown one (engine.Authenticate says which, and no more).
	refundry.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Code: "invalid_api_key"},
	refundry.EFORBIDDEN:    {Status: http.StatusForbidden, Code: "insufficient_scope"},
	// One fixed message whatever the id: another merchant's product sale
	// must read exactly like a missing one (invariant 5).
	refundry.ENOTFOUND: {Status: http.StatusNotFound, Code: "product_sale_not_found", Message: "No product sale with that ID."},
	refundry.EREFUNDED: {Status: http.StatusConflict, Code: "product_sale_already_refunded"},
	// 409 as an already refunded product sale: the product sale's state,
	// not the request, refuses it, until the dispute is closed.
	refundry.ECHARGEDISPUTED: {Status: http.StatusConflict, Code: "charge_disputed", Message: "The product sale's payment has an open dispute (chargeback); it cannot be refunded until the dispute is closed."},
	// The merchant's refund policy refuses it: 409 as a dispute, since
	// the product sale's age or its refunds so far refuse it, not the
	// request; the error_code words are Refundry's own codes.
	refundry.EWINDOW:       {Status: http.StatusConflict, Code: "refund_window_expired", Message: "The product sale's refund window has expired: the merchant's policy allows no refund so long after the sale."},
	refundry.ETOOMANY:      {Status: http.StatusConflict, Code: "too_many_refunds", Message: "The sale has as many refunds as the merchant's policy allows; no more can be made on any of its product sales."},
	refundry.ETOOLARGE:     {Status: http.StatusUnprocessableEntity, Code: "amount_exceeds_refundable"},
	refundry.EINVALID:      {Status: http.StatusUnprocessableEntity, Code: "invalid_request"},
	refundry.EIDEMPOTENCY:  {Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused"},
	refundry.ECONFLICT:     {Status: http.StatusConflict, Code: "conflict"},
	refundry.EGATEWAY:      {Status: http.StatusBadGateway, Code: "gateway_refused"},
	refundry.EBODYTOOLARGE: {Status: http.StatusRequestEntityTooLarge, Code: "body_too_large"},
	refundry.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable, Code: "service_unavailable"},
	refundry.ERATELIMITED:  {Status: http.StatusTooManyRequests, Code: "rate_limited"},
	refundry.ETIMEOUT:      {Status: http.StatusRequestTimeout, Code: "request_timeout"},
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
	a := errorTable.Answer(w, r, logger, err)
	if p, ok := invalidParams[refundry.ErrorParam(err)]; ok && refundry.ErrorCode(err) == refundry.EINVALID {
		a.Status, a.Code = p.status, p.code
	}
	call := callFrom(r.Context())
	edge.WriteJSON(w, a.Status, errorBody{APICallID: call.id, APICallUnix: call.unix, Code: 0,
		ErrorCode: a.Code, Message: a.Message, Result: resultFailed})
}
