package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// MaxBatchBody bounds a refund batch upload: 200,000 rows of CSV take
// about 8 MB.
const MaxBatchBody = 64 << 20

type batchRowJSON struct {
	Target string      `json:"target"`
	Amount json.Number `json:"amount"`
	Reason string      `json:"reason"`
}

type refundBatchJSON struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Status     string `json:"status"`
	Total      int    `json:"total"`
	Succeeded  int    `json:"succeeded"`
	Failed     int    `json:"failed"`
	Pending    int    `json:"pending"`
	Processing int    `json:"processing"`
	OutcomeURL string `json:"outcome_url"`
	Created    int64  `json:"created"`
	Updated    int64  `json:"updated"`
}

func renderBatch(b *refundry.RefundBatch) refundBatchJSON {
	return refundBatchJSON{ID: b.ID, Object: "refund_batch", Status: b.Status, Total: b.Counts.Total,
		Succeeded: b.Counts.Succeeded, Failed: b.Counts.Failed, Pending: b.Counts.Pending, Processing: b.Counts.Processing,
		OutcomeURL: "/v1/refund_batches/" + b.ID + "/outcome.csv", Created: unix(b.Created), Updated: unix(b.Updated)}
}

// handleCreateRefundBatch takes rows as CSV (Content-Type text/csv, a
// header line naming target, amount, reason) or JSON ({"rows": [...]} or
// a bare array), stores the batch durably and answers 202: serve's batch
// worker refunds the rows in the background.
func handleCreateRefundBatch(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := edge.MerchantFrom(r.Context())
		body, err := edge.ReadBody(w, r, MaxBatchBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		idem, err := edge.Idempotency(r, body)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var rows []*refundry.BatchRow
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/csv" {
			rows, err = refundry.ParseBatchCSV(bytes.NewReader(body))
		} else if t := bytes.TrimSpace(body); len(t) > 0 && t[0] != '{' && t[0] != '[' {
			// Most often a CSV file sent as curl's default
			// application/x-www-form-urlencoded: say which header
			// makes it one.
			err = paramInvalid("", "Request body is not JSON. To upload CSV, send it with the header Content-Type: text/csv (curl -H 'Content-Type: text/csv' --data-binary @refunds.csv).")
		} else {
			rows, err = decodeBatchJSON(body)
		}
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		b, replayed, err := eng.CreateRefundBatch(r.Context(), m.ID, rows, idem)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Location", "/v1/refund_batches/"+b.ID)
		edge.WriteJSON(w, http.StatusAccepted, renderBatch(b))
	})
}

func decodeBatchJSON(body []byte) ([]*refundry.BatchRow, error) {
	var in []batchRowJSON
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		if err := DecodeStrict(body, &in); err != nil {
			return nil, err
		}
	} else {
		var req struct {
			Rows []batchRowJSON `json:"rows"`
		}
		if err := DecodeStrict(body, &req); err != nil {
			return nil, err
		}
		in = req.Rows
	}
	rows := make([]*refundry.BatchRow, 0, len(in))
	for i, j := range in {
		amount, err := edge.Amount(j.Amount, "rows["+strconv.Itoa(i)+"].amount")
		if err != nil {
			return nil, err
		}
		rows = append(rows, &refundry.BatchRow{Target: j.Target, Amount: amount, Reason: j.Reason})
	}
	return rows, nil
}

func handleGetRefundBatch(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "refund batch")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		b, err := eng.FindRefundBatch(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderBatch(b))
	})
}

// handleRefundBatchOutcome streams one line per row, in row order: the
// refund made for it, or why it failed; rows not yet worked show their
// status (pending or processing) with empty refund and error.
func handleRefundBatchOutcome(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "refund batch")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		m := edge.MerchantFrom(r.Context())
		const page = 1000
		rows, err := eng.ListBatchRows(r.Context(), m.ID, id, 0, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`-outcome.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write(OutcomeHeader)
		for len(rows) > 0 {
			for _, row := range rows {
				_ = cw.Write(OutcomeRecord(row.Row, row.Target, row.Status, row.RefundID, row.RefundStat, row.Error))
			}
			cw.Flush()
			if cw.Error() != nil {
				return // the client went away
			}
			if rows, err = eng.ListBatchRows(r.Context(), m.ID, id, rows[len(rows)-1].Row, page); err != nil {
				// The header is sent: all that is left is to log it and
				// cut the answer short.
				logger.ErrorContext(r.Context(), "outcome.csv", "batch", id, "err", err)
				return
			}
		}
	})
}

// OutcomeHeader is the header of an outcome CSV, the API's and the
// command line's alike.
var OutcomeHeader = []string{"row", "target", "status", "refund", "refund_status", "error"}

// OutcomeRecord is one line of an outcome CSV.
func OutcomeRecord(row int, target, status, refundID, refundStatus, errMsg string) []string {
	return []string{strconv.Itoa(row), target, status, refundID, refundStatus, errMsg}
}
