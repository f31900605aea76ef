package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// listSize is how many rows a list page shows.
const listSize = 25

// scanBudget bounds the rows one page may read when it filters rows the
// store cannot filter (a gateway, a sale's date range): past it, the page
// shows what it found and a link that continues from where it stopped.
const scanBudget = 1000

var (
	saleStatuses   = []string{refundry.PaymentPaid, refundry.PaymentPartiallyRefunded, refundry.PaymentRefunded}
	refundStatuses = []string{refundry.RefundPending, refundry.RefundRequiresApproval, refundry.RefundRequiresAction,
		refundry.RefundSucceeded, refundry.RefundFailed, refundry.RefundCanceled}
	gateways = []string{refundry.GatewaySimulator, refundry.GatewayStripe, refundry.GatewayOffsite}
	sources  = []string{refundry.SourceNative, refundry.SourceDashboard, refundry.SourceBulk, refundry.SourceKeepUp,
		refundry.SourceTalkable, refundry.SourceRevCent, refundry.SourcePayop, refundry.SourceJetti, refundry.SourceGateway}
)

// pager holds the links to the neighbouring pages of a list.
type pager struct {
	Newer, Older string
	Note         string
}

// listForm is a list's filters as typed, kept to fill the form again and
// to build the pager's links.
type listForm struct {
	Status, Gateway, Source, Email, From, To string
	Q                                        string // a search: the start of an order number, email or name
	after, before                            string
	from, to                                 time.Time // to is exclusive: the day after To
}

func readListForm(q url.Values, statuses []string, withSource bool) (listForm, string) {
	f := listForm{Status: q.Get("status"), Gateway: q.Get("gateway"), Email: strings.TrimSpace(q.Get("email")),
		Q: strings.TrimSpace(q.Get("q")), From: q.Get("from"), To: q.Get("to"), after: q.Get("after"), before: q.Get("before")}
	if withSource {
		f.Source = q.Get("source")
	}
	switch {
	case f.Status != "" && !slices.Contains(statuses, f.Status):
		return f, "Unknown status " + strconv.Quote(f.Status) + "."
	case f.Gateway != "" && !slices.Contains(gateways, f.Gateway):
		return f, "Unknown gateway " + strconv.Quote(f.Gateway) + "."
	case f.Source != "" && !slices.Contains(sources, f.Source):
		return f, "Unknown source " + strconv.Quote(f.Source) + "."
	case (f.after != "" && !refundry.ValidID(f.after)) || (f.before != "" && !refundry.ValidID(f.before)):
		return f, "The page link is malformed; start again from the first page."
	}
	var err error
	if f.From != "" {
		if f.from, err = time.Parse(time.DateOnly, f.From); err != nil {
			return f, "The start date must be a date such as 2026-03-01."
		}
	}
	if f.To != "" {
		if f.to, err = time.Parse(time.DateOnly, f.To); err != nil {
			return f, "The end date must be a date such as 2026-03-31."
		}
		f.to = f.to.AddDate(0, 0, 1) // the form's end date is inclusive
	}
	if !f.from.IsZero() && !f.to.IsZero() && !f.from.Before(f.to) {
		return f, "The start date must not be after the end date."
	}
	return f, ""
}

// url is this list with the same filters, at the page after or before an id.
func (f listForm) url(path, after, before string) string {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "gateway": f.Gateway, "source": f.Source,
		"email": f.Email, "q": f.Q, "from": f.From, "to": f.To, "after": after, "before": before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// storePage pages straight through the store, both ways.
func storePage[T any](f listForm, path string, id func(T) string, fetch func(refundry.Page) ([]T, bool, error)) ([]T, pager, error) {
	items, more, err := fetch(refundry.Page{Limit: listSize, StartingAfter: f.after, EndingBefore: f.before})
	if err != nil || len(items) == 0 {
		if f.after != "" || f.before != "" {
			return items, pager{Newer: f.url(path, "", "")}, err
		}
		return items, pager{}, err
	}
	var p pager
	if f.after != "" || (f.before != "" && more) {
		p.Newer = f.url(path, "", id(items[0]))
	}
	if f.before != "" || more {
		p.Older = f.url(path, id(items[len(items)-1]), "")
	}
	return items, p, nil
}

// scanPage reads the store newest first from f.after, keeping the rows
// keep accepts, until a page is full, keep says every older row is out of
// range, or scanBudget rows were read. It pages one way only: a filtered
// page's newer neighbour is not known without reading back.
func scanPage[T any](f listForm, path string, id func(T) string, fetch func(refundry.Page) ([]T, bool, error), keep func(T) (ok, stop bool)) ([]T, pager, error) {
	var p pager
	if f.after != "" {
		p.Newer = f.url(path, "", "")
	}
	var items []T
	cursor, read := f.after, 0
	for {
		batch, more, err := fetch(refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: cursor})
		if err != nil {
			return nil, p, err
		}
		for i, it := range batch {
			read++
			ok, stop := keep(it)
			if stop {
				return items, p, nil
			}
			cursor = id(it)
			restAfter := i < len(batch)-1 || more
			if ok {
				items = append(items, it)
				if len(items) == listSize {
					if restAfter {
						p.Older = f.url(path, cursor, "")
					}
					return items, p, nil
				}
			}
			if read >= scanBudget && restAfter {
				p.Older = f.url(path, cursor, "")
				p.Note = "Searched " + strconv.Itoa(read) + " records for this page; older ones may match too."
				return items, p, nil
			}
		}
		if !more {
			return items, p, nil
		}
	}
}

