package refundry

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Batch row statuses. A row is pending until a worker claims it, then
// processing under a lease; a worker that dies leaves the lease to run out
// and the row is claimed again. It ends succeeded (a refund was made,
// pending or succeeded at its gateway) or failed (refused, or declined).
const (
	BatchRowPending    = "pending"
	BatchRowProcessing = "processing"
	BatchRowSucceeded  = "succeeded"
	BatchRowFailed     = "failed"
)

// Batch statuses: processing while any row is pending or processing.
const (
	BatchProcessing = "processing"
	BatchCompleted  = "completed"
)

// MaxBatchRows bounds one batch: an event of 200,000 tickets fits, with
// room to spare.
const MaxBatchRows = 500_000

// RefundBatch is a bulk refund: many rows, each asking for one refund,
// worked through in the background by serve's batch worker.
type RefundBatch struct {
	ID         string
	MerchantID string
	// RequestedBy is who made the batch (Actor.Who): the requester of
	// every refund its rows make, so that none of them is approved by
	// its own uploader. Empty for batches made before it was kept.
	RequestedBy string
	Status      string
	Counts      BatchCounts
	Created     time.Time
	Updated     time.Time
}

// BatchCounts counts a batch's rows by status.
type BatchCounts struct {
	Total, Pending, Processing, Succeeded, Failed int
}

// Add counts n rows of a row status; other statuses are not counted.
func (c *BatchCounts) Add(rowStatus string, n int) {
	switch rowStatus {
	case BatchRowPending:
		c.Pending = n
	case BatchRowProcessing:
		c.Processing = n
	case BatchRowSucceeded:
		c.Succeeded = n
	case BatchRowFailed:
		c.Failed = n
	}
}

// Move counts one row moving from one row status to another: the change
// a batch's kept counts take when a store moves the row.
func (c *BatchCounts) Move(from, to string) {
	c.step(from, -1)
	c.step(to, 1)
}

func (c *BatchCounts) step(rowStatus string, n int) {
	switch rowStatus {
	case BatchRowPending:
		c.Pending += n
	case BatchRowProcessing:
		c.Processing += n
	case BatchRowSucceeded:
		c.Succeeded += n
	case BatchRowFailed:
		c.Failed += n
	}
}

// Zero reports whether c counts no row in any status (Total aside): a
// change of kept counts that needs no write.
func (c BatchCounts) Zero() bool {
	return c.Pending == 0 && c.Processing == 0 && c.Succeeded == 0 && c.Failed == 0
}

// Kept reports whether counts kept on a batch can be answered as they
// are, given whether any of its rows is still pending or processing.
// Stores keep the counts in the transaction that moves a row, so they
// agree; they do not when a process on a binary from before the counts
// were kept (a rolling upgrade) made the batch (kept all zero) or moved
// its rows (kept unchanged): the sum is off, a count goes negative, or
// the batch looks unfinished with no row left to work. A store then
// counts the rows instead.
func (c BatchCounts) Kept(unfinishedRows bool) bool {
	if c.Pending < 0 || c.Processing < 0 || c.Succeeded < 0 || c.Failed < 0 {
		return false
	}
	if c.Pending+c.Processing+c.Succeeded+c.Failed != c.Total {
		return false
	}
	return (c.Pending+c.Processing > 0) == unfinishedRows
}

// Status is the batch's status as its row counts make it. Stores derive it
// rather than trust a stored marker, which two workers finishing a
// batch's last rows at once can both miss setting.
func (c BatchCounts) Status() string {
	if c.Pending+c.Processing == 0 {
		return BatchCompleted
	}
	return BatchProcessing
}

// BatchRow is one refund a batch asks for. Target names what to refund:
// a sale, line item or transaction id, or a sale's or payment's reference.
type BatchRow struct {
	BatchID    string
	MerchantID string
	Row        int    // 1-based, in the order given
	Target     string // as given; resolved when the row is worked
	Amount     *int64 // minor units; nil refunds all that remains
	Reason     string
	// RequestedBy is the batch's (RefundBatch.RequestedBy).
	RequestedBy string
	Status      string
	RefundID    string // the first refund made, if any
	RefundStat  string // that refund's status when the row was finished
	Error       string // why the row failed
	Attempts    int    // claims so far
	LeaseUntil  time.Time
	Updated     time.Time
}

// IdempotencyKey is the key the row's refund is made with: a worker that
// dies after the refund and before recording it makes the same request
// again and gets the first answer back, never a second refund.
func (r *BatchRow) IdempotencyKey() string {
	return fmt.Sprintf("refund_batch:%s:%d", r.BatchID, r.Row)
}

