package keepup

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
)

// errorBody is the seed's error sample, {"status": 401, "error":
// "Authentication invalid"}; the contract decides that every error repeats
// its HTTP status in the body the same way.
type errorBody struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// wireError is a fault of the request's HTTP form (a method this route does
// not take) that has no domain code.
type wireError struct {
	status  int
	message string
}

func (e *wireError) Error() string { return e.message }

// errorTable is the one map from domain codes to KeepUp's answers. An
// empty message shows the error's own client-safe message.
var errorTable = map[string]struct {
	status  int
	message string
}{
	refundry.EUNAUTHORIZED: {http.StatusUnauthorized, "Authentication invalid"},
	refundry.EFORBIDDEN:    {http.StatusForbidden, ""},
	refundry.ENOTFOUND:     {http.StatusNotFound, "Sale not found"},
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

// writeError answers err in KeepUp's shape. Anything not in the table is
// our fault (invariant 7: nothing a client sends is a 500): it is logged
// and the client sees a safe message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	api.NoteError(r.Context(), err)
	var we *wireError
	if errors.As(err, &we) {
		api.WriteJSON(w, we.status, errorBody{we.status, we.message})
		return
	}
	e, ok := errorTable[refundry.ErrorCode(err)]
	if !ok {
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		api.WriteJSON(w, http.StatusInternalServerError, errorBody{http.StatusInternalServerError, refundry.ErrorMessage(err)})
		return
	}
	msg := e.message
	if msg == "" {
		msg = refundry.ErrorMessage(err)
	}
	api.SetRetryAfter(w, err)
	api.WriteJSON(w, e.status, errorBody{e.status, msg})
}
