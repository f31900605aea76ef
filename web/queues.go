package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// The queues of refunds waiting for a person: the approval queue
// (requires_approval, which a second person approves or rejects) and the
// review queue (requires_action, which a person resolves when the gateway
// gave no final answer). The rules are the engine's: who may approve
// (refundry.CheckApprover), what a resolution needs
// (refundry.Resolution.Settlement); these pages ask and show.

// queueCounts are the sizes of the queues, for the navigation.
type queueCounts struct {
	Approval, Review int64
	Known            bool // false when they could not be read: no counts shown
}

// queueCounts reads the merchant's queue sizes. A failure is logged and
// shows no counts: the navigation is no reason to refuse a page.
func (d *dashboard) queueCounts(ctx context.Context, merchantID string) queueCounts {
	qs, err := d.eng.RefundQueues(ctx, merchantID)
	if err != nil {
		d.logger.WarnContext(ctx, "dashboard: reading the queue sizes failed", "err", err)
		return queueCounts{}
	}
	c := queueCounts{Known: true}
	for _, q := range qs {
		switch q.Status {
		case refundry.RefundRequiresApproval:
			c.Approval = q.Count
		case refundry.RefundRequiresAction:
			c.Review = q.Count
		}
	}
	return c
}

// queueKind is one of the two queues.
type queueKind struct {
	Name   string // "approvals" or "reviews": its path and nav entry
	Title  string
	Status string
}

var (
	approvalQueue = queueKind{"approvals", "Approval queue", refundry.RefundRequiresApproval}
	reviewQueue   = queueKind{"reviews", "Review queue", refundry.RefundRequiresAction}
)

// queueRow is a refund as a queue shows it.
type queueRow struct {
	refundLine
	RequestedBy string // who asked, by name
	Own         bool   // the session asked for it: it may not approve it
	Waiting     string // how long it has waited, in words
}

type queueData struct {
	Kind   queueKind
	Count  int64
	Rows   []queueRow
	Pager  pager
	Notice string
	Error  string
}

func (d *dashboard) handleApprovals(w http.ResponseWriter, r *http.Request, s *session) {
	d.handleQueue(w, r, s, approvalQueue)
}

func (d *dashboard) handleReviews(w http.ResponseWriter, r *http.Request, s *session) {
	d.handleQueue(w, r, s, reviewQueue)
}

// handleQueue lists a queue's refunds, newest first, a page at a time.
func (d *dashboard) handleQueue(w http.ResponseWriter, r *http.Request, s *session, kind queueKind) {
	ctx, q := r.Context(), r.URL.Query()
	data := queueData{Kind: kind, Count: s.queues.Review}
	if kind == approvalQueue {
		data.Count = s.queues.Approval
	}
	f := listForm{after: q.Get("after"), before: q.Get("before")}
	status := http.StatusOK
	if (f.after != "" && !refundry.ValidID(f.after)) || (f.before != "" && !refundry.ValidID(f.before)) {
		data.Error, status = "The page link is malformed; start again from the first page.", http.StatusBadRequest
	} else {
		path := basePath + "/" + kind.Name
		refunds, pg, err := storePage(f, path, func(r *refundry.Refund) string { return r.ID }, func(p refundry.Page) ([]*refundry.Refund, bool, error) {
			return d.eng.ListRefunds(ctx, s.merchant.ID, refundry.RefundFilter{Page: p, Status: kind.Status})
		})
		var lines []refundLine
		if err == nil {
			lines, err = d.refundLines(ctx, s.merchant.ID, refunds)
		}
		if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
		data.Pager = pg
		name := d.namer(ctx, s.merchant.ID)
		now := d.eng.Now()
		for _, l := range lines {
			data.Rows = append(data.Rows, queueRow{refundLine: l, RequestedBy: name(l.RequestedBy),
				Own: l.RequestedBy != "" && l.RequestedBy == s.who, Waiting: since(now, l.Updated)})
		}
	}
	if id := q.Get("done"); refundry.ValidID(id) {
		if ref, err := d.eng.FindRefund(ctx, s.merchant.ID, id); err == nil {
			data.Notice = decidedNotice(ref, kind)
		}
	}
	p := page{Title: kind.Title, Nav: kind.Name, Data: data}
	p.fill(r, s)
	d.render(w, r, status, "queue", p)
}

