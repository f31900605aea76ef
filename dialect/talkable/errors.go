package talkable

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// errorBody is Talkable's error envelope, {"ok": false, "error_message": "..."}.
type errorBody struct {
	OK           bool   `json:"ok"`
	ErrorMessage string `json:"error_message"`
}

// errorTable is the one map from domain codes to Talkable's answers
// (400 missing parameter, 401 no valid key, 404 no such item, 422
// validation). An empty message shows the error's own client-safe message.
var errorTable = edge.ErrorTable{
	refundry.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Message: "Unauthorized"},
	refundry.EFORBIDDEN:    {Status: http.StatusForbidden},
	refundry.ENOTFOUND:     {Status: http.StatusNotFound, Message: "Origin not found"},
	refundry.EINVALID:      {Status: http.StatusUnprocessableEntity},
	refundry.ETOOLARGE:     {Status: http.StatusUnprocessableEntity},
	refundry.EREFUNDED:     {Status: http.StatusUnprocessableEntity},
	// 422, Talkable's validation status, as every refund the purchase's
	// state refuses; the referrals stay as they were.
	refundry.ECHARGEDISPUTED: {Status: http.StatusUnprocessableEntity, Message: "Purchase is disputed: its payment has an open dispute (chargeback), and it cannot be refunded until the dispute is closed"},
	// The merchant's refund policy refuses the purchase's refund: 422
	// too, and the referrals stay as they were.
	refundry.EWINDOW:       {Status: http.StatusUnprocessableEntity, Message: "Refund window expired: the merchant's policy allows no refund of this purchase so long after it"},
	refundry.ETOOMANY:      {Status: http.StatusUnprocessableEntity, Message: "Too many refunds: the purchase has as many refunds as the merchant's policy allows"},
	refundry.EIDEMPOTENCY:  {Status: http.StatusUnprocessableEntity},
	refundry.ECONFLICT:     {Status: http.StatusConflict},
	refundry.EGATEWAY:      {Status: http.StatusBadGateway},
	refundry.EBODYTOOLARGE: {Status: http.StatusRequestEntityTooLarge},
	refundry.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable},
	refundry.ERATELIMITED:  {Status: http.StatusTooManyRequests},
	refundry.ETIMEOUT:      {Status: http.StatusRequestTimeout},
}

// writeError answers err in Talkable's shape. Anything not in the table is
// our fault (invariant 7: nothing a client sends is a 500): it is logged
// and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	a := errorTable.Answer(w, r, logger, err)
	edge.WriteJSON(w, a.Status, errorBody{false, a.Message})
}
