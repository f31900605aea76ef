package refundry

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// RefundCSVColumns are the columns of a refunds export, in order:
//
//	id                 the refund's id
//	created            when it was made, RFC 3339 in UTC
//	sale, transaction  what it refunds
//	amount             minor units (integer)
//	amount_major       the same in major units as decimal text (12.50 USD, 500 JPY, 1.234 KWD)
//	currency           ISO 4217
//	status             pending, succeeded, failed, canceled
//	reason             the reason code, or empty
//	description        free text
//	source             where it was asked for (native, dashboard, bulk, a dialect, gateway)
//	gateway            simulator, stripe, offsite
//	gateway_refund_id  the gateway's id, once it named one
//	fee                minor units the merchant kept
//	lines              what it returns of each line: line_item:quantity:amount, joined by ";"
var RefundCSVColumns = []string{"id", "created", "sale", "transaction", "amount", "amount_major", "currency", "status",
	"reason", "description", "source", "gateway", "gateway_refund_id", "fee", "lines"}

// RefundCSV writes refunds as CSV, one row each, after a header line.
// It holds no refund: the caller feeds it pages as they are read.
type RefundCSV struct {
	w      *csv.Writer
	header bool
	rec    []string
}

// NewRefundCSV returns a writer of refund rows to w.
func NewRefundCSV(w io.Writer) *RefundCSV {
	return &RefundCSV{w: csv.NewWriter(w), rec: make([]string, len(RefundCSVColumns))}
}

// Write writes the header (once) and a row per refund, and flushes them
// to the underlying writer, so that every page is on its way before the
// next is read.
func (c *RefundCSV) Write(refunds []*Refund) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(RefundCSVColumns); err != nil {
			return err
		}
	}
	for _, r := range refunds {
		major := ""
		if cur, err := LookupCurrency(r.Currency); err == nil {
			major = FormatMajor(r.Amount, cur)
		}
		lines := make([]string, len(r.Lines))
		for i, l := range r.Lines {
			lines[i] = l.LineItemID + ":" + strconv.FormatInt(l.Quantity, 10) + ":" + strconv.FormatInt(l.Amount, 10)
		}
		rec := c.rec
		rec[0], rec[1], rec[2], rec[3] = r.ID, r.Created.UTC().Format(time.RFC3339), r.SaleID, r.TransactionID
		rec[4], rec[5], rec[6], rec[7] = strconv.FormatInt(r.Amount, 10), major, r.Currency, r.Status
		rec[8], rec[9], rec[10], rec[11] = r.Reason, CSVText(r.Description), r.Source, r.Gateway
		rec[12], rec[13], rec[14] = r.GatewayRefundID, strconv.FormatInt(r.Fee, 10), strings.Join(lines, ";")
		if err := c.w.Write(rec); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// CSVText makes client text safe to open in a spreadsheet: a cell that
// starts with =, +, -, @, a tab or a carriage return would be read as a
// formula, so it is prefixed with an apostrophe (OWASP's advice for CSV
// injection). Any other text is written as it is.
func CSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
