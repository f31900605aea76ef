package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// exportPageWindow is how long the client has to take each page of an
// export: the deadline moves on with every page, so an export of any
// length finishes while a client that stops reading is let go.
const exportPageWindow = time.Minute

// handleExportRefunds streams the refunds GET /v1/refunds would list, all
// of them, as CSV (refundry.RefundCSVColumns), newest first. It takes the
// list's filters; paging is the export's own, so limit, starting_after
// and ending_before are refused. An error before the first row is
// answered as any error is; one after it cuts the connection, so that a
// client never takes a truncated file for a whole one.
func handleExportRefunds(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range []string{"limit", "starting_after", "ending_before"} {
			if r.URL.Query().Has(p) {
				Error(w, r, logger, paramUnknown(p))
				return
			}
		}
		f, err := refundFilter(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		rc := http.NewResponseController(w)
		sw := &startWriter{w: w, start: func() {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="refunds.csv"`)
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
		}}
		flush := func() {
			// Neither is supported by every writer (a test recorder); the
			// server's own writer supports both.
			_ = rc.SetWriteDeadline(time.Now().Add(exportPageWindow))
			_ = rc.Flush()
		}
		err = eng.ExportRefundsCSV(r.Context(), edge.MerchantFrom(r.Context()).ID, f, sw, flush)
		if err == nil {
			return
		}
		if !sw.started {
			Error(w, r, logger, err)
			return
		}
		logger.ErrorContext(r.Context(), "refund export cut short", "err", err)
		panic(http.ErrAbortHandler)
	})
}

// startWriter writes the response's header on the first write, so that
// an error before any row can still be answered with its own status.
type startWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (s *startWriter) Write(b []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(b)
}
