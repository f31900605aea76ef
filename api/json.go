package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/refundry/refundry"
)

// MaxBody bounds a request body on the native API.
const MaxBody = 1 << 20

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client has gone if this fails; nothing to do
}

// ReadBody reads a request body of at most limit bytes. An oversized body
// is EBODYTOOLARGE and one that broke off EINVALID, for each edge to answer
// in its own shape.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, refundry.Errorf(refundry.EBODYTOOLARGE, "Request body is larger than %d bytes.", limit)
	}
	if err != nil {
		return nil, refundry.Errorf(refundry.EINVALID, "Request body could not be read.")
	}
	return body, nil
}

// ReadRequest reads what every refund-making request starts with: its
// body within limit, and its Idempotency-Key hashed with that body.
func ReadRequest(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *refundry.Idempotency, error) {
	body, err := ReadBody(w, r, limit)
	if err != nil {
		return nil, nil, err
	}
	idem, err := Idempotency(r, body)
	return body, idem, err
}

// readJSON reads a native request with ReadRequest and decodes its body
// strictly into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) (*refundry.Idempotency, error) {
	body, idem, err := ReadRequest(w, r, MaxBody)
	if err != nil {
		return nil, err
	}
	return idem, DecodeStrict(body, v)
}

// DecodeStrict decodes one JSON object from body into v, with numbers kept
// exact (json.Number, never float64: invariant 1) and unknown fields
// refused with the name of the field.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return paramInvalid("", "Request body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return paramInvalid("", "Request body must hold exactly one JSON object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return paramInvalid("", "Request body must hold exactly one JSON object.")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return paramInvalid(typeErr.Field, fmt.Sprintf("Parameter %s must be of type %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
	case errors.As(err, &syntaxErr):
		return paramInvalid("", fmt.Sprintf("Request body is not valid JSON (at byte %d).", syntaxErr.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return paramUnknown(name)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return paramInvalid("", "Request body is not valid JSON (it ends too soon).")
	}
	return paramInvalid("", "Request body is not valid JSON.")
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return k
}

// Amount reads an optional amount in minor units from a JSON number.
// An absent amount is nil.
func Amount(n json.Number, param string) (*int64, error) {
	if n == "" {
		return nil, nil
	}
	v, err := refundry.ParseMinor(string(n))
	if err != nil {
		return nil, &refundry.Error{Code: refundry.EINVALID, Param: param, Message: refundry.ErrorMessage(err)}
	}
	return &v, nil
}

// Idempotency returns the request's Idempotency-Key with a hash of what the
// request asks, or nil when it has none. The hash covers method, path and
// body, so the same key sent with another request is told apart.
func Idempotency(r *http.Request, body []byte) (*refundry.Idempotency, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil, nil
	}
	if len(key) > 255 {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "Idempotency-Key", "Idempotency-Key must be at most 255 characters.")
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.Path)
	h.Write(body)
	return &refundry.Idempotency{Key: key, Hash: hex.EncodeToString(h.Sum(nil))}, nil
}
