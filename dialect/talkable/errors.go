package talkable

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
)

// errorBody is Talkable's error envelope, {"ok": false, "error_message": "..."}.
type errorBody struct {
	OK           bool   `json:"ok"`
	ErrorMessage string `json:"error_message"`
}

// wireError is a fault with a status of its own that no domain code
// carries: Talkable answers a missing parameter 400, unlike other bad
// input (422), and a method the route does not take 405.
type wireError struct {
	status  int
	message string
}

func (e *wireError) Error() string { return e.message }

// errorTable is the one map from domain codes to Talkable's answers
// (400 missing parameter, 401 no valid key, 404 no such item, 422
// validation). An empty message shows the error's own client-safe message.
var errorTable = map[string]struct {
	status  int
	message string
}{
	refundry.EUNAUTHORIZED: {http.StatusUnauthorized, "Unauthorized"},
	refundry.EFORBIDDEN:    {http.StatusForbidden, ""},
	refundry.ENOTFOUND:     {http.StatusNotFound, "Origin not found"},
	refundry.EINVALID:      {http.StatusUnprocessableEntity, ""},
	refundry.ETOOLARGE:     {http.StatusUnprocessableEntity, ""},
	refundry.EREFUNDED:     {http.StatusUnprocessableEntity, ""},
	refundry.EIDEMPOTENCY:  {http.StatusUnprocessableEntity, ""},
	refundry.ECONFLICT:     {http.StatusConflict, ""},
	refundry.EGATEWAY:      {http.StatusBadGateway, ""},
	refundry.EBODYTOOLARGE: {http.StatusRequestEntityTooLarge, ""},
	refundry.EUNAVAILABLE:  {http.StatusServiceUnavailable, ""},
	refundry.ERATELIMITED:  {http.StatusTooManyRequests, ""},
	refundry.ETIMEOUT:      {http.StatusRequestTimeout, ""},
}

// writeError answers err in Talkable's shape. Anything not in the table is
// our fault (invariant 7: nothing a client sends is a 500): it is logged
// and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	api.NoteError(r.Context(), err)
	var we *wireError
	if errors.As(err, &we) {
		api.WriteJSON(w, we.status, errorBody{false, we.message})
		return
	}
	e, ok := errorTable[refundry.ErrorCode(err)]
	if !ok {
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		api.WriteJSON(w, http.StatusInternalServerError, errorBody{false, refundry.ErrorMessage(err)})
		return
	}
	msg := e.message
	if msg == "" {
		msg = refundry.ErrorMessage(err)
	}
	api.SetRetryAfter(w, err)
	api.WriteJSON(w, e.status, errorBody{false, msg})
}