type salesData struct {
	Form     listForm
	Sales    []*refundry.Sale
	Pager    pager
	Error    string
	Statuses []string
	Gateways []string
}

func (d *dashboard) handleSales(w http.ResponseWriter, r *http.Request, s *session) {
	f, problem := readListForm(r.URL.Query(), saleStatuses, false)
	data := salesData{Form: f, Statuses: saleStatuses, Gateways: gateways, Error: problem}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadRequest
	} else {
		var err error
		data.Sales, data.Pager, err = d.listSales(r.Context(), s.merchant.ID, f)
		if refundry.ErrorCode(err) == refundry.EINVALID {
			data.Error, status = refundry.ErrorMessage(err), http.StatusBadRequest
		} else if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
	}
	p := page{Title: "Sales", Nav: "sales", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "sales", p)
}

// listSales filters by status, email and search in the store; the store's sale
// filter has neither dates nor gateways, so those are applied here while
// paging (see scanPage).
func (d *dashboard) listSales(ctx context.Context, merchantID string, f listForm) ([]*refundry.Sale, pager, error) {
	path := basePath + "/sales"
	saleID := func(s *refundry.Sale) string { return s.ID }
	fetch := func(p refundry.Page) ([]*refundry.Sale, bool, error) {
		return d.eng.ListSales(ctx, merchantID, refundry.SaleFilter{Page: p, CustomerEmail: f.Email, Status: f.Status, Search: f.Q})
	}
	if f.Gateway == "" && f.from.IsZero() && f.to.IsZero() {
		return storePage(f, path, saleID, fetch)
	}
	return scanPage(f, path, saleID, fetch, func(s *refundry.Sale) (bool, bool) {
		// Ids order sales by creation to the second, and stores stamp
		// Created in the same moment; a minute's slack makes sure no sale
		// inside the range is left behind by the early stop.
		if !f.from.IsZero() && s.Created.Before(f.from.Add(-time.Minute)) {
			return false, true
		}
		if (!f.from.IsZero() && s.Created.Before(f.from)) || (!f.to.IsZero() && !s.Created.Before(f.to)) {
			return false, false
		}
		if f.Gateway == "" {
			return true, false
		}
		for _, t := range s.Transactions {
			if t.Gateway == f.Gateway {
				return true, false
			}
		}
		return false, false
	})
}

// refundLine is a refund as a list shows it: with its sale's order number
// and customer, which a person recognises, where the sale's id means
// nothing to them.
type refundLine struct {
	*refundry.Refund
	Order    string // the sale's reference, or its id if it has none
	Customer refundry.Customer
}

// refundLines reads the sales of refunds, each once.
func (d *dashboard) refundLines(ctx context.Context, merchantID string, refunds []*refundry.Refund) ([]refundLine, error) {
	sales := map[string]*refundry.Sale{}
	lines := make([]refundLine, 0, len(refunds))
	for _, ref := range refunds {
		sale, seen := sales[ref.SaleID]
		if !seen {
			var err error
			sale, err = d.eng.FindSale(ctx, merchantID, refundry.SaleLookup{ID: ref.SaleID})
			if err != nil {
				return nil, err
			}
			sales[ref.SaleID] = sale
		}
		line := refundLine{Refund: ref, Order: sale.Reference, Customer: sale.Customer}
		if line.Order == "" {
			line.Order = sale.ID
		}
		lines = append(lines, line)
	}
	return lines, nil
}

type refundsData struct {
	Form     listForm
	Refunds  []refundLine
	Pager    pager
	Error    string
	Statuses []string
	Gateways []string
	Sources  []string
}

