package edge

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
)

// WireError is a fault of a request's HTTP form that has no domain code:
// a method a route does not take, a path or body an edge cannot read.
// The edge that finds it words it in its own terms.
type WireError struct {
	Status  int
	Code    string // the edge's word for it, where its shape has one
	Message string
}

func (e *WireError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// Answer is how an edge answers one kind of error: a status, the edge's
// code for it where its shape has one, and a message; an empty message
// in an ErrorTable stands for the error's own client-safe message.
type Answer struct {
	Status  int
	Code    string
	Message string
}

// ErrorTable is an edge's one map from domain codes to its answers.
type ErrorTable map[string]Answer

// Answer notes err for the audit of the request (NoteError), and returns
// how the edge answers it: a WireError as it says, a domain error from
// the table, with Retry-After set on w when the error says when to come
// back. An error the table lacks is our fault (invariant 7: nothing a
// client sends is a 500): it is logged, and answered 500 with the error's
// client-safe message and the code "internal_error".
func (t ErrorTable) Answer(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) Answer {
	NoteError(r.Context(), err)
	var we *WireError
	if errors.As(err, &we) {
		return Answer{we.Status, we.Code, we.Message}
	}
	a, ok := t[refundry.ErrorCode(err)]
	if !ok {
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		return Answer{http.StatusInternalServerError, "internal_error", refundry.ErrorMessage(err)}
	}
	if a.Message == "" {
		a.Message = refundry.ErrorMessage(err)
	}
	SetRetryAfter(w, err)
	return a
}
