package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// Bounds of what one sale page reads: a sale with more refunds than this
// is rare, and the page says when it shows only the newest.
const (
	saleRefundLimit = refundry.MaxPageLimit
	refundEventMax  = 20
)

// lineRow is a line as the sale page shows it. Remaining is the line's
// true remainder: every refund of the sale, sale- and payment-level ones
// too, is allocated to the lines, so it falls with them.
type lineRow struct {
	Item      *refundry.LineItem
	Remaining int64
	// Units are the units not yet refunded by quantity, which the refund
	// form offers; Qty what the form asked of them, to fill it again.
	Units int64
	Qty   string
}

type txnRow struct {
	T         *refundry.Transaction
	Remaining int64
	// Dispute is the payment's dispute a person must know of first: an
	// open one (it refuses refunds), else the newest.
	Dispute *refundry.Dispute
	// Account is the gateway account the payment was taken through, whose
	// credentials its refunds are sent with; nil for the server's own
	// gateway or offsite.
	Account *refundry.GatewayAccount
}

type refundRow struct {
	R         *refundry.Refund
	LineName  string            // the line item it was charged to, if any
	Lines     []reviewLine      // what it returned of each line
	Events    []*refundry.Event // oldest first: a timeline
	Highlight bool
	// Late is set for a refund the gateway reported failed after it had
	// succeeded: the customer never got the money the books said was sent.
	Late *lateFailure
	// RequestedBy and DecidedBy name who asked for the refund and who
	// last decided it by hand; Own is set when the session asked for it.
	RequestedBy, DecidedBy string
	Own                    bool
}

// lateFailure is what happened to a refund that failed late, and when.
type lateFailure struct {
	Succeeded time.Time // when it was recorded succeeded
	Failed    time.Time // when the gateway's failure was heard
	Reason    string
}

// findLateFailure reads a late failure from a failed refund's timeline:
// a refund.succeeded followed by a refund.failed.
func findLateFailure(r *refundry.Refund, events []*refundry.Event) *lateFailure {
	if r.Status != refundry.RefundFailed {
		return nil
	}
	var late *lateFailure
	for _, ev := range events {
		switch ev.Type {
		case refundry.EventRefundSucceeded:
			late = &lateFailure{Succeeded: ev.Created}
		case refundry.EventRefundFailed:
			if late != nil {
				late.Failed = ev.Created
			}
		}
	}
	if late == nil || late.Failed.IsZero() {
		return nil
	}
	late.Reason = r.FailureReason
	return late
}

type targetOption struct {
	Value, Label string
}

// refundForm is the refund form as typed, to fill it again after an error.
type refundForm struct {
	Target      string
	Amount      string // major units, as typed
	Reason      string // one of the merchant's reason codes, or empty
	Description string // free text
	Offsite     bool
	Notify      bool
	// Qty are the units asked of each line by id ("qty-ID" fields), and
	// Shipping asks for all the shipping that remains: a refund of what
	// came back, instead of an amount.
	Qty      map[string]int64
	Shipping bool
}

// itemized reports whether the form asks for units or shipping.
func (f refundForm) itemized() bool { return len(f.Qty) > 0 || f.Shipping }

type saleData struct {
	Sale      *refundry.Sale
	Remaining int64
	// OverBy is how much more the sale's refunds returned than was paid:
	// above zero only when a refund made at the gateway was adopted past
	// the caps (sale.over_refunded), which the page must never hide.
	OverBy      int64
	Disputes    []*refundry.Dispute
	OpenDispute bool // a payment is under an open dispute: refunds of it are refused
	Lines       []lineRow
	// Shipping is what remains of the sale's shipping: the form offers
	// to refund it when there is some.
	Shipping    int64
	Txns        []txnRow
	Refunds     []refundRow
	RefundsMore bool
	Referrals   []*refundry.Referral
	Targets     []targetOption
	Reasons     []*refundry.RefundReason // the merchant's, for the form
	Form        refundForm
	Error       string
	Notice      string
	// Returns are the sale's returns and the form to request one.
	Returns returnsData
}