func (d *dashboard) handleRefunds(w http.ResponseWriter, r *http.Request, s *session) {
	f, problem := readListForm(r.URL.Query(), refundStatuses, true)
	data := refundsData{Form: f, Statuses: refundStatuses, Gateways: gateways, Sources: sources, Error: problem}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadRequest
	} else {
		refunds, pager, err := d.listRefunds(r.Context(), s.merchant.ID, f)
		if err == nil {
			data.Refunds, err = d.refundLines(r.Context(), s.merchant.ID, refunds)
		}
		if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
		data.Pager = pager
	}
	p := page{Title: "Refunds", Nav: "refunds", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "refunds", p)
}

// listRefunds filters by status, source and dates in the store; the
// store's refund filter has no gateway, so that one is applied here.
func (d *dashboard) listRefunds(ctx context.Context, merchantID string, f listForm) ([]*refundry.Refund, pager, error) {
	path := basePath + "/refunds"
	refundID := func(r *refundry.Refund) string { return r.ID }
	fetch := func(p refundry.Page) ([]*refundry.Refund, bool, error) {
		return d.eng.ListRefunds(ctx, merchantID, refundry.RefundFilter{Page: p, Status: f.Status, Source: f.Source,
			CreatedFrom: f.from, CreatedTo: f.to})
	}
	if f.Gateway == "" {
		return storePage(f, path, refundID, fetch)
	}
	return scanPage(f, path, refundID, fetch, func(r *refundry.Refund) (bool, bool) {
		return r.Gateway == f.Gateway, false
	})
}

type searchData struct {
	Query string
	Sales []*refundry.Sale
	More  string // a link to the full list when the matches fill a page
	Error string
}

// handleSearch finds a sale by any identity support staff may be given:
// the sale's id, a refund's, a payment's or a line item's id, the order
// number, a payment reference or a transaction number, exactly; failing
// those, the start of an order number, the customer's email or name, in
// any case (refundry.SaleFilter.Search). One match opens the sale;
// several are listed.
func (d *dashboard) handleSearch(w http.ResponseWriter, r *http.Request, s *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		http.Redirect(w, r, basePath+"/sales", http.StatusSeeOther)
		return
	}
	ctx, m := r.Context(), s.merchant.ID
	// Text no store can compare (not UTF-8, NUL bytes, too long) is
	// refused before any lookup sends it to the database.
	if err := (&refundry.SaleFilter{Search: q}).Normalize(); err != nil {
		p := page{Title: "Search", Data: searchData{Query: q, Error: refundry.ErrorMessage(err)}}
		p.fill(r, s)
		d.render(w, r, http.StatusBadRequest, "search", p)
		return
	}
	var lookups []refundry.SaleLookup
	if refundry.ValidID(q) {
		ref, err := d.eng.FindRefund(ctx, m, q)
		switch refundry.ErrorCode(err) {
		case "":
			http.Redirect(w, r, saleURL(ref.SaleID)+"#refund-"+ref.ID, http.StatusSeeOther)
			return
		case refundry.ENOTFOUND:
		default:
			d.renderDomainError(w, r, s, err)
			return
		}
		lookups = append(lookups, refundry.SaleLookup{ID: q}, refundry.SaleLookup{TransactionID: q}, refundry.SaleLookup{LineItemID: q})
	}
	lookups = append(lookups, refundry.SaleLookup{Reference: q}, refundry.SaleLookup{TransactionReference: q})
	if n, err := strconv.ParseInt(q, 10, 64); err == nil && n > 0 {
		lookups = append(lookups, refundry.SaleLookup{TransactionNumber: n})
	}
	for _, by := range lookups {
		sale, err := d.eng.FindSale(ctx, m, by)
		switch refundry.ErrorCode(err) {
		case "":
			http.Redirect(w, r, saleURL(sale.ID), http.StatusSeeOther)
			return
		case refundry.ENOTFOUND, refundry.EINVALID:
			// Not this kind of identity; try the next.
		default:
			d.renderDomainError(w, r, s, err)
			return
		}
	}
	data := searchData{Query: q}
	status := http.StatusOK
	sales, more, err := d.eng.ListSales(ctx, m, refundry.SaleFilter{Page: refundry.Page{Limit: listSize}, Search: q})
	switch {
	case refundry.ErrorCode(err) == refundry.EINVALID:
		data.Error, status = refundry.ErrorMessage(err), http.StatusBadRequest
	case err != nil:
		d.renderDomainError(w, r, s, err)
		return
	case len(sales) == 1:
		http.Redirect(w, r, saleURL(sales[0].ID), http.StatusSeeOther)
		return
	case len(sales) == 0:
		status = http.StatusNotFound
	}
	data.Sales = sales
	if more {
		data.More = listForm{Q: q}.url(basePath+"/sales", sales[len(sales)-1].ID, "")
	}
	p := page{Title: "Search", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "search", p)
}

func saleURL(id string) string { return basePath + "/sales/" + url.PathEscape(id) }
