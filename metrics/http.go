package metrics

import (
	"context"
	"net/http"
	"time"
)

// DialectNone labels requests that no dialect served: the operational
// routes (/healthz, /metrics, ...) and unmatched paths.
const DialectNone = "none"

// routeUnmatched labels requests that matched no route, so that a scan
// of random paths cannot make one series per path.
const routeUnmatched = "unmatched"

type labelsKey struct{}

// labels travel in the request context from Middleware to the handler
// that knows them (Dialect), and are read back once the request is done.
type labels struct{ dialect string }

// Middleware counts and times every request by route pattern, dialect and
// status. It must run inside any middleware that copies the request
// (WithContext), and outside the ServeMux: the mux writes the pattern it
// matched into the request it is given, and the innermost mux's pattern
// (e.g. "POST /v1/refunds/{id}/cancel") is the one read back here.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		l := &labels{dialect: DialectNone}
		r = r.WithContext(context.WithValue(r.Context(), labelsKey{}, l))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			// Recorded even if the handler panics, as the 500 that the
			// outer middleware turns the panic into.
			status := rec.status
			if status == 0 {
				status = http.StatusOK
				if p := recover(); p != nil {
					status = http.StatusInternalServerError
					defer panic(p)
				}
			}
			route := r.Pattern
			if route == "" {
				route = routeUnmatched
			}
			m.httpRequestsBy.get(labels3{a: route, b: l.dialect, code: status}).Inc()
			m.httpDurationBy.get(labels3{a: route, b: l.dialect}).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// Dialect labels the requests h serves with the dialect's name (native,
// keepup, revcent, ...). Wrap each edge with it where it is mounted.
func Dialect(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l, ok := r.Context().Value(labelsKey{}).(*labels); ok {
			l.dialect = name
		}
		h.ServeHTTP(w, r)
	})
}

// recorder keeps the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's own writer
// (flushing, deadlines) through the recorder.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }
