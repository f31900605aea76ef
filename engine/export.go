package engine

import (
	"context"
	"io"

	"github.com/refundry/refundry"
)

// ExportRefundsCSV writes the merchant's refunds that f selects to w as
// CSV (refundry.RefundCSVColumns), newest first: the native API's export
// and refundry export refunds both write through it. It reads one page at
// a time and writes each before reading the next, calling flush (if set)
// after each, so an export of any size holds one page in memory and the
// client sees rows as they come. Pages follow the id cursor: a refund
// made during the export is newer than the first page and is not in it,
// and none is written twice. f's paging is ignored.
func (e *Engine) ExportRefundsCSV(ctx context.Context, merchantID string, f refundry.RefundFilter, w io.Writer, flush func()) error {
	f.Page = refundry.Page{Limit: refundry.MaxPageLimit}
	out := refundry.NewRefundCSV(w)
	for {
		refunds, more, err := e.Stores.Refunds.ListRefunds(ctx, merchantID, f)
		if err != nil {
			return err
		}
		if err := out.Write(refunds); err != nil {
			return err
		}
		if flush != nil {
			flush()
		}
		if !more || len(refunds) == 0 {
			return nil
		}
		f.StartingAfter = refunds[len(refunds)-1].ID
	}
}
