package api

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// MaxBody bounds a request body on the native API.
const MaxBody = 1 << 20

// readJSON reads a native request with edge.ReadRequest and decodes its body
// strictly into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) (*refundry.Idempotency, error) {
	body, idem, err := edge.ReadRequest(w, r, MaxBody)
	if err != nil {
		return nil, err
	}
	return idem, DecodeStrict(body, v)
}

// DecodeStrict decodes one JSON object from body into v as edge.DecodeFields
// does, with its errors in the native API's words. A number field takes a
// JSON number only: the native API refuses "amount": "100" as it refuses
// every other loose form (the dialects whose seeds send numbers in
// strings keep edge.DecodeJSON and edge.DecodeFields).
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return paramInvalid("", "Request body must be a JSON object.")
	}
	err := edge.DecodeExact(body, v)
	var e *refundry.Error
	switch {
	case errors.Is(err, edge.ErrUnknownField):
		return paramUnknown(refundry.ErrorParam(err))
	case errors.As(err, &e):
		return paramInvalid(e.Param, e.Message)
	}
	return err
}

// ReadEmpty reads the body of a route that takes no parameters: none, or
// an empty object, as clients that always send JSON do. Anything else was
// meant to say something the route cannot hear, so it is refused rather
// than ignored.
func ReadEmpty(w http.ResponseWriter, r *http.Request) error {
	body, err := edge.ReadBody(w, r, MaxBody)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return DecodeStrict(body, &struct{}{})
}
