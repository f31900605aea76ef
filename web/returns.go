package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/refundry/refundry"
)

// Returns on the sale page: the sale's returns with their lines, fee and
// refunds, a button to receive each one requested, a form to refund each
// one received (with its restocking fee), and a form to request one.

// saleReturnLimit bounds the returns one sale page shows.
const saleReturnLimit = refundry.MaxPageLimit

type returnLineRow struct {
	Name     string
	Quantity int64
}

type returnRow struct {
	R     *refundry.Return
	Lines []returnLineRow
	// Refunded is what its refunds returned in all, fee included.
	Refunded  int64
	Highlight bool
}

// returnableRow is a line the request form offers: its units not yet
// refunded nor claimed by an open return.
type returnableRow struct {
	Item  *refundry.LineItem
	Units int64
	Qty   string
}

// returnsData is the returns part of the sale page.
type returnsData struct {
	List       []returnRow
	More       bool
	Returnable []returnableRow
	// Form is the request form as typed, to fill it again after an error.
	Reason, Description string
	Token               string
	Error               string
	Notice              string
	// Fee is the restocking fee typed for the return FeeFor, after an
	// error.
	Fee, FeeFor string
}

// loadReturns reads the sale's returns and what its lines have left to
// return.
func (d *dashboard) loadReturns(ctx context.Context, merchantID string, sale *refundry.Sale, refunds []refundRow) (returnsData, error) {
	out := returnsData{Token: randomToken(), Reason: "requested_by_customer"}
	list, more, err := d.eng.ListReturns(ctx, merchantID, refundry.ReturnFilter{SaleID: sale.ID, Page: refundry.Page{Limit: saleReturnLimit}})
	if err != nil {
		return out, err
	}
	out.More = more
	names := map[string]string{}
	for _, li := range sale.LineItems {
		names[li.ID] = li.Name
	}
	amounts := map[string]int64{}
	for _, rf := range refunds {
		amounts[rf.R.ID] = rf.R.Amount
	}
	var open []*refundry.Return
	for _, r := range list {
		row := returnRow{R: r}
		for _, l := range r.Lines {
			row.Lines = append(row.Lines, returnLineRow{Name: names[l.LineItemID], Quantity: l.Quantity})
		}
		for _, id := range r.RefundIDs {
			row.Refunded += amounts[id]
		}
		out.List = append(out.List, row)
		if r.Open() {
			open = append(open, r)
		}
	}
	left := refundry.ReturnableQuantities(sale, open)
	for _, li := range sale.LineItems {
		if n := left[li.ID]; n > 0 {
			out.Returnable = append(out.Returnable, returnableRow{Item: li, Units: n})
		}
	}
	return out, nil
}

// handleRequestReturn requests a return of the units the form names.
func (d *dashboard) handleRequestReturn(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.loadSale(r.Context(), s.merchant.ID, r.PathValue("id"))
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	sale, v := data.Sale, r.PostForm
	ret := &refundry.Return{MerchantID: s.merchant.ID, SaleID: sale.ID,
		Reason: strings.TrimSpace(v.Get("reason")), Description: strings.TrimSpace(v.Get("description"))}
	typed := map[string]string{}
	var bad error
	parts := []string{sale.ID, ret.Reason, ret.Description}
	for _, li := range sale.LineItems {
		text := strings.TrimSpace(v.Get("ret-" + li.ID))
		parts = append(parts, text)
		if text == "" || text == "0" {
			continue
		}
		typed[li.ID] = text
		n, err := strconv.ParseInt(text, 10, 64)
		if (err != nil || n < 0) && bad == nil {
			bad = refundry.ParamErrorf(refundry.EINVALID, "ret-"+li.ID, "The quantity of “%s” must be a whole number of units.", li.Name)
		}
		ret.Lines = append(ret.Lines, refundry.ReturnLine{LineItemID: li.ID, Quantity: n})
	}
	if bad == nil && len(ret.Lines) == 0 {
		bad = refundry.ParamErrorf(refundry.EINVALID, "lines", "Enter how many units of which items come back.")
	}
	if bad == nil {
		// The form's token makes a double submit request one return.
		token := v.Get("token")
		var idem *refundry.Idempotency
		if token != "" && len(token) <= 64 {
			sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
			idem = &refundry.Idempotency{Key: "dashboard_return_" + token, Hash: hex.EncodeToString(sum[:])}
		}
		_, bad = d.eng.CreateReturn(r.Context(), ret, idem)
	}
	if bad != nil {
		status, ok := domainStatus(bad)
		if !ok {
			d.renderInternal(w, r, s, bad)
			return
		}
		data.Returns.Error = "Return refused: " + refundry.ErrorMessage(bad)
		data.Returns.Reason, data.Returns.Description = ret.Reason, ret.Description
		for i := range data.Returns.Returnable {
			data.Returns.Returnable[i].Qty = typed[data.Returns.Returnable[i].Item.ID]
		}
		d.renderSale(w, r, s, status, data)
		return
	}
	http.Redirect(w, r, saleURL(sale.ID)+"?return="+url.QueryEscape(ret.ID)+"#return-"+ret.ID, http.StatusSeeOther)
}