// Validate returns EINVALID, naming rows[i].field, for a row that can never
// be worked.
func (r *BatchRow) Validate(i int) error {
	param := fmt.Sprintf("rows[%d]", i)
	if strings.TrimSpace(r.Target) == "" {
		return ParamErrorf(EINVALID, param+".target", "Row %d: target is required (a sale, line item or transaction id, or a sale or payment reference).", r.Row)
	}
	if err := checkTexts(500, param+".target", r.Target, param+".reason", r.Reason); err != nil {
		return err
	}
	if r.Amount != nil && (*r.Amount <= 0 || *r.Amount > maxAmount) {
		return ParamErrorf(EINVALID, param+".amount", "Row %d: amount must be a positive whole number of minor units.", r.Row)
	}
	return nil
}

// ValidateBatchRows numbers rows from 1 and checks them all; a batch is
// taken whole or not at all.
func ValidateBatchRows(rows []*BatchRow) error {
	if len(rows) == 0 {
		return ParamErrorf(EINVALID, "rows", "A batch needs at least one row.")
	}
	if len(rows) > MaxBatchRows {
		return ParamErrorf(EINVALID, "rows", "A batch holds at most %d rows; this one has %d.", MaxBatchRows, len(rows))
	}
	for i, r := range rows {
		r.Row = i + 1
		if err := r.Validate(i); err != nil {
			return err
		}
	}
	return nil
}

// ParseBatchCSV reads refund rows from CSV with a header line naming the
// columns: target (required), amount (minor units, empty for all that
// remains) and reason, in any order; other columns are refused.
func ParseBatchCSV(r io.Reader) ([]*BatchRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, ParamErrorf(EINVALID, "csv", "The CSV is empty; it needs a header line: target,amount,reason.")
	}
	if err != nil {
		return nil, ParamErrorf(EINVALID, "csv", "The CSV cannot be read: %v", err)
	}
	col := map[string]int{"target": -1, "amount": -1, "reason": -1}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, ok := col[h]; !ok {
			return nil, ParamErrorf(EINVALID, "csv", "Unknown CSV column %q; the columns are target, amount and reason.", h)
		}
		col[h] = i
	}
	if col["target"] < 0 {
		return nil, ParamErrorf(EINVALID, "csv", "The CSV header must name a target column.")
	}
	field := func(rec []string, name string) string {
		if i := col[name]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []*BatchRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, ParamErrorf(EINVALID, "csv", "The CSV cannot be read: %v", err)
		}
		if len(rows) >= MaxBatchRows {
			return nil, ParamErrorf(EINVALID, "csv", "A batch holds at most %d rows.", MaxBatchRows)
		}
		row := &BatchRow{Row: len(rows) + 1, Target: field(rec, "target"), Reason: field(rec, "reason")}
		if a := field(rec, "amount"); a != "" {
			n, err := ParseMinor(a)
			if err != nil {
				return nil, ParamErrorf(EINVALID, fmt.Sprintf("rows[%d].amount", len(rows)), "Row %d: %s", row.Row, ErrorMessage(err))
			}
			row.Amount = &n
		}
		rows = append(rows, row)
	}
	return rows, ValidateBatchRows(rows)
}

// BatchStore keeps refund batches and their rows durably, so a batch
// survives kill -9 of the server that works it. Implemented by
// store/sqlite and store/postgres; both pass storetest.RunBatches.
type BatchStore interface {
	// CreateRefundBatch stores b with its validated rows, all pending, in
	// one transaction, and sets b's timestamps, status and counts. With
	// idem set and the key already used with the same hash, it fills b
	// with the stored batch and reports replayed. Returns EIDEMPOTENCY as
	// Store.CreateSale.
	CreateRefundBatch(ctx context.Context, b *RefundBatch, rows []*BatchRow, idem *Idempotency) (replayed bool, err error)
	// FindRefundBatch returns the batch with its counts.
	// Returns ENOTFOUND if the merchant has no such batch.
	FindRefundBatch(ctx context.Context, merchantID, id string) (*RefundBatch, error)
	// ListBatchRows returns up to limit rows numbered above afterRow, in
	// row order. Returns ENOTFOUND if the merchant has no such batch.
	ListBatchRows(ctx context.Context, merchantID, batchID string, afterRow, limit int) ([]*BatchRow, error)
	// ClaimBatchRows marks up to limit rows processing until now+lease
	// and returns them: rows whose lease ran out first (a worker died),
	// then pending rows, oldest batch first. Two workers may, rarely,
	// claim one row; the row's idempotency key keeps that harmless.
	ClaimBatchRows(ctx context.Context, lease time.Duration, limit int) ([]*BatchRow, error)
	// FinishBatchRows records the outcome of worked rows in one
	// transaction (Status, RefundID, RefundStat, Error), and marks each
	// batch completed once none of its rows is left.
	FinishBatchRows(ctx context.Context, rows []*BatchRow) error
}