// loadSale reads everything the sale page shows.
func (d *dashboard) loadSale(ctx context.Context, merchantID, id string) (*saleData, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such sale: %s", id)
	}
	sale, err := d.eng.FindSale(ctx, merchantID, refundry.SaleLookup{ID: id})
	if err != nil {
		return nil, err
	}
	data := &saleData{Sale: sale, Remaining: sale.Refundable(), OverBy: overRefundedBy(sale)}
	disputes, _, err := d.eng.ListDisputes(ctx, merchantID, refundry.DisputeFilter{SaleID: sale.ID, Page: refundry.Page{Limit: refundry.MaxPageLimit}})
	if err != nil {
		return nil, err
	}
	data.Disputes = disputes
	if data.Reasons, err = d.eng.ListRefundReasons(ctx, merchantID); err != nil {
		return nil, err
	}
	data.Targets = append(data.Targets, targetOption{"sale:" + sale.ID, "Whole sale (" + formatMoney(data.Remaining, sale.Currency) + " remains)"})
	for _, li := range sale.LineItems {
		rem := sale.LineRefundable(li)
		data.Lines = append(data.Lines, lineRow{Item: li, Remaining: rem, Units: max(li.Quantity-li.RefundedQuantity, 0)})
		if li.Kind == refundry.LineShipping {
			data.Shipping += rem
		}
		data.Targets = append(data.Targets, targetOption{"line:" + li.ID,
			"Line item: " + li.Name + " (" + formatMoney(rem, sale.Currency) + " remains)"})
	}
	for _, t := range sale.Transactions {
		// What a refund of this payment may take: its own remainder,
		// capped by the sale's, the rule PlanRefund refunds by.
		rem := sale.TransactionRefundable(t)
		row := txnRow{T: t, Remaining: rem}
		if t.GatewayAccount != "" {
			// Removed accounts are read too: the payment was taken through
			// it, and its refunds still settle through it.
			if row.Account, err = d.eng.GatewayAccount(ctx, merchantID, t.GatewayAccount); err != nil {
				return nil, err
			}
		}
		// Disputes come newest first: the first open one wins, else the newest.
		for _, dp := range disputes {
			if dp.TransactionID != t.ID {
				continue
			}
			if row.Dispute == nil || (disputeOpen(dp.Status) && !disputeOpen(row.Dispute.Status)) {
				row.Dispute = dp
			}
		}
		// The transaction's own status is the one PlanRefund refuses by.
		disputed := disputeOpen(t.DisputeStatus) || (row.Dispute != nil && disputeOpen(row.Dispute.Status))
		data.OpenDispute = data.OpenDispute || disputed
		data.Txns = append(data.Txns, row)
		label := "Payment #" + strconv.FormatInt(t.Number, 10) + " via " + t.Gateway + " (" + formatMoney(rem, sale.Currency) + " remains)"
		if disputed {
			label += ", disputed: refunds refused"
		}
		data.Targets = append(data.Targets, targetOption{"txn:" + t.ID, label})
	}
	refunds, more, err := d.eng.ListRefunds(ctx, merchantID, refundry.RefundFilter{SaleID: sale.ID, Page: refundry.Page{Limit: saleRefundLimit}})
	if err != nil {
		return nil, err
	}
	data.RefundsMore = more
	name := d.namer(ctx, merchantID)
	for _, ref := range refunds {
		events, _, err := d.eng.ListEvents(ctx, merchantID, refundry.EventFilter{ObjectID: ref.ID, Page: refundry.Page{Limit: refundEventMax}})
		if err != nil {
			return nil, err
		}
		slices.Reverse(events)
		row := refundRow{R: ref, Events: events, Late: findLateFailure(ref, events), RequestedBy: name(ref.RequestedBy), DecidedBy: name(ref.DecidedBy)}
		for _, li := range sale.LineItems {
			if li.ID == ref.LineItemID {
				row.LineName = li.Name
			}
		}
		row.Lines = namedLines(sale, ref.Lines)
		data.Refunds = append(data.Refunds, row)
	}
	if data.Returns, err = d.loadReturns(ctx, merchantID, sale, data.Refunds); err != nil {
		return nil, err
	}
	if sale.Reference != "" {
		origin, err := d.eng.FindOrigin(ctx, merchantID, sale.Reference)
		switch refundry.ErrorCode(err) {
		case "":
			if origin.SaleID == sale.ID {
				if data.Referrals, err = d.eng.ListReferrals(ctx, merchantID, origin.ID); err != nil {
					return nil, err
				}
			}
		case refundry.ENOTFOUND:
		default:
			return nil, err
		}
	}
	return data, nil
}

