package web

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/refundry/refundry"
)

const (
	// overviewDays is the span of the overview's charts, today included.
	overviewDays = 30
	// overviewBudget bounds the rows the overview reads per chart, so that
	// a burst of 200,000 refunds cannot make the home page slow; the page
	// says when a chart counts only the newest rows.
	overviewBudget = 5000
	// overviewCurrencies is how many currencies get an amount chart (the
	// busiest ones): amounts in different currencies are never added.
	overviewCurrencies = 3
	pendingShown       = 10
)

type currencyTotal struct {
	Currency string
	Amount   int64
}

type overviewData struct {
	From, To       time.Time // To is exclusive, in UTC days
	RefundCount    int
	Refunded       []currencyTotal
	RefundsCapped  bool
	CountChart     barChart
	AmountCharts   []barChart
	SalesCount     int
	SalesCapped    bool
	Rates          rateChart
	Pending        []refundLine
	PendingMore    bool
	PendingListURL string
	// Gateway truth a person must act on: sales the gateway's refunds
	// put over what was paid, and disputes still open.
	OverRefunded       []*refundry.Sale
	OverRefundedCapped bool
	OpenDisputes       int
	OpenDisputesCapped bool
	Reasons            []reasonRow
}

// reasonRow is one line of the breakdown by reason: how many refunds gave
// it in the span, and what those that moved money returned, per currency.
type reasonRow struct {
	Code    string // "" for refunds that gave none
	Label   string
	Count   int64
	Amounts []currencyTotal // busiest currency first, as the cards
}

func (d *dashboard) handleOverview(w http.ResponseWriter, r *http.Request, s *session) {
	data, err := d.overview(r.Context(), s.merchant.ID)
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	p := page{Title: "Overview", Nav: "overview", Data: data}
	p.fill(r, s)
	d.render(w, r, http.StatusOK, "overview", p)
}

// satAdd adds amounts, stopping at the largest int64 rather than wrapping:
// a chart of absurd totals is drawn full height, never negative.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func (d *dashboard) overview(ctx context.Context, merchantID string) (*overviewData, error) {
	now := d.eng.Now().UTC()
	to := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	from := to.AddDate(0, 0, -overviewDays)
	data := &overviewData{From: from, To: to, PendingListURL: listForm{Status: refundry.RefundPending}.url(basePath+"/refunds", "", "")}

	// Refunds per day: those that move money (pending or succeeded), the
	// same ones invariant 2 counts.
	counts := make([]int64, overviewDays)
	amounts := map[string][]int64{}
	perCurrency := map[string]int{}
	cursor, read := "", 0
	for {
		refunds, more, err := d.eng.ListRefunds(ctx, merchantID, refundry.RefundFilter{CreatedFrom: from, CreatedTo: to,
			Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: cursor}})
		if err != nil {
			return nil, err
		}
		for _, ref := range refunds {
			read++
			cursor = ref.ID
			if !refundry.RefundReserves(ref.Status) {
				continue
			}
			day := int(ref.Created.UTC().Sub(from) / (24 * time.Hour))
			if day < 0 || day >= overviewDays {
				continue
			}
			counts[day]++
			if amounts[ref.Currency] == nil {
				amounts[ref.Currency] = make([]int64, overviewDays)
			}
			amounts[ref.Currency][day] = satAdd(amounts[ref.Currency][day], ref.Amount)
			perCurrency[ref.Currency]++
			data.RefundCount++
		}
		if !more {
			break
		}
		if read >= overviewBudget {
			data.RefundsCapped = true
			break
		}
	}
	dayLabel := func(i int) string { return from.AddDate(0, 0, i).Format("01-02") }
	dayName := func(i int) string { return from.AddDate(0, 0, i).Format("Mon 2 Jan") }
	data.CountChart = dayChart("Refunds per day", counts,
		func(v int64) string { return strconv.FormatInt(v, 10) }, dayLabel,
		func(i int) string {
			return dayName(i) + ": " + strconv.FormatInt(counts[i], 10) + " " + plural(int(counts[i]), "refund", "refunds")
		})

	currencies := make([]string, 0, len(perCurrency))
	for c := range perCurrency {
		currencies = append(currencies, c)
	}
	slices.SortFunc(currencies, func(a, b string) int {
		if perCurrency[a] != perCurrency[b] {
			return perCurrency[b] - perCurrency[a]
		}
		return cmp.Compare(a, b)
	})
	for i, cur := range currencies {
		values := amounts[cur]
		var total int64
		for _, v := range values {
			total = satAdd(total, v)
		}
		data.Refunded = append(data.Refunded, currencyTotal{cur, total})
		if i < overviewCurrencies {
			data.AmountCharts = append(data.AmountCharts, dayChart("Amount refunded per day, "+cur, values,
				func(v int64) string { return formatMoney(v, cur) }, dayLabel,
				func(i int) string { return dayName(i) + ": " + formatMoney(values[i], cur) }))
		}
	}

	// Refund rate by gateway: of the payments of sales made in the span,
	// the share with any refund. A share of counts, because amounts in
	// different currencies cannot be added.
	type tally struct{ payments, refunded int64 }
	byGateway := map[string]*tally{}
	cursor, read = "", 0
