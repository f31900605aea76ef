package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
)

type ctxKey int

const (
	merchantKey ctxKey = iota
	requestIDKey
	apiKeyKey
	outcomeKey
)

// RequestID returns the id given to the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// MerchantFrom returns the merchant Authenticate put in the context.
func MerchantFrom(ctx context.Context) *refundry.Merchant {
	m, _ := ctx.Value(merchantKey).(*refundry.Merchant)
	return m
}

// WithMerchant returns ctx carrying m, for edges that authenticate their
// own way.
func WithMerchant(ctx context.Context, m *refundry.Merchant) context.Context {
	return context.WithValue(ctx, merchantKey, m)
}

// APIKeyFrom returns the API key Authenticate accepted for the request.
func APIKeyFrom(ctx context.Context) *refundry.APIKey {
	k, _ := ctx.Value(apiKeyKey).(*refundry.APIKey)
	return k
}

// outcome is where an edge's error writer leaves the error it answered,
// for Authenticate to audit a refused write with its code.
type outcome struct{ err error }

// NoteError tells the audit of the request being served which error it
// was answered with. Every edge's error writer calls it; it does nothing
// outside an authenticated write.
func NoteError(ctx context.Context, err error) {
	if o, ok := ctx.Value(outcomeKey).(*outcome); ok && o.err == nil {
		o.err = err
	}
}

// code is the audit result of a refused write: the domain code of the
// error answered, or, for a fault an edge found in the request's form
// (bad JSON, a wrong method), EINVALID.
func (o *outcome) code(status int) string {
	var e *refundry.Error
	switch {
	case errors.As(o.err, &e):
		return e.Code
	case status < http.StatusInternalServerError:
		return refundry.EINVALID
	default:
		return refundry.EINTERNAL
	}
}

// KeyForms say where a route accepts its API key besides the Bearer header.
type KeyForms struct {
	Basic  bool   // HTTP Basic, the key as user name (Talkable)
	Header string // a header that holds the key alone (RevCent's X-API-Key)
}

// KeyFromRequest returns the API key text the request carries, or "".
// A key header sent more than once is EINVALID: which copy is the key is
// ambiguous, and a proxy that reads the last while Refundry reads the
// first is how a request gets run as someone it was not checked as.
func KeyFromRequest(r *http.Request, forms KeyForms) (string, error) {
	auth, err := SingleHeader(r, "Authorization")
	if err != nil {
		return "", err
	}
	var alone string
	if forms.Header != "" {
		if alone, err = SingleHeader(r, forms.Header); err != nil {
			return "", err
		}
	}
	if auth != "" {
		if scheme, rest, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest), nil
		}
		if forms.Basic {
			if user, _, ok := r.BasicAuth(); ok {
				return user, nil
			}
		}
	}
	return strings.TrimSpace(alone), nil
}

// SingleHeader returns the value of the header name, "" when the request
// has none, or EINVALID (with the header as its parameter) when it has it
// more than once. It is the one rule for the headers whose meaning a
// second copy would make ambiguous, the key and the Idempotency-Key, as
// CheckJSON is for a key named twice in a body; each edge answers the
// error as it answers any malformed request of its own.
func SingleHeader(r *http.Request, name string) (string, error) {
	switch v := r.Header.Values(name); len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	default:
		return "", refundry.ParamErrorf(refundry.EINVALID, name, "The %s header is sent %d times; a request must carry it once.", name, len(v))
	}
}

