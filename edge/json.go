package edge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/refundry/refundry"
)

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client has gone if this fails; nothing to do
}

// ReadBody reads a request body of at most limit bytes. An oversized body
// is EBODYTOOLARGE, one that came too slowly ETIMEOUT and one that broke
// off EINVALID, for each edge to answer in its own shape.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, refundry.Errorf(refundry.EBODYTOOLARGE, "Request body is larger than %d bytes.", limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The server's read timeout ran out while the client was still
		// sending (a slow or stalled upload): 408, which the edge can
		// still write, since only reading has a deadline behind it.
		return nil, &refundry.Error{Code: refundry.ETIMEOUT, Message: "Request body was sent too slowly; the server stopped waiting for it.", Err: err}
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

// MaxDepth bounds how deeply the arrays and objects of a request body may
// nest. No request of any edge needs more than a few levels; a deeper body
// is refused before any decoder spends stack and time on it.
const MaxDepth = 32

// CheckJSON is the one place every edge's request body is judged as JSON
// before it is decoded: it must be a single JSON value in valid UTF-8, no
// object in it may name a key twice, and it may nest at most MaxDepth
// levels. encoding/json accepts all three silently (the last duplicate
// wins, bad bytes become U+FFFD), and a duplicated "amount" read one way
// by a proxy and another way here is how money goes astray. An empty or
// blank body passes: whether a body is required is each route's to say.
// Returns EINVALID.
func CheckJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !utf8.Valid(body) {
		return refundry.Errorf(refundry.EINVALID, "Request body is not valid UTF-8.")
	}
	// jsontext refuses duplicate names and invalid strings (a lone
	// surrogate escape) by default.
	dec := getDecoder(body)
	defer putDecoder(dec)
	values := 0
	for {
		_, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return jsonError(err)
		}
		if dec.StackDepth() > MaxDepth {
			return refundry.Errorf(refundry.EINVALID, "Request body nests arrays and objects deeper than %d levels.", MaxDepth)
		}
		if dec.StackDepth() == 0 {
			if values++; values > 1 {
				return refundry.Errorf(refundry.EINVALID, "Request body must hold exactly one JSON object.")
			}
		}
	}
}

func jsonError(err error) error {
	if err == nil {
		return nil
	}
	var syntax *jsontext.SyntacticError
	if !errors.As(err, &syntax) {
		return refundry.Errorf(refundry.EINVALID, "Request body is not valid JSON (it ends too soon).")
	}
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return refundry.Errorf(refundry.EINVALID, "Request body names the key %q twice in one object.", truncate(syntax.JSONPointer.LastToken()))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return refundry.Errorf(refundry.EINVALID, "Request body is not valid JSON (it ends too soon).")
	}
	return refundry.Errorf(refundry.EINVALID, "Request body is not valid JSON (at byte %d).", syntax.ByteOffset)
}

// DecodeJSON decodes body, one JSON value that passes CheckJSON, into v,
// with numbers kept exact (json.Number, never float64: invariant 1).
// Fields v does not have are left alone: the dialects whose contracts say
// so ignore them, the others look at every key themselves. A key that
// names one of v's fields in another case ("AMOUNT") is refused: it is not
// the field, yet encoding/json would fill the field with it. Returns
// EINVALID, naming the parameter of a value of the wrong type.
func DecodeJSON(body []byte, v any) error {
	return decode(body, v, decodeRules{})
}

// DecodeFields is DecodeJSON that also refuses, by name, any key v has no
// field for: what a route whose contract is silent on unknown fields does,
// as Stripe answers an unknown parameter.
func DecodeFields(body []byte, v any) error {
	return decode(body, v, decodeRules{unknown: true})
}

// DecodeExact is DecodeFields that also refuses a string where v has a
// number field, even "100": for an edge, the native API, whose contract
// takes JSON numbers only. A key v lacks is refused with ErrUnknownField
// in its chain, so that the edge can word it apart from other faults.
func DecodeExact(body []byte, v any) error {
	return decode(body, v, decodeRules{unknown: true, numbers: true})
}

// ErrUnknownField is in the chain of a refusal of a key v has no field for.
var ErrUnknownField = errors.New("unknown field")

// decodeRules are what a decode refuses beyond a value of the wrong type.
type decodeRules struct {
	unknown bool // a key v has no field for
	numbers bool // a number field given a string, even "100"
}

func decode(body []byte, v any, rules decodeRules) error {
	if err := CheckJSON(body); err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return refundry.Errorf(refundry.EINVALID, "Request body is empty.")
	}
	if err := checkFieldNames(body, reflect.TypeOf(v), rules); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// checkFieldNames walks body's objects along the struct types v decodes
// them into and refuses a key that is no field's exact name when it
// matches one in another case, or, under rules.unknown, at all.
// encoding/json matches names without regard to case and has no way to be
// told not to. On the way it checks what goes into each json.Number
// field, which encoding/json would refuse only as "not valid JSON",
// naming no field (see checkNumber).
func checkFieldNames(body []byte, t reflect.Type, rules decodeRules) error {
	dec := getDecoder(body)
	defer putDecoder(dec)
	return walkValue(&dec.Decoder, t, "", rules)
}

// decoders keeps jsontext decoders between requests: a new one allocated
// its state and, for every object, the namespace it checks names against,
// twice per request body (CheckJSON, then checkFieldNames); a reset one
// keeps them.
var decoders = sync.Pool{New: func() any { return new(pooledDecoder) }}

type pooledDecoder struct {
	jsontext.Decoder
	in bytes.Buffer
}

// noInput is what a decoder back in the pool reads from, so that it holds
// no request's body.
var noInput = new(bytes.Buffer)

// getDecoder returns a decoder reading body. Given a bytes.Buffer,
// jsontext reads the body where it lies instead of copying it.
func getDecoder(body []byte) *pooledDecoder {
	d := decoders.Get().(*pooledDecoder)
	d.in = *bytes.NewBuffer(body)
	d.Reset(&d.in)
	return d
}

func putDecoder(d *pooledDecoder) {
	d.Reset(noInput)
	d.in = bytes.Buffer{}
	decoders.Put(d)
}

var numberType = reflect.TypeFor[json.Number]()

// jsonNumber is the grammar of a JSON number (RFC 8259, section 6).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// checkNumber reads the value for a json.Number field at path. A number
// or null passes; a string passes only if it holds a number and the rules
// allow one (encoding/json reads "100" into a json.Number); anything else
// is EINVALID naming the field and the form it takes.
func checkNumber(dec *jsontext.Decoder, path string, rules decodeRules) error {
	kind := dec.PeekKind()
	v, err := dec.ReadValue()
	if err != nil {
		return jsonError(err)
	}
	switch kind {
	case '0', 'n':
		return nil
	case '"':
		if !rules.numbers {
			if s, err := strconv.Unquote(string(v)); err == nil && jsonNumber.MatchString(s) {
				return nil
			}
		}
	}
	what := map[jsontext.Kind]string{'"': "a string", 't': "a boolean", 'f': "a boolean", '{': "an object", '[': "an array"}[kind]
	p := truncate(path)
	return refundry.ParamErrorf(refundry.EINVALID, path, "%s must be %s, not %s.", p, numberForm(path, rules.numbers), what)
}

// numberForm says what a number field holds, by its name: what a client
// who sent the wrong form needs to write instead. The native API's names
// are known here; a dialect's fields are numbers in its seed's own units.
func numberForm(path string, native bool) string {
	if !native {
		return "a JSON number"
	}
	name := path[strings.LastIndexAny(path, ".]")+1:]
	switch {
	case strings.HasPrefix(path, "approval_threshold."):
		return "an integer number of minor units (1250 is 12.50 USD), or null"
	case strings.HasPrefix(name, "max_") || strings.HasSuffix(name, "_days") || strings.HasSuffix(name, "_hours"):
		return "an integer, or null"
	case strings.HasSuffix(name, "_at"):
		return "an integer (unix seconds)"
	case name == "amount" || strings.HasSuffix(name, "_amount") || name == "processing_fee" || name == "subtotal":
		return "an integer number of minor units (1250 is 12.50 USD)"
	case name == "quantity" || strings.HasSuffix(name, "_id"):
		return "an integer"
	}
	return "a JSON number"
}