scanSales:
	for {
		sales, more, err := d.eng.ListSales(ctx, merchantID, refundry.SaleFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: cursor}})
		if err != nil {
			return nil, err
		}
		for _, sale := range sales {
			read++
			cursor = sale.ID
			// Sales come newest first: the first one before the span
			// ends the scan (a minute's slack, as in listSales).
			if sale.Created.Before(from.Add(-time.Minute)) {
				break scanSales
			}
			if sale.Created.Before(from) || !sale.Created.Before(to) {
				continue
			}
			data.SalesCount++
			for _, t := range sale.Transactions {
				g := byGateway[t.Gateway]
				if g == nil {
					g = &tally{}
					byGateway[t.Gateway] = g
				}
				g.payments++
				if t.RefundedAmount > 0 {
					g.refunded++
				}
			}
		}
		if !more {
			break
		}
		if read >= overviewBudget {
			data.SalesCapped = true
			break
		}
	}
	var rows []rateRow
	for _, g := range gateways {
		if t := byGateway[g]; t != nil {
			rows = append(rows, rateRow{Gateway: g, Payments: t.payments, Refunded: t.refunded})
		}
	}
	data.Rates = newRateChart(rows)

	reasons, err := d.reasonRows(ctx, merchantID, from, to, currencies)
	if err != nil {
		return nil, err
	}
	data.Reasons = reasons

	pending, more, err := d.eng.ListRefunds(ctx, merchantID, refundry.RefundFilter{Status: refundry.RefundPending, Page: refundry.Page{Limit: pendingShown}})
	if err != nil {
		return nil, err
	}
	data.PendingMore = more
	if data.Pending, err = d.refundLines(ctx, merchantID, pending); err != nil {
		return nil, err
	}
	if data.OverRefunded, data.OverRefundedCapped, err = d.overRefundedSales(ctx, merchantID); err != nil {
		return nil, err
	}
	if data.OpenDisputes, data.OpenDisputesCapped, err = d.countOpenDisputes(ctx, merchantID, overviewBudget); err != nil {
		return nil, err
	}
	return data, nil
}

// overRefundedMax bounds the sales the overview checks for an over-refund.
const overRefundedMax = 100

// overRefundedSales finds the merchant's sales that are over-refunded now,
// newest flag first: each was flagged by a sale.over_refunded event, and
// is read again, because a late failure of the adopted refund may have
// brought it back within what was paid.
func (d *dashboard) overRefundedSales(ctx context.Context, merchantID string) ([]*refundry.Sale, bool, error) {
	var out []*refundry.Sale
	seen := map[string]bool{}
	cursor := ""
	for {
		events, more, err := d.eng.ListEvents(ctx, merchantID, refundry.EventFilter{Types: []string{refundry.EventSaleOverRefunded},
			Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: cursor}})
		if err != nil {
			return nil, false, err
		}
		for _, ev := range events {
			cursor = ev.ID
			if seen[ev.ObjectID] {
				continue
			}
			if len(seen) == overRefundedMax {
				return out, true, nil
			}
			seen[ev.ObjectID] = true
			sale, err := d.eng.FindSale(ctx, merchantID, refundry.SaleLookup{ID: ev.ObjectID})
			if refundry.ErrorCode(err) == refundry.ENOTFOUND {
				continue
			} else if err != nil {
				return nil, false, err
			}
			if overRefundedBy(sale) > 0 {
				out = append(out, sale)
			}
		}
		if !more || len(events) == 0 {
			return out, false, nil
		}
	}
}

// reasonRows breaks the span's refunds down by reason, counted by the
// store over the whole span (no budget: it is one grouped query), each
// labeled as the merchant labels it. A code deleted since shows as it is.
func (d *dashboard) reasonRows(ctx context.Context, merchantID string, from, to time.Time, order []string) ([]reasonRow, error) {
	counts, err := d.eng.CountRefundsByReason(ctx, merchantID, from, to)
	if err != nil {
		return nil, err
	}
	reasons, err := d.eng.ListRefundReasons(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	rank := func(cur string) int {
		if i := slices.Index(order, cur); i >= 0 {
			return i
		}
		return len(order)
	}
	rows := make([]reasonRow, 0, len(counts))
	for _, c := range counts {
		row := reasonRow{Code: c.Reason, Label: c.Reason, Count: c.Count}
		switch r := refundry.FindReason(reasons, c.Reason); {
		case c.Reason == "":
			row.Label = "No reason given"
		case r != nil:
			row.Label = r.Label
		}
		for cur, amount := range c.Amounts {
			row.Amounts = append(row.Amounts, currencyTotal{cur, amount})
		}
		slices.SortFunc(row.Amounts, func(a, b currencyTotal) int {
			return cmp.Or(cmp.Compare(rank(a.Currency), rank(b.Currency)), cmp.Compare(a.Currency, b.Currency))
		})
		rows = append(rows, row)
	}
	return rows, nil
}