// handleReturnStep receives, refunds or cancels a return, then shows its
// sale again; a refusal is shown there, beside the return.
func (d *dashboard) handleReturnStep(step string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := r.PathValue("id")
		if !refundry.ValidID(id) {
			d.renderError(w, r, s, http.StatusNotFound, "No such return.")
			return
		}
		ret, err := d.eng.FindReturn(r.Context(), s.merchant.ID, id)
		if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
		fee := strings.TrimSpace(r.PostForm.Get("restocking_fee"))
		switch step {
		case "receive":
			_, err = d.eng.ReceiveReturn(r.Context(), s.merchant.ID, id)
		case "cancel":
			_, err = d.eng.CancelReturn(r.Context(), s.merchant.ID, id)
		case "refund":
			var n int64
			if n, err = d.restockingFee(r.Context(), s.merchant.ID, ret.SaleID, fee); err == nil {
				_, _, err = d.eng.RefundReturnFrom(r.Context(), refundry.SourceDashboard, s.merchant.ID, id, n)
			}
		}
		if err != nil {
			status, ok := domainStatus(err)
			if !ok {
				d.renderInternal(w, r, s, err)
				return
			}
			data, lerr := d.loadSale(r.Context(), s.merchant.ID, ret.SaleID)
			if lerr != nil {
				d.renderDomainError(w, r, s, lerr)
				return
			}
			data.Returns.Error = "Return " + id + ": " + refundry.ErrorMessage(err)
			data.Returns.Fee, data.Returns.FeeFor = fee, id
			d.renderSale(w, r, s, status, data)
			return
		}
		http.Redirect(w, r, saleURL(ret.SaleID)+"?return="+url.QueryEscape(id)+"#return-"+id, http.StatusSeeOther)
	}
}

// restockingFee reads a fee typed in major units of the sale's currency,
// exactly (invariant 1); empty is none.
func (d *dashboard) restockingFee(ctx context.Context, merchantID, saleID, text string) (int64, error) {
	if text == "" {
		return 0, nil
	}
	sale, err := d.eng.FindSale(ctx, merchantID, refundry.SaleLookup{ID: saleID})
	if err != nil {
		return 0, err
	}
	c, err := refundry.LookupCurrency(sale.Currency)
	if err != nil {
		return 0, err
	}
	n, err := refundry.ParseMajor(text, c)
	if err != nil || n < 0 {
		return 0, refundry.ParamErrorf(refundry.EINVALID, "restocking_fee", "The restocking fee must be an amount in %s, 0 or more, such as %s.", c.Code, formatMajor(150, c.Code))
	}
	return n, nil
}

// notice names what the previous form did to the return id, after its
// redirect, and highlights it.
func (rd *returnsData) notice(id, currency string) {
	for i := range rd.List {
		row := &rd.List[i]
		if row.R.ID != id {
			continue
		}
		row.Highlight = true
		rd.Notice = "Return " + id + ": " + row.R.Status + "."
		if row.R.Status == refundry.ReturnRefunded {
			rd.Notice = "Return " + id + " refunded: " + formatMoney(row.Refunded-row.R.RestockingFee, currency) +
				" to the customer, " + formatMoney(row.R.RestockingFee, currency) + " kept as restocking fee."
		}
	}
}