func (d *dashboard) handleSale(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.loadSale(r.Context(), s.merchant.ID, r.PathValue("id"))
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	q := r.URL.Query()
	data.Form.Target = q.Get("target")
	data.Form.Reason = refundry.ReasonRequestedByCustomer
	// The notices name what the previous form did, after its redirect.
	var done []string
	for i := range data.Refunds {
		row := &data.Refunds[i]
		if (q.Get("done") != "" && row.R.Group == q.Get("done")) || (q.Get("canceled") != "" && row.R.ID == q.Get("canceled")) {
			row.Highlight = true
			msg := "Refund " + row.R.ID + " of " + formatMoney(row.R.Amount, row.R.Currency) + ": " + statusLabel(row.R.Status) + "."
			if row.R.Status == refundry.RefundRequiresApproval {
				msg += " Someone other than you must approve it before the gateway is asked; it waits in the approval queue."
			}
			done = append(done, msg)
		}
	}
	if len(done) > 0 {
		data.Notice = strings.Join(done, " ")
	}
	if id := q.Get("return"); id != "" {
		data.Returns.notice(id, data.Sale.Currency)
	}
	d.renderSale(w, r, s, http.StatusOK, data)
}

func (d *dashboard) renderSale(w http.ResponseWriter, r *http.Request, s *session, status int, data *saleData) {
	title := "Sale " + data.Sale.ID
	if data.Sale.Reference != "" {
		title = "Order " + data.Sale.Reference
	}
	for i := range data.Refunds {
		row := &data.Refunds[i]
		row.Own = row.R.RequestedBy != "" && row.R.RequestedBy == s.who
	}
	p := page{Title: title, Nav: "sales", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "sale", p)
}

