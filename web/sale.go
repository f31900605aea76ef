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

	"github.com/refundry/refundry"
)

// Bounds of what one sale page reads: a sale with more refunds than this
// is rare, and the page says when it shows only the newest.
const (
	saleRefundLimit = refundry.MaxPageLimit
	refundEventMax  = 20
)

type lineRow struct {
	Item      *refundry.LineItem
	Remaining int64
}

type txnRow struct {
	T         *refundry.Transaction
	Remaining int64
}

type refundRow struct {
	R         *refundry.Refund
	LineName  string            // the line item it was charged to, if any
	Events    []*refundry.Event // oldest first: a timeline
	Highlight bool
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
}

type saleData struct {
	Sale        *refundry.Sale
	Remaining   int64
	Lines       []lineRow
	Txns        []txnRow
	Refunds     []refundRow
	RefundsMore bool
	Referrals   []*refundry.Referral
	Targets     []targetOption
	Reasons     []*refundry.RefundReason // the merchant's, for the form
	Form        refundForm
	Error       string
	Notice      string
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
	data := &saleData{Sale: sale, Remaining: sale.Refundable()}
	if data.Reasons, err = d.eng.ListRefundReasons(ctx, merchantID); err != nil {
		return nil, err
	}
	data.Targets = append(data.Targets, targetOption{"sale:" + sale.ID, "Whole sale (" + formatMoney(data.Remaining, sale.Currency) + " remains)"})
	for _, li := range sale.LineItems {
		rem := sale.LineRefundable(li)
		data.Lines = append(data.Lines, lineRow{li, rem})
		data.Targets = append(data.Targets, targetOption{"line:" + li.ID,
			"Line item: " + li.Name + " (" + formatMoney(rem, sale.Currency) + " remains)"})
	}
	for _, t := range sale.Transactions {
		rem := t.Refundable()
		data.Txns = append(data.Txns, txnRow{t, rem})
		data.Targets = append(data.Targets, targetOption{"txn:" + t.ID,
			"Payment #" + strconv.FormatInt(t.Number, 10) + " via " + t.Gateway + " (" + formatMoney(rem, sale.Currency) + " remains)"})
	}
	refunds, more, err := d.eng.ListRefunds(ctx, merchantID, refundry.RefundFilter{SaleID: sale.ID, Page: refundry.Page{Limit: saleRefundLimit}})
	if err != nil {
		return nil, err
	}
	data.RefundsMore = more
	for _, ref := range refunds {
		events, _, err := d.eng.ListEvents(ctx, merchantID, refundry.EventFilter{ObjectID: ref.ID, Page: refundry.Page{Limit: refundEventMax}})
		if err != nil {
			return nil, err
		}
		slices.Reverse(events)
		row := refundRow{R: ref, Events: events}
		for _, li := range sale.LineItems {
			if li.ID == ref.LineItemID {
				row.LineName = li.Name
			}
		}
		data.Refunds = append(data.Refunds, row)
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
			done = append(done, "Refund "+row.R.ID+" of "+formatMoney(row.R.Amount, row.R.Currency)+": "+row.R.Status+".")
		}
	}
	if len(done) > 0 {
		data.Notice = strings.Join(done, " ")
	}
	d.renderSale(w, r, s, http.StatusOK, data)
}

func (d *dashboard) renderSale(w http.ResponseWriter, r *http.Request, s *session, status int, data *saleData) {
	title := "Sale " + data.Sale.ID
	if data.Sale.Reference != "" {
		title = "Order " + data.Sale.Reference
	}
	p := page{Title: title, Nav: "sales", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "sale", p)
}

