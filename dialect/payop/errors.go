package payop

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// errorBody is the seed's error shape, {"message": "..."}.
type errorBody struct {
	Message string `json:"message"`
}

// errorTable is the one map from domain codes to Payop's answers, with the
// seed's own messages where it gives them. An empty message shows the
// error's own client-safe message.
var errorTable = edge.ErrorTable{
	refundry.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Message: "Full authentication is required to access this resource."},
	refundry.EFORBIDDEN:    {Status: http.StatusForbidden},
	// The seed answers a missing transaction 422, not 404.
	refundry.ENOTFOUND: {Status: http.StatusUnprocessableEntity, Message: "Transaction not found"},
	refundry.ETOOLARGE: {Status: http.StatusUnprocessableEntity, Message: "Refund amount is bigger than transaction amount"},
	// Nothing left is any amount being too big, in the seed's words.
	refundry.EREFUNDED: {Status: http.StatusUnprocessableEntity, Message: "Refund amount is bigger than transaction amount"},
	refundry.EINVALID:  {Status: http.StatusUnprocessableEntity},
	// 422 as every refusal of the seed's.
	refundry.ECHARGEDISPUTED: {Status: http.StatusUnprocessableEntity, Message: "Transaction is disputed: it has an open dispute (chargeback) and cannot be refunded until the dispute is closed"},
	// The merchant's refund policy refuses it: 422 as every refusal of
	// the seed's, with fixed messages a client can match.
	refundry.EWINDOW:       {Status: http.StatusUnprocessableEntity, Message: "Refund window expired: the merchant's policy allows no refund of this transaction so long after it"},
	refundry.ETOOMANY:      {Status: http.StatusUnprocessableEntity, Message: "Too many refunds: the transaction's sale has as many refunds as the merchant's policy allows"},
	refundry.EIDEMPOTENCY:  {Status: http.StatusUnprocessableEntity},
	refundry.ECONFLICT:     {Status: http.StatusConflict},
	refundry.EGATEWAY:      {Status: http.StatusBadGateway},
	refundry.EBODYTOOLARGE: {Status: http.StatusRequestEntityTooLarge},
	refundry.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable},
	refundry.ERATELIMITED:  {Status: http.StatusTooManyRequests},
	refundry.ETIMEOUT:      {Status: http.StatusRequestTimeout},
}

// writeError answers err in Payop's shape. Anything not in the table is
// our fault (invariant 7: nothing a client sends is a 500): it is logged
// and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	a := errorTable.Answer(w, r, logger, err)
	edge.WriteJSON(w, a.Status, errorBody{a.Message})
}