// readRefundForm reads the form. A quantity field left empty or at 0
// asks for nothing; one that is not a whole number of units at least 0
// is an error naming its line.
func readRefundForm(v url.Values, sale *refundry.Sale) (refundForm, error) {
	f := refundForm{
		Target: v.Get("target"), Amount: strings.TrimSpace(v.Get("amount")), Reason: strings.TrimSpace(v.Get("reason")),
		Description: strings.TrimSpace(v.Get("description")),
		Offsite:     v.Get("offsite") != "", Notify: v.Get("notify") != "", Shipping: v.Get("shipping") != "",
	}
	var bad error
	for _, li := range sale.LineItems {
		text := strings.TrimSpace(v.Get("qty-" + li.ID))
		if text == "" || text == "0" {
			continue
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n < 0 {
			if bad == nil {
				bad = refundry.ParamErrorf(refundry.EINVALID, "qty-"+li.ID, "The quantity of “%s” must be a whole number of units.", li.Name)
			}
			continue
		}
		if n == 0 {
			continue
		}
		if f.Qty == nil {
			f.Qty = map[string]int64{}
		}
		f.Qty[li.ID] = n
	}
	return f, bad
}

// request is the refund the form asks for. Units and shipping refund the
// sale by what came back, so they go with the whole sale as target and
// no amount: the lines' units decide it.
func (f refundForm) request(sale *refundry.Sale, merchantID string) (refundry.RefundRequest, string, error) {
	req := refundry.RefundRequest{MerchantID: merchantID, Reason: f.Reason, Description: f.Description, Offsite: f.Offsite,
		NotifyCustomer: f.Notify, Source: refundry.SourceDashboard}
	if !f.itemized() {
		target, what, ok := parseTarget(f.Target, sale)
		if !ok {
			return req, "", refundry.ParamErrorf(refundry.EINVALID, "target", "Choose what to refund: the whole sale, a line item or a payment.")
		}
		amount, err := parseAmount(f.Amount, sale.Currency)
		req.Target, req.Amount = target, amount
		return req, what, err
	}
	if f.Amount != "" || f.Target != "sale:"+sale.ID {
		return req, "", refundry.ParamErrorf(refundry.EINVALID, "amount",
			"To refund by quantity or the shipping, choose the whole sale and leave the amount empty: the units decide it.")
	}
	req.Target = refundry.RefundTarget{SaleID: sale.ID}
	var what []string
	for _, li := range sale.LineItems {
		if n := f.Qty[li.ID]; n > 0 {
			req.Lines = append(req.Lines, refundry.LineRequest{LineItemID: li.ID, Quantity: n})
			what = append(what, strconv.FormatInt(n, 10)+" × “"+li.Name+"”")
		}
	}
	if f.Shipping {
		req.Shipping = &refundry.ShippingRequest{All: true}
		what = append(what, "the shipping")
	}
	return req, strings.Join(what, ", "), nil
}

// hash is what the form asks, for the idempotency of its confirmation.
func (f refundForm) hash(sale *refundry.Sale, confirmed string) string {
	parts := []string{sale.ID, f.Target, confirmed, f.Reason, f.Description,
		strconv.FormatBool(f.Offsite), strconv.FormatBool(f.Notify), strconv.FormatBool(f.Shipping)}
	for _, li := range sale.LineItems {
		parts = append(parts, strconv.FormatInt(f.Qty[li.ID], 10))
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// parseTarget reads "sale:ID", "line:ID" or "txn:ID" and checks that the
// part is this sale's, returning the target and words for it.
func parseTarget(v string, sale *refundry.Sale) (refundry.RefundTarget, string, bool) {
	kind, id, _ := strings.Cut(v, ":")
	switch kind {
	case "sale":
		if id == sale.ID {
			return refundry.RefundTarget{SaleID: id}, "the whole sale", true
		}
	case "line":
		for _, li := range sale.LineItems {
			if li.ID == id {
				return refundry.RefundTarget{LineItemID: id}, "line item “" + li.Name + "”", true
			}
		}
	case "txn":
		for _, t := range sale.Transactions {
			if t.ID == id {
				return refundry.RefundTarget{TransactionID: id}, "payment #" + strconv.FormatInt(t.Number, 10) + " (" + t.Gateway + ")", true
			}
		}
	}
	return refundry.RefundTarget{}, "", false
}

// parseAmount reads an amount typed in major units, exactly, in the sale's
// currency (invariant 1); "" asks for everything that remains.
func parseAmount(text string, currency string) (*int64, error) {
	if text == "" {
		return nil, nil
	}
	c, err := refundry.LookupCurrency(currency)
	if err != nil {
		return nil, err
	}
	n, err := refundry.ParseMajor(text, c)
	if err != nil {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "amount", "%s", refundry.ErrorMessage(err))
	}
	if n <= 0 {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "amount", "The amount must be above zero.")
	}
	return &n, nil
}

type allocationRow struct {
	Payment string
	Gateway string
	Amount  int64
}

// reviewLine is what a refund returns of one line, as the store will
// record it: units asked for, or the line's share of an amount.
type reviewLine struct {
	Name     string
	Quantity int64
	Amount   int64
}

// namedLines names refund lines by their line items, one row per line
// (a refund over several payments may split a line between them).
func namedLines(sale *refundry.Sale, lines []refundry.RefundLine) []reviewLine {
	var out []reviewLine
	at := map[string]int{}
	for _, l := range lines {
		i, ok := at[l.LineItemID]
		if !ok {
			i = len(out)
			at[l.LineItemID] = i
			name := l.LineItemID
			for _, li := range sale.LineItems {
				if li.ID == l.LineItemID {
					name = li.Name
				}
			}
			out = append(out, reviewLine{Name: name})
		}
		out[i].Quantity += l.Quantity
		out[i].Amount += l.Amount
	}
	return out
}

type reviewData struct {
	Sale        *refundry.Sale
	What        string
	Amount      int64
	AmountText  string // major units, sent back on confirmation
	Full        bool
	Form        refundForm
	Allocations []allocationRow
	Lines       []reviewLine
	Token       string // the refund's idempotency token: a double submit refunds once
	// Approval is set when the merchant's policy holds the refund for
	// approval: until when it would wait.
	Approval time.Time
}

// heldRefunds counts the refund requests of the sale page that hold money,
// as the store counts them under the sale's lock for a policy's
// max_refunds_per_sale: for the confirmation page only, so that a refund
// the policy refuses is refused before it is confirmed. The store's count
// decides when the refund is made.
func heldRefunds(rows []refundRow) int {
	groups := map[string]bool{}
	for _, row := range rows {
		if refundry.Holds(row.R.Status) {
			g := row.R.Group
			if g == "" {
				g = row.R.ID
			}
			groups[g] = true
		}
	}
	return len(groups)
}

// decide is the refund the form asks for, decided against sale by the rule
// the store applies when it writes it (refundry.DecideRefund), so that a
// refund that would be refused is refused before anything is asked, and
// the amount shown is the amount the store will take.
func decide(sale *refundry.Sale, req refundry.RefundRequest, now time.Time) (int64, []*refundry.Refund, error) {
	if err := req.Validate(); err != nil {
		return 0, nil, err
	}
	d, err := refundry.DecideRefund(sale, req, now)
	if err != nil {
		return 0, nil, err
	}
	var total int64
	for _, rf := range d.Refunds {
		total += rf.Amount
	}
	return total, d.Refunds, nil
}

// handleRefundReview checks a refund and shows what it will do, amount and
// currency spelled out, for the user to confirm.
func (d *dashboard) handleRefundReview(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.loadSale(r.Context(), s.merchant.ID, r.PathValue("id"))
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	sale := data.Sale
	data.Form, err = readRefundForm(r.PostForm, sale)
	var req refundry.RefundRequest
	var what string
	if err == nil {
		req, what, err = data.Form.request(sale, s.merchant.ID)
	}
	if refundry.ErrorParam(err) == "target" {
		data.Error = refundry.ErrorMessage(err)
		d.renderSale(w, r, s, http.StatusUnprocessableEntity, data)
		return
	}
	var total int64
	var refunds []*refundry.Refund
	if err == nil {
		// The merchant's policy too: a refund it refuses is refused now,
		// and one it holds for approval is said to be on this page.
		req.Policy, err = d.eng.RefundPolicy(r.Context(), s.merchant.ID)
	}
	if err == nil {
		sale.HeldRefunds = heldRefunds(data.Refunds)
		total, refunds, err = decide(sale, req, d.eng.Now())
	}
	if err == nil {
		// The reason is checked now too, so that the confirmation never
		// offers what the refund would be refused for.
		if refundry.CheckReason(data.Reasons, "reason", data.Form.Reason) != nil {
			err = refundry.ParamErrorf(refundry.EINVALID, "reason", "Choose one of the reasons listed; write anything more in the description.")
		}
	}
	if err != nil {
		d.refuse(w, r, s, data, err)
		return
	}
	rv := reviewData{Sale: sale, What: what, Amount: total, Full: req.Amount == nil && !data.Form.itemized(), Form: data.Form, Token: randomToken()}
	if len(refunds) > 0 && refunds[0].Status == refundry.RefundRequiresApproval {
		rv.Approval = refunds[0].ApprovalExpires
	}
	var lines []refundry.RefundLine
	for _, rf := range refunds {
		payment := rf.TransactionID
		for _, t := range sale.Transactions {
			if t.ID == rf.TransactionID {
				payment = "#" + strconv.FormatInt(t.Number, 10)
			}
		}
		rv.Allocations = append(rv.Allocations, allocationRow{payment, rf.Gateway, rf.Amount})
		lines = append(lines, rf.Lines...)
	}
	rv.Lines = namedLines(sale, lines)
	rv.AmountText = formatMajor(rv.Amount, sale.Currency)
	p := page{Title: "Confirm refund", Nav: "sales", Data: rv}
	p.fill(r, s)
	d.render(w, r, http.StatusOK, "review", p)
}

// refuse shows the sale page again with the form as typed and the reason
// the refund was refused (the over-refund guard's ETOOLARGE or EREFUNDED
// among them). Faults of ours go to the internal error page.
func (d *dashboard) refuse(w http.ResponseWriter, r *http.Request, s *session, data *saleData, err error) {
	status, ok := domainStatus(err)
	if !ok {
		d.renderInternal(w, r, s, err)
		return
	}
	switch refundry.ErrorCode(err) {
	case refundry.ETOOLARGE, refundry.EREFUNDED, refundry.ECHARGEDISPUTED, refundry.EWINDOW, refundry.ETOOMANY:
		data.Error = "Refund refused: " + refundry.ErrorMessage(err)
	default:
		data.Error = refundry.ErrorMessage(err)
	}
	for i := range data.Lines {
		if n := data.Form.Qty[data.Lines[i].Item.ID]; n > 0 {
			data.Lines[i].Qty = strconv.FormatInt(n, 10)
		}
	}
	d.renderSale(w, r, s, status, data)
}

// handleRefundConfirm makes the refund the user confirmed, through the
// engine, for the amount stated on the confirmation page: if less
// remains by now, the store's guard refuses it rather than refunding a
// different amount than the one confirmed. A refund by units refunds the
// units confirmed, which the store's guard refuses alike if they no
// longer remain.
func (d *dashboard) handleRefundConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.loadSale(r.Context(), s.merchant.ID, r.PathValue("id"))
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	sale := data.Sale
	data.Form, err = readRefundForm(r.PostForm, sale)
	token := r.PostForm.Get("token")
	// The amount confirmed is the amount asked (never "all that remains",
	// which may be more by now), or, for units, what they came to.
	confirmed := data.Form.Amount
	if data.Form.itemized() {
		data.Form.Amount = ""
	}
	if err != nil || token == "" || len(token) > 64 || confirmed == "" {
		data.Error = "The confirmation was incomplete; nothing was refunded. Fill in the refund form again."
		d.renderSale(w, r, s, http.StatusBadRequest, data)
		return
	}
	req, _, err := data.Form.request(sale, s.merchant.ID)
	if err != nil {
		d.refuse(w, r, s, data, err)
		return
	}
	// The token was made for this one confirmation page, so pressing
	// Confirm twice, or resending the form, refunds once (invariant 4).
	req.Idempotency = &refundry.Idempotency{Key: "dashboard_" + token, Hash: data.Form.hash(sale, confirmed)}
	res, err := d.eng.Refund(r.Context(), req)
	if err != nil {
		// The figures shown must be the current ones, beside the refusal.
		if fresh, lerr := d.loadSale(r.Context(), s.merchant.ID, sale.ID); lerr == nil {
			fresh.Form = data.Form
			data = fresh
		}
		d.refuse(w, r, s, data, err)
		return
	}
	d.logger.InfoContext(r.Context(), "dashboard refund", "merchant", s.merchant.ID, "sale", sale.ID,
		"group", res.Refunds[0].Group, "amount", confirmed, "currency", sale.Currency, "replayed", res.Replayed)
	http.Redirect(w, r, saleURL(sale.ID)+"?done="+url.QueryEscape(res.Refunds[0].Group)+"#refunds", http.StatusSeeOther)
}