// decidedNotice says what a decision just made from a queue did to a
// refund: approved (and what its gateway said), rejected, or resolved.
func decidedNotice(ref *refundry.Refund, kind queueKind) string {
	what := "Refund " + ref.ID + " of " + formatMoney(ref.Amount, ref.Currency)
	switch {
	case ref.Status == kind.Status:
		return what + " is still " + statusLabel(ref.Status) + "."
	case kind == approvalQueue && ref.Status == refundry.RefundCanceled:
		return what + " rejected: its amount is released."
	case kind == approvalQueue:
		return what + " approved: now " + statusLabel(ref.Status) + "."
	}
	return what + " resolved: now " + statusLabel(ref.Status) + "."
}

// since is how long ago t was, roughly, in words: "3 min", "5 h", "2 days".
func since(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return plainCount(int64(d/time.Minute), "min", "min")
	case d < 48*time.Hour:
		return plainCount(int64(d/time.Hour), "hour", "hours")
	}
	return plainCount(int64(d/(24*time.Hour)), "day", "days")
}

func plainCount(n int64, one, many string) string {
	return strconv.FormatInt(n, 10) + " " + plural(int(n), one, many)
}

// namer returns a function naming the identities refunds record
// (refundry.Actor.Who) as people know them: a user by name and email, a
// key by name, reading each once.
func (d *dashboard) namer(ctx context.Context, merchantID string) func(who string) string {
	seen := map[string]string{}
	return func(who string) string {
		if n, ok := seen[who]; ok {
			return n
		}
		n := d.nameOf(ctx, merchantID, who)
		seen[who] = n
		return n
	}
}

func (d *dashboard) nameOf(ctx context.Context, merchantID, who string) string {
	kind, id, _ := strings.Cut(who, ":")
	switch {
	case who == "":
		return ""
	case who == refundry.ActorSystem:
		return "Refundry"
	case who == refundry.ActorCLI:
		return "the command line"
	case kind == "user":
		if u, err := d.eng.FindUser(ctx, merchantID, id); err == nil {
			return u.Name + " <" + u.Email + ">"
		}
		return "user " + id
	case kind == "key":
		if k, err := d.eng.FindAPIKey(ctx, id); err == nil && k.MerchantID == merchantID {
			return "API key “" + k.Name + "” (" + k.Prefix() + ")"
		}
		return "API key " + id
	}
	return who
}

// Decisions on a held refund, each a confirmation page and the form it
// posts.
type decision struct {
	Verb   string // approve, reject or resolve: the path's last part
	Status string // the status a refund must be in
	Queue  queueKind
}

var (
	decideApprove = decision{"approve", refundry.RefundRequiresApproval, approvalQueue}
	decideReject  = decision{"reject", refundry.RefundRequiresApproval, approvalQueue}
	decideResolve = decision{"resolve", refundry.RefundRequiresAction, reviewQueue}
)

// outcomes are the resolutions of a refund in review, as the confirmation
// page words them.
var outcomes = map[string]string{
	refundry.ResolveSucceeded: "Mark succeeded",
	refundry.ResolveFailed:    "Mark failed",
	refundry.ResolveRetry:     "Send back to recovery",
}

type decisionData struct {
	Decision    decision
	Outcome     string // for resolve
	Action      string // the button's words
	Refund      *refundry.Refund
	Sale        *refundry.Sale
	RequestedBy string
	Note        string // as typed, to fill the form again
	Reference   string
	// Error says why the decision cannot be made (no button then);
	// Problem what to correct in the form, shown above it.
	Error   string
	Problem string
}

// loadDecision reads the refund and sale a decision page shows.
func (d *dashboard) loadDecision(ctx context.Context, s *session, dc decision, id, outcome string) (*decisionData, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such refund: %s", id)
	}
	ref, err := d.eng.FindRefund(ctx, s.merchant.ID, id)
	if err != nil {
		return nil, err
	}
	sale, err := d.eng.FindSale(ctx, s.merchant.ID, refundry.SaleLookup{ID: ref.SaleID})
	if err != nil {
		return nil, err
	}
	data := &decisionData{Decision: dc, Outcome: outcome, Refund: ref, Sale: sale, RequestedBy: d.nameOf(ctx, s.merchant.ID, ref.RequestedBy)}
	switch dc {
	case decideApprove:
		data.Action = "Approve"
	case decideReject:
		data.Action = "Reject"
	default:
		data.Action = outcomes[outcome]
	}
	return data, nil
}

