package keepup

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// errorBody is the seed's error sample, {"status": 401, "error":
// "Authentication invalid"}; the contract decides that every error repeats
// its HTTP status in the body the same way.
type errorBody struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// errorTable is the one map from domain codes to KeepUp's answers. An
// empty message shows the error's own client-safe message.
var errorTable = edge.ErrorTable{
	refundry.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Message: "Authentication invalid"},
	refundry.EFORBIDDEN:    {Status: http.StatusForbidden},
	refundry.ENOTFOUND:     {Status: http.StatusNotFound, Message: "Sale not found"},
	refundry.EINVALID:      {Status: http.StatusUnprocessableEntity},
	refundry.ETOOLARGE:     {Status: http.StatusUnprocessableEntity},
	refundry.EREFUNDED:     {Status: http.StatusUnprocessableEntity},
	// 422 as every other refund the sale's state refuses; the body has no
	// code, so the message is fixed and starts with words a client can
	// match.
	refundry.ECHARGEDISPUTED: {Status: http.StatusUnprocessableEntity, Message: "Sale is disputed: a payment of it has an open dispute (chargeback), and it cannot be refunded until the dispute is closed"},
	// The merchant's refund policy refuses it: 422 as the refusals
	// above, with fixed messages for the same reason.
	refundry.EWINDOW:       {Status: http.StatusUnprocessableEntity, Message: "Refund window expired: the merchant's policy allows no refund of this sale so long after it"},
	refundry.ETOOMANY:      {Status: http.StatusUnprocessableEntity, Message: "Too many refunds: the sale has as many refunds as the merchant's policy allows"},
	refundry.EIDEMPOTENCY:  {Status: http.StatusUnprocessableEntity},
	refundry.ECONFLICT:     {Status: http.StatusConflict},
	refundry.EGATEWAY:      {Status: http.StatusBadGateway},
	refundry.EBODYTOOLARGE: {Status: http.StatusRequestEntityTooLarge},
	refundry.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable},
	refundry.ERATELIMITED:  {Status: http.StatusTooManyRequests},
	refundry.ETIMEOUT:      {Status: http.StatusRequestTimeout},
}

// writeError answers err in KeepUp's shape. Anything not in the table is
// our fault (invariant 7: nothing a client sends is a 500): it is logged
// and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	a := errorTable.Answer(w, r, logger, err)
	edge.WriteJSON(w, a.Status, errorBody{a.Status, a.Message})
}
