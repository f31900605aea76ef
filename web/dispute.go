package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/refundry/refundry"
)

// disputeStatuses are every status a dispute may have, open ones first,
// as the disputes list offers them for filtering.
var disputeStatuses = []string{refundry.DisputeWarningNeedsResponse, refundry.DisputeWarningUnderReview,
	refundry.DisputeNeedsResponse, refundry.DisputeUnderReview, refundry.DisputeWon, refundry.DisputeLost,
	refundry.DisputeWarningClosed, refundry.DisputePrevented}

// disputeOpen reports whether a dispute in this status still refuses
// refunds of its payment (charge_disputed): refunding it as well would
// pay the customer twice.
func disputeOpen(status string) bool { return refundry.DisputeOpen(status) }

// disputeLine is a dispute as the list shows it: with its sale's order
// number, customer and payment number, which a person recognises.
type disputeLine struct {
	*refundry.Dispute
	Order    string
	Customer refundry.Customer
	Payment  int64 // the disputed transaction's number; 0 if not found
}

type disputesData struct {
	Status   string
	Disputes []disputeLine
	Pager    pager
	Error    string
	Statuses []string
}

// handleDisputes lists the merchant's disputes, newest first, filtered by
// status.
func (d *dashboard) handleDisputes(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := listForm{Status: q.Get("status"), after: q.Get("after"), before: q.Get("before")}
	data := disputesData{Status: f.Status, Statuses: disputeStatuses}
	status := http.StatusOK
	switch {
	case f.Status != "" && !slices.Contains(disputeStatuses, f.Status):
		data.Error, status = "Unknown status "+strconv.Quote(f.Status)+".", http.StatusBadRequest
	case (f.after != "" && !refundry.ValidID(f.after)) || (f.before != "" && !refundry.ValidID(f.before)):
		data.Error, status = "The page link is malformed; start again from the first page.", http.StatusBadRequest
	default:
		m := s.merchant.ID
		disputes, pg, err := storePage(f, basePath+"/disputes", func(dp *refundry.Dispute) string { return dp.ID },
			func(p refundry.Page) ([]*refundry.Dispute, bool, error) {
				return d.eng.ListDisputes(r.Context(), m, refundry.DisputeFilter{Page: p, Status: f.Status})
			})
		if err == nil {
			data.Disputes, err = d.disputeLines(r.Context(), m, disputes)
		}
		if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
		data.Pager = pg
	}
	p := page{Title: "Disputes", Nav: "disputes", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "disputes", p)
}

// disputeLines reads the sales of disputes, each once.
func (d *dashboard) disputeLines(ctx context.Context, merchantID string, disputes []*refundry.Dispute) ([]disputeLine, error) {
	sales := map[string]*refundry.Sale{}
	lines := make([]disputeLine, 0, len(disputes))
	for _, dp := range disputes {
		sale, seen := sales[dp.SaleID]
		if !seen {
			var err error
			sale, err = d.eng.FindSale(ctx, merchantID, refundry.SaleLookup{ID: dp.SaleID})
			if err != nil {
				return nil, err
			}
			sales[dp.SaleID] = sale
		}
		line := disputeLine{Dispute: dp, Order: sale.Reference, Customer: sale.Customer}
		if line.Order == "" {
			line.Order = sale.ID
		}
		for _, t := range sale.Transactions {
			if t.ID == dp.TransactionID {
				line.Payment = t.Number
			}
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// handleDispute shows a dispute where it belongs: on its sale's page.
func (d *dashboard) handleDispute(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if !refundry.ValidID(id) {
		d.renderError(w, r, s, http.StatusNotFound, "No such dispute.")
		return
	}
	dp, err := d.eng.FindDispute(r.Context(), s.merchant.ID, id)
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	http.Redirect(w, r, saleURL(dp.SaleID)+"#dispute-"+url.PathEscape(dp.ID), http.StatusSeeOther)
}

// countOpenDisputes counts the merchant's open disputes, reading at most
// budget of them; capped says there may be more.
func (d *dashboard) countOpenDisputes(ctx context.Context, merchantID string, budget int) (n int, capped bool, err error) {
	for _, st := range refundry.OpenDisputeStatuses() {
		cursor := ""
		for {
			page, more, err := d.eng.ListDisputes(ctx, merchantID, refundry.DisputeFilter{Status: st,
				Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: cursor}})
			if err != nil {
				return 0, false, err
			}
			n += len(page)
			if !more || len(page) == 0 {
				break
			}
			if n >= budget {
				return n, true, nil
			}
			cursor = page[len(page)-1].ID
		}
	}
	return n, false, nil
}