// handleDecisionForm is the confirmation step before a decision: a page
// naming the refund, its amount and who asked for it, with a note and
// the button that posts the decision. A session that may not decide, or
// a refund no longer waiting, is told why instead of offered the button.
func (d *dashboard) handleDecisionForm(dc decision) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		outcome := r.URL.Query().Get("outcome")
		if dc == decideResolve && outcomes[outcome] == "" {
			d.renderError(w, r, s, http.StatusBadRequest, "Choose how to resolve the refund: succeeded, failed or retry.")
			return
		}
		data, err := d.loadDecision(r.Context(), s, dc, r.PathValue("id"), outcome)
		if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
		var status int
		data.Error, status = d.mayDecide(s, dc, data.Refund)
		d.renderDecision(w, r, s, status, data)
	}
}

// mayDecide says why the session may not make the decision on ref, with
// the status to answer, or "" and 200. The engine decides again when the
// form is posted; this only spares the person a button that would fail.
func (d *dashboard) mayDecide(s *session, dc decision, ref *refundry.Refund) (string, int) {
	switch {
	case !s.canApprove:
		return approveOnlyMessage(s), http.StatusForbidden
	case ref.Status != dc.Status:
		return "This refund is " + statusLabel(ref.Status) + ": only a refund that is " + statusLabel(dc.Status) + " can be " + dc.Verb + "d.", http.StatusConflict
	case dc == decideApprove:
		if err := refundry.CheckApprover(ref, s.who); err != nil {
			return refundry.ErrorMessage(err), http.StatusForbidden
		}
	}
	return "", http.StatusOK
}

func (d *dashboard) renderDecision(w http.ResponseWriter, r *http.Request, s *session, status int, data *decisionData) {
	title := data.Action + " refund"
	if data.Decision == decideResolve {
		title = "Resolve refund"
	}
	p := page{Title: title, Nav: data.Decision.Queue.Name, Data: data}
	p.fill(r, s)
	d.render(w, r, status, "decide", p)
}

// handleDecide makes the decision confirmed, as the session's actor,
// through the engine, which refuses approving one's own refund
// (EFORBIDDEN) and a refund no longer waiting (ECONFLICT: of two racing
// decisions exactly one is made). A refusal is audited and shown on the
// confirmation page.
func (d *dashboard) handleDecide(dc decision) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		ctx, id := r.Context(), r.PathValue("id")
		note := strings.TrimSpace(r.PostForm.Get("note"))
		outcome := r.PostForm.Get("outcome")
		reference := strings.TrimSpace(r.PostForm.Get("gateway_refund_id"))
		var ref *refundry.Refund
		var err error
		switch dc {
		case decideApprove:
			ref, err = d.eng.Approve(ctx, s.merchant.ID, id, note)
		case decideReject:
			ref, err = d.eng.Reject(ctx, s.merchant.ID, id, note)
		default:
			ref, err = d.eng.Resolve(ctx, s.merchant.ID, id, refundry.Resolution{Outcome: outcome, GatewayRefundID: reference, Note: note})
		}
		if err != nil && ref != nil && ref.Status != dc.Status {
			// Decided and recorded; only what came after (asking the
			// gateway) failed, and recovery takes it from here.
			d.logger.WarnContext(ctx, "dashboard: decided, but the gateway call after it failed", "refund", ref.ID, "err", err)
			err = nil
		}
		if err != nil {
			d.recordRefusal(ctx, s, edgeAction(dc), refundry.ErrorCode(err))
			status, ok := domainStatus(err)
			if !ok {
				d.renderInternal(w, r, s, err)
				return
			}
			data, lerr := d.loadDecision(ctx, s, dc, id, outcome)
			if lerr != nil {
				d.renderDomainError(w, r, s, err)
				return
			}
			data.Note, data.Reference = note, reference
			if refundry.ErrorCode(err) == refundry.EINVALID {
				data.Problem = refundry.ErrorMessage(err)
			} else {
				data.Error = refundry.ErrorMessage(err)
			}
			if dc == decideResolve && outcomes[outcome] == "" {
				data.Action = "Resolve"
			}
			d.renderDecision(w, r, s, status, data)
			return
		}
		d.logger.InfoContext(ctx, "dashboard decision", "merchant", s.merchant.ID, "refund", ref.ID, "decision", dc.Verb, "outcome", outcome, "status", ref.Status)
		http.Redirect(w, r, basePath+"/"+dc.Queue.Name+"?done="+url.QueryEscape(ref.ID), http.StatusSeeOther)
	}
}

// edgeAction is the audit action of a decision: the route table's.
func edgeAction(dc decision) string {
	return edge.RouteFor(http.MethodPost+" "+basePath+"/refunds/{id}/"+dc.Verb, http.MethodPost).Action
}