func readRefundForm(v url.Values) refundForm {
	return refundForm{
		Target: v.Get("target"), Amount: strings.TrimSpace(v.Get("amount")), Reason: strings.TrimSpace(v.Get("reason")),
		Description: strings.TrimSpace(v.Get("description")), Offsite: v.Get("offsite") != "", Notify: v.Get("notify") != "",
	}
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

type reviewData struct {
	Sale        *refundry.Sale
	What        string
	Amount      int64
	AmountText  string // major units, sent back on confirmation
	Full        bool
	Form        refundForm
	Allocations []allocationRow
	Token       string // the refund's idempotency token: a double submit refunds once
}

// handleRefundReview checks a refund and shows what it will do, amount and
// currency spelled out, for the user to confirm. It plans the refund with
// the same rule the store applies when it writes it, so a refund that
// would be refused is refused here, before anything is asked.
func (d *dashboard) handleRefundReview(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.loadSale(r.Context(), s.merchant.ID, r.PathValue("id"))
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	sale := data.Sale
	data.Form = readRefundForm(r.PostForm)
	target, what, ok := parseTarget(data.Form.Target, sale)
	if !ok {
		data.Error = "Choose what to refund: the whole sale, a line item or a payment."
		d.renderSale(w, r, s, http.StatusUnprocessableEntity, data)
		return
	}
	amount, err := parseAmount(data.Form.Amount, sale.Currency)
	var plan []refundry.Allocation
	if err == nil {
		plan, err = refundry.PlanRefund(sale, target, amount, data.Form.Offsite)
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
	rv := reviewData{Sale: sale, What: what, Full: amount == nil, Form: data.Form, Token: randomToken()}
	for _, a := range plan {
		rv.Amount += a.Amount
		payment := a.TransactionID
		for _, t := range sale.Transactions {
			if t.ID == a.TransactionID {
				payment = "#" + strconv.FormatInt(t.Number, 10)
			}
		}
		rv.Allocations = append(rv.Allocations, allocationRow{payment, a.Gateway, a.Amount})
	}
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
	case refundry.ETOOLARGE, refundry.EREFUNDED, refundry.ECHARGEDISPUTED:
		data.Error = "Refund refused: " + refundry.ErrorMessage(err)
	default:
		data.Error = refundry.ErrorMessage(err)
	}
	d.renderSale(w, r, s, status, data)
}

// handleRefundConfirm makes the refund the user confirmed, through the
// engine, with the amount stated on the confirmation page: if less
// remains by now, the store's guard refuses it rather than refunding a
// different amount than the one confirmed.
func (d *dashboard) handleRefundConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.loadSale(r.Context(), s.merchant.ID, r.PathValue("id"))
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	sale := data.Sale
	data.Form = readRefundForm(r.PostForm)
	token := r.PostForm.Get("token")
	target, _, ok := parseTarget(data.Form.Target, sale)
	if !ok || token == "" || len(token) > 64 || data.Form.Amount == "" {
		data.Error = "The confirmation was incomplete; nothing was refunded. Fill in the refund form again."
		d.renderSale(w, r, s, http.StatusBadRequest, data)
		return
	}
	amount, err := parseAmount(data.Form.Amount, sale.Currency)
	if err != nil {
		d.refuse(w, r, s, data, err)
		return
	}
	f := data.Form
	sum := sha256.Sum256([]byte(strings.Join([]string{sale.ID, f.Target, strconv.FormatInt(*amount, 10), f.Reason, f.Description,
		strconv.FormatBool(f.Offsite), strconv.FormatBool(f.Notify)}, "\x00")))
	res, err := d.eng.Refund(r.Context(), refundry.RefundRequest{
		MerchantID: s.merchant.ID, Target: target, Amount: amount, Reason: f.Reason, Description: f.Description,
		Offsite: f.Offsite, NotifyCustomer: f.Notify, Source: refundry.SourceDashboard,
		// The token was made for this one confirmation page, so pressing
		// Confirm twice, or resending the form, refunds once (invariant 4).
		Idempotency: &refundry.Idempotency{Key: "dashboard_" + token, Hash: hex.EncodeToString(sum[:])},
	})
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
		"group", res.Refunds[0].Group, "amount", *amount, "currency", sale.Currency, "replayed", res.Replayed)
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
		data.Error, status = readOnlyMessage, http.StatusForbidden
	case ref.Status != refundry.RefundPending:
		data.Error, status = "This refund is "+strings.ReplaceAll(ref.Status, "_", " ")+": only a pending refund can be canceled.", http.StatusConflict
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
