// Package web is Refundry's dashboard: server-rendered pages where support
// staff sign in (as a merchant's user with a password, or with an API
// key), find a sale and refund it, and where approvers work the queues of
// refunds waiting for approval or for a person's review. Every refund
// goes through the engine like any other edge's, with Source "dashboard",
// so the over-refund guard (invariant 2) and every other rule apply
// unchanged.
//
// Pages are html/template views embedded in the binary with their CSS;
// charts are SVG drawn on the server, so the dashboard needs no
// JavaScript, no build step and no network beyond Refundry itself.
package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/refundry/refundry/engine"
)

// basePath is where the dashboard is mounted; every route and link is
// under it (cmd/refundry mounts the handler at basePath + "/").
const basePath = "/dashboard"

// Options tune the dashboard. The zero value is usable.
type Options struct {
	// SecureCookies marks the session cookie Secure even when the request
	// did not arrive over TLS, for a server behind a TLS-terminating proxy.
	SecureCookies bool
	// SessionIdle ends a session unused for this long (default 30 minutes).
	SessionIdle time.Duration
	// SessionMax ends a session this long after sign-in, used or not
	// (default 12 hours).
	SessionMax time.Duration

	// signInRefill, for tests, is how long a password sign-in bucket
	// takes to regain one attempt (default: a minute over the limit per
	// minute), so that a slow run does not refill it mid-test.
	signInRefill time.Duration
}

// dashboard holds what every handler needs.
type dashboard struct {
	eng    *engine.Engine
	logger *slog.Logger
	opts   Options
	views  *views
	// signinLimits bound password sign-in attempts.
	signinLimits signinLimits
}

// NewHandler returns the dashboard, serving every path under /dashboard/.
// It panics if a view's template is missing or does not parse, so that a
// broken build fails at start rather than on a support agent's screen.
func NewHandler(eng *engine.Engine, logger *slog.Logger, opts Options) http.Handler {
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.SessionMax <= 0 {
		opts.SessionMax = 12 * time.Hour
	}
	v, err := loadViews(assets)
	if err != nil {
		panic("web: " + err.Error())
	}
	d := &dashboard{eng: eng, logger: logger, opts: opts, views: v,
		signinLimits: newSigninLimits(opts.signInRefill, eng.CountRequest)}
	return d.routes()
}

// routes lists every route of the dashboard.
func (d *dashboard) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+basePath+"/static/", d.handleStatic())
	mux.HandleFunc("GET "+basePath+"/signin", d.handleSignInForm)
	mux.HandleFunc("POST "+basePath+"/signin", d.handleSignIn)
	mux.Handle("POST "+basePath+"/signout", d.auth(d.handleSignOut))
	mux.Handle("GET "+basePath+"/{$}", d.auth(d.handleOverview))
	mux.Handle("GET "+basePath+"/search", d.auth(d.handleSearch))
	mux.Handle("GET "+basePath+"/sales", d.auth(d.handleSales))
	mux.Handle("GET "+basePath+"/sales/{id}", d.auth(d.handleSale))
	mux.Handle("POST "+basePath+"/sales/{id}/refund/review", d.auth(d.handleRefundReview))
	mux.Handle("POST "+basePath+"/sales/{id}/refund", d.auth(d.handleRefundConfirm))
	mux.Handle("POST "+basePath+"/sales/{id}/returns", d.auth(d.handleRequestReturn))
	mux.Handle("POST "+basePath+"/returns/{id}/receive", d.auth(d.handleReturnStep("receive")))
	mux.Handle("POST "+basePath+"/returns/{id}/refund", d.auth(d.handleReturnStep("refund")))
	mux.Handle("POST "+basePath+"/returns/{id}/cancel", d.auth(d.handleReturnStep("cancel")))
	mux.Handle("GET "+basePath+"/refunds", d.auth(d.handleRefunds))
	mux.Handle("GET "+basePath+"/refunds/{id}", d.auth(d.handleRefund))
	mux.Handle("GET "+basePath+"/refunds/{id}/cancel", d.auth(d.handleCancelForm))
	mux.Handle("POST "+basePath+"/refunds/{id}/cancel", d.auth(d.handleCancel))
	mux.Handle("GET "+basePath+"/approvals", d.auth(d.handleApprovals))
	mux.Handle("GET "+basePath+"/reviews", d.auth(d.handleReviews))
	mux.Handle("GET "+basePath+"/refunds/{id}/approve", d.auth(d.handleDecisionForm(decideApprove)))
	mux.Handle("POST "+basePath+"/refunds/{id}/approve", d.auth(d.handleDecide(decideApprove)))
	mux.Handle("GET "+basePath+"/refunds/{id}/reject", d.auth(d.handleDecisionForm(decideReject)))
	mux.Handle("POST "+basePath+"/refunds/{id}/reject", d.auth(d.handleDecide(decideReject)))
	mux.Handle("GET "+basePath+"/refunds/{id}/resolve", d.auth(d.handleDecisionForm(decideResolve)))
	mux.Handle("POST "+basePath+"/refunds/{id}/resolve", d.auth(d.handleDecide(decideResolve)))
	mux.Handle("GET "+basePath+"/disputes", d.auth(d.handleDisputes))
	mux.Handle("GET "+basePath+"/disputes/{id}", d.auth(d.handleDispute))
	mux.Handle("GET "+basePath+"/reconciliation", d.auth(d.handleRuns))
	mux.Handle("GET "+basePath+"/reconciliation/{id}", d.auth(d.handleRun))
	mux.Handle(basePath+"/", d.auth(func(w http.ResponseWriter, r *http.Request, s *session) {
		d.renderError(w, r, s, http.StatusNotFound, "There is no such page in the dashboard.")
	}))

	// The per-session token in d.auth is the CSRF defence every form
	// relies on; the browser's Sec-Fetch-Site check is a second one that
	// also covers the sign-in form, which has no session yet.
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// securityHeaders sets what every dashboard response carries. The policy
// allows only this origin's stylesheet: no script runs on any page, and
// the pages cannot be framed (clickjacking a refund button).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