func walkValue(dec *jsontext.Decoder, t reflect.Type, path string, rules decodeRules) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == numberType {
		return checkNumber(dec, path, rules)
	}
	switch dec.PeekKind() {
	case '{':
		if t == nil || t.Kind() != reflect.Struct {
			var elem reflect.Type
			if t != nil && t.Kind() == reflect.Map {
				elem = t.Elem()
			}
			if _, err := dec.ReadToken(); err != nil {
				return jsonError(err)
			}
			for dec.PeekKind() != '}' {
				tok, err := dec.ReadToken()
				if err != nil {
					return jsonError(err)
				}
				if err := walkValue(dec, elem, join(path, tok.String()), rules); err != nil {
					return err
				}
			}
			_, err := dec.ReadToken()
			return jsonError(err)
		}
		fields := fieldsOf(t)
		if _, err := dec.ReadToken(); err != nil {
			return jsonError(err)
		}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return jsonError(err)
			}
			name := tok.String()
			ft, exact := fields[name]
			if !exact {
				folded := false
				for f := range fields {
					folded = folded || strings.EqualFold(f, name)
				}
				if folded || rules.unknown {
					p := join(path, name)
					return &refundry.Error{Code: refundry.EINVALID, Param: p, Message: "Received unknown parameter: " + truncate(p) + ".", Err: ErrUnknownField}
				}
			}
			if err := walkValue(dec, ft, join(path, name), rules); err != nil {
				return err
			}
		}
		_, err := dec.ReadToken()
		return jsonError(err)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		if _, err := dec.ReadToken(); err != nil {
			return jsonError(err)
		}
		for i := 0; dec.PeekKind() != ']'; i++ {
			if err := walkValue(dec, elem, path+"["+strconv.Itoa(i)+"]", rules); err != nil {
				return err
			}
		}
		_, err := dec.ReadToken()
		return jsonError(err)
	}
	return jsonError(dec.SkipValue())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fieldCache holds jsonFields of each struct type a body was checked
// against: the walk over the type by reflection was a map and its
// entries allocated on every request, for an answer that never changes.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf is jsonFields(t), computed once per type. The map is shared:
// callers only read it.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f, _ := fieldCache.LoadOrStore(t, jsonFields(t))
	return f.(map[string]reflect.Type)
}

// jsonFields maps the JSON names of t's fields to their types, as
// encoding/json names them (tag, else field name; "-" skipped; embedded
// structs' fields promoted). A field whose type decodes itself (such as
// json.RawMessage or json.Number) is not walked into.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if reflect.PointerTo(ft).Implements(unmarshalerType) || ft.Kind() == reflect.Interface {
			ft = nil
		}
		out[name] = ft
	}
	return out
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeError describes what encoding/json found wrong with a body that
// CheckJSON passed: a value of the wrong type, or a field v lacks.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return refundry.ParamErrorf(refundry.EINVALID, typeErr.Field, "%s must be a JSON %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &typeErr):
		return refundry.Errorf(refundry.EINVALID, "Request body must be a JSON %s.", jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		return refundry.Errorf(refundry.EINVALID, "Request body is not valid JSON (at byte %d).", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return refundry.Errorf(refundry.EINVALID, "Request body is not valid JSON (it ends too soon).")
	}
	return refundry.Errorf(refundry.EINVALID, "Request body is not valid JSON.")
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
// body, so the same key sent with another request is told apart. A key
// sent twice is EINVALID (SingleHeader): which one was meant cannot be
// told, and guessing could move money twice (invariant 4).
func Idempotency(r *http.Request, body []byte) (*refundry.Idempotency, error) {
	key, err := SingleHeader(r, "Idempotency-Key")
	if err != nil || key == "" {
		return nil, err
	}
	if len(key) > 255 {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "Idempotency-Key", "Idempotency-Key must be at most 255 characters.")
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.Path)
	h.Write(body)
	return &refundry.Idempotency{Key: key, Hash: hex.EncodeToString(h.Sum(nil))}, nil
}

// truncate shortens text from a client to what an error message may quote.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