type cancelData struct {
	Refund *refundry.Refund
	Sale   *refundry.Sale
	Error  string
}

// handleCancelForm is the confirmation step before a cancel: a page that
// names the refund and its amount, with the button that posts the cancel.
// It is a page of its own, not a script's dialog, so it works without
// JavaScript, which the dashboard never runs.
func (d *dashboard) handleCancelForm(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if !refundry.ValidID(id) {
		d.renderError(w, r, s, http.StatusNotFound, "No such refund.")
		return
	}
	ref, err := d.eng.FindRefund(r.Context(), s.merchant.ID, id)
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	sale, err := d.eng.FindSale(r.Context(), s.merchant.ID, refundry.SaleLookup{ID: ref.SaleID})
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	data, status := cancelData{Refund: ref, Sale: sale}, http.StatusOK
	switch {
	case !s.canRefund:
		data.Error, status = readOnlyMessage(s), http.StatusForbidden
	case refundry.CanCancel(ref.Status, refundry.ByPerson) != nil:
		data.Error, status = "This refund is "+statusLabel(ref.Status)+": only a pending refund, or one awaiting approval, can be canceled.", http.StatusConflict
	}
	p := page{Title: "Cancel refund", Nav: "sales", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "cancel", p)
}

func (d *dashboard) handleCancel(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if !refundry.ValidID(id) {
		d.renderError(w, r, s, http.StatusNotFound, "No such refund.")
		return
	}
	ref, err := d.eng.Cancel(r.Context(), s.merchant.ID, id)
	if err != nil {
		if refundry.ErrorCode(err) == refundry.ENOTFOUND {
			d.renderDomainError(w, r, s, err)
			return
		}
		found, ferr := d.eng.FindRefund(r.Context(), s.merchant.ID, id)
		if ferr != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
		data, lerr := d.loadSale(r.Context(), s.merchant.ID, found.SaleID)
		if lerr != nil {
			d.renderDomainError(w, r, s, lerr)
			return
		}
		d.refuse(w, r, s, data, err)
		return
	}
	http.Redirect(w, r, saleURL(ref.SaleID)+"?canceled="+url.QueryEscape(ref.ID)+"#refund-"+ref.ID, http.StatusSeeOther)
}

// handleRefund shows a refund where it belongs: on its sale's page.
func (d *dashboard) handleRefund(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if !refundry.ValidID(id) {
		d.renderError(w, r, s, http.StatusNotFound, "No such refund.")
		return
	}
	ref, err := d.eng.FindRefund(r.Context(), s.merchant.ID, id)
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	http.Redirect(w, r, saleURL(ref.SaleID)+"#refund-"+ref.ID, http.StatusSeeOther)
}

// overRefundedBy is how much more than was paid the sale's refunds
// returned: only a refund made at the gateway, adopted, can put it above
// zero (invariant 2 keeps every refund Refundry makes within the caps).
func overRefundedBy(s *refundry.Sale) int64 {
	if !s.OverRefunded() {
		return 0
	}
	return s.RefundedAmount - s.Amount
}
