package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// assets holds the views (templates/) and the stylesheet (static/).
//
//go:embed templates/*.html static
var assets embed.FS

// viewNames lists every page; loadViews parses each with the layout at
// start, so a missing or broken template stops the server from starting.
var viewNames = []string{"signin", "overview", "search", "sales", "refunds", "sale", "review", "cancel", "error", "disputes", "runs", "run",
	"queue", "decide"}

type views struct {
	pages      map[string]*template.Template
	cssVersion string // a hash of the stylesheet, so browsers may cache it
}

var funcs = template.FuncMap{
	"money":  formatMoney,
	"major":  formatMajor,
	"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"words":  spaced,
	"status": statusLabel,
	"plural": plural,
	"name":   customerName,
	// disputeOpen is the one rule of which disputes refuse refunds.
	"disputeOpen": disputeOpen,
}

// spaced is a name in words: "partially_refunded" is "partially refunded".
func spaced(s string) string { return strings.ReplaceAll(s, "_", " ") }

// statusLabels are the words for the refund statuses whose names are not
// words a person would use.
var statusLabels = map[string]string{
	refundry.RefundRequiresApproval: "awaiting approval",
	refundry.RefundRequiresAction:   "needs review",
}

// statusLabel is a status as people read it: "awaiting approval" for
// requires_approval, "needs review" for requires_action, and the others'
// names in words ("partially refunded").
func statusLabel(status string) string {
	if l, ok := statusLabels[status]; ok {
		return l
	}
	return spaced(status)
}

// plural is the word for n things: "1 refund", "2 refunds", "0 refunds".
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// customerName is "First Last", either alone, or "" for a customer known
// only by email.
func customerName(c refundry.Customer) string {
	return strings.TrimSpace(strings.TrimSpace(c.FirstName) + " " + strings.TrimSpace(c.LastName))
}

// loadViews parses every view of fsys, laid out as assets is.
func loadViews(fsys fs.FS) (*views, error) {
	v := &views{pages: map[string]*template.Template{}}
	for _, name := range viewNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(fsys, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("view %s: %w", name, err)
		}
		for _, part := range []string{"layout", "content"} {
			if t.Lookup(part) == nil {
				return nil, fmt.Errorf("view %s: template %q is not defined", name, part)
			}
		}
		v.pages[name] = t
	}
	css, err := fs.ReadFile(fsys, "static/style.css")
	if err != nil {
		return nil, fmt.Errorf("stylesheet: %w", err)
	}
	sum := sha256.Sum256(css)
	v.cssVersion = hex.EncodeToString(sum[:6])
	return v, nil
}

// formatMoney writes an amount with its currency's exponent and code:
// 500 JPY, 12.50 USD, 1.234 KWD.
func formatMoney(amount int64, currency string) string {
	c, err := refundry.LookupCurrency(currency)
	if err != nil {
		// Stored amounts always have a known currency; should one not,
		// the raw minor units are shown rather than a wrong decimal.
		return fmt.Sprintf("%d (minor units of %s)", amount, currency)
	}
	return refundry.FormatMajor(amount, c) + " " + c.Code
}

// formatMajor is formatMoney without the code, for form fields.
func formatMajor(amount int64, currency string) string {
	c, err := refundry.LookupCurrency(currency)
	if err != nil {
		return ""
	}
	return refundry.FormatMajor(amount, c)
}

// page is what the layout needs around every view's own data.
type page struct {
	Title      string
	Nav        string // the menu entry to highlight
	Merchant   *refundry.Merchant
	CSRF       string
	CanRefund  bool // the session's key may refund: show refund and cancel forms
	CanApprove bool // the session may approve, reject and resolve: show their buttons
	ReadOnly   string
	NoApprove  string // why the queues show no buttons, for a session that may not decide
	Who        string // who is signed in: the user's name or the key's
	Queues     queueCounts
	RequestID  string
	CSSVersion string
	Data       any
}

func (p *page) fill(r *http.Request, s *session) {
	if s != nil {
		p.Merchant, p.CSRF, p.CanRefund, p.CanApprove = s.merchant, s.csrf, s.canRefund, s.canApprove
		p.Who, p.Queues, p.NoApprove, p.ReadOnly = s.name, s.queues, approveOnlyMessage(s), readOnlyMessage(s)
	}
	p.RequestID = edge.RequestID(r.Context())
}

// render writes a whole page or, if the view fails, a plain 500: the page
// is built in memory first so that a failure never leaves half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := d.views.pages[name]
	if t == nil {
		d.logger.ErrorContext(r.Context(), "dashboard: no such view", "view", name)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	p.CSSVersion = d.views.cssVersion
	p.RequestID = edge.RequestID(r.Context())
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		d.logger.ErrorContext(r.Context(), "dashboard: rendering failed", "view", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show one merchant's customers and money: never cache them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Message string
}

func (d *dashboard) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	p := page{Title: http.StatusText(status), Data: errorData{status, msg}}
	p.fill(r, s)
	d.render(w, r, status, "error", p)
}

// renderInternal logs a fault of ours and shows a safe message with the
// request id, by which the log line can be found.
func (d *dashboard) renderInternal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	// A database away for a moment (a failover) is no fault of ours:
	// 503 with Retry-After, as on every edge.
	if refundry.ErrorCode(err) == refundry.EUNAVAILABLE {
		d.renderDomainError(w, r, s, err)
		return
	}
	d.logger.ErrorContext(r.Context(), "dashboard: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	d.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong on our side. Nothing was changed by this page; try again, and quote the request id if it persists.")
}

// renderDomainError shows an error from the engine or the store: the codes
// a user can act on with their message, anything else as internal.
func (d *dashboard) renderDomainError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status, ok := domainStatus(err)
	if !ok {
		d.renderInternal(w, r, s, err)
		return
	}
	edge.SetRetryAfter(w, err)
	d.renderError(w, r, s, status, refundry.ErrorMessage(err))
}

// domainStatus is the dashboard's one table from domain codes to HTTP
// statuses; ok is false for codes that are a fault of ours.
func domainStatus(err error) (int, bool) {
	switch refundry.ErrorCode(err) {
	case refundry.ENOTFOUND:
		return http.StatusNotFound, true
	case refundry.EINVALID, refundry.ETOOLARGE, refundry.EREFUNDED, refundry.EIDEMPOTENCY, refundry.ECHARGEDISPUTED,
		refundry.EWINDOW, refundry.ETOOMANY:
		return http.StatusUnprocessableEntity, true
	case refundry.EFORBIDDEN:
		return http.StatusForbidden, true
	case refundry.ERATELIMITED:
		return http.StatusTooManyRequests, true
	case refundry.ECONFLICT:
		return http.StatusConflict, true
	case refundry.EGATEWAY:
		return http.StatusBadGateway, true
	case refundry.EUNAVAILABLE:
		return http.StatusServiceUnavailable, true
	case refundry.EUNAUTHORIZED:
		return http.StatusUnauthorized, true
	}
	return http.StatusInternalServerError, false
}

func (d *dashboard) handleStatic() http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.StripPrefix(basePath+"/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Links carry the stylesheet's hash, so a cached copy is never stale.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