// Authenticate runs next with the key's merchant, the key and the actor
// (for the audit log) in the context, or answers with fail (the edge's own
// error shape): EUNAUTHORIZED when the key is missing, wrong, revoked or
// expired, EFORBIDDEN when its scope does not cover the route (the one
// rule, RouteOf, decides), EINVALID when a key header or the
// Idempotency-Key is sent twice (SingleHeader). It is also the one place refused writes are
// audited: a write answered with an error changed nothing and so left no
// row of its own, and gets one here with the error's code as its result.
// Requests without a valid key are not audited: they name no merchant.
func Authenticate(eng *engine.Engine, forms KeyForms, fail func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		text, err := KeyFromRequest(r, forms)
		if err != nil {
			// A repeated key header: nobody to audit it for, since
			// which key was meant is the very question.
			fail(w, r, err)
			return
		}
		m, key, err := eng.Authenticate(ctx, text)
		if err != nil {
			fail(w, r, err)
			return
		}
		// A bucket per key, taken only once the key proved good, so that
		// a stranger guessing keys cannot spend a merchant's allowance;
		// and before the audit, so that a runaway client fills no log.
		if err := allowKey(ctx, key.ID); err != nil {
			fail(w, r, err)
			return
		}
		route := RouteOf(r)
		ctx = context.WithValue(WithMerchant(ctx, m), apiKeyKey, key)
		ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: key.ID, RemoteAddr: r.RemoteAddr,
			RequestID: RequestID(ctx), Method: r.Method, Path: r.URL.Path})
		refusal := refuse(r, key.Scope, route.Scope)
		if route.Action == "" {
			if refusal != nil {
				fail(w, r.WithContext(ctx), refusal)
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		o := &outcome{}
		ctx = context.WithValue(ctx, outcomeKey, o)
		rec := &statusRecorder{ResponseWriter: w}
		if refusal == nil {
			next.ServeHTTP(rec, r.WithContext(ctx))
		} else {
			fail(rec, r.WithContext(ctx), refusal)
		}
		if rec.status < http.StatusBadRequest {
			return
		}
		code := o.code(rec.status)
		// The answer is out; the client hanging up must not lose the row.
		if err := eng.RecordRefusal(context.WithoutCancel(ctx), m.ID, route.Action, code); err != nil {
			eng.Logger.ErrorContext(ctx, "audit of a refused write failed", "action", route.Action, "result", code, "err", err)
		}
	})
}

// refuse says why an authenticated request may not reach its handler, or
// nil: a key whose scope does not cover the route, or an Idempotency-Key
// sent more than once. The header is judged here, before any handler
// reads a body or writes a row, so that every route of every edge
// refuses it alike, including the ones that do not honour the key
// (invariant 7: bad input changes nothing), and the refusal is audited.
func refuse(r *http.Request, have, need refundry.Scope) error {
	if err := Authorize(have, Route{Scope: need}); err != nil {
		return err
	}
	_, err := SingleHeader(r, "Idempotency-Key")
	return err
}

func forbidden(have, need refundry.Scope) error {
	return refundry.Errorf(refundry.EFORBIDDEN, "This API key has scope %s; this request needs scope %s.", have, need)
}

// statusRecorder keeps the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's own writer
// (flushing, deadlines) through the recorder: a streamed export needs
// both.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observe gives every request an id (echoed in Request-Id, and in every log
// line the request causes), logs it when done, and turns a panic into a
// logged 500 so that one bad request never takes the server down.
func Observe(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(ctx, "panic serving request", "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writePanic(rec)
				}
			}
			// Attrs, not key-value pairs: the same line, without boxing
			// each value into an interface on every request.
			logger.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("duration_ms", time.Since(start).Milliseconds()))
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// writePanic answers a request whose handler panicked before it wrote
// anything. Which edge it was is unknown by then, so the answer is the
// native API's internal error, the shape every edge's 500 falls back to.
func writePanic(w http.ResponseWriter) {
	type detail struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	WriteJSON(w, http.StatusInternalServerError, struct {
		Error detail `json:"error"`
	}{detail{"api_error", "internal_error", "An internal error occurred."}})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	// Written into one buffer: the id is one allocation, not two.
	id := [4 + 2*len(b)]byte{'r', 'e', 'q', '_'}
	hex.Encode(id[4:], b[:])
	return string(id[:])
}

// LogHandler adds the id of the request being served to every log record
// made with its context, so that all a request caused can be found by it.
type LogHandler struct{ slog.Handler }

func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }
