package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

var _ refundry.BatchStore = (*Store)(nil)

const resourceBatch = "refund_batch"

var batchRowInserts = newMultiInsert(`INSERT INTO refund_batch_rows (batch_id, row_num, target, amount, reason, status, updated)`, 7)

// CreateRefundBatch stores the batch and its rows in one transaction: the
// batch is all there or not at all.
func (s *Store) CreateRefundBatch(ctx context.Context, b *refundry.RefundBatch, rows []*refundry.BatchRow, idem *refundry.Idempotency) (replayed bool, err error) {
	if err := refundry.ValidateBatchRows(rows); err != nil {
		return false, err
	}
	var stored *refundry.RefundBatch
	err = s.updateKeeping(ctx, func(tx *tx) error {
		ids, err := seenKey(ctx, tx, b.MerchantID, idem, resourceBatch)
		if err != nil {
			return err
		}
		if len(ids) == 1 {
			replayed = true
			stored, err = findBatch(ctx, tx, b.MerchantID, ids[0])
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refund_batches (id, merchant_id, status, total, pending, created, updated, requested_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.MerchantID, refundry.BatchProcessing, len(rows), len(rows), micros(tx.now), micros(tx.now), b.RequestedBy); err != nil {
			return err
		}
		// Up to 64 rows a statement: a batch of 200,000 rows is written
		// by the single writer before any of it can be worked.
		err = insertChunks(ctx, tx, batchRowInserts, len(rows), func(args []any, i int) []any {
			r := rows[i]
			var amount sql.NullInt64
			if r.Amount != nil {
				amount = sql.NullInt64{Int64: *r.Amount, Valid: true}
			}
			return append(args, b.ID, r.Row, r.Target, amount, r.Reason, refundry.BatchRowPending, micros(tx.now))
		})
		if err != nil {
			return err
		}
		if err := recordKey(ctx, tx, b.MerchantID, idem, resourceBatch, []string{b.ID}, nil); err != nil {
			return err
		}
		if err := audit(ctx, tx, b.MerchantID, refundry.AuditBatchCreate, b.ID); err != nil {
			return err
		}
		stored = &refundry.RefundBatch{ID: b.ID, MerchantID: b.MerchantID, RequestedBy: b.RequestedBy, Status: refundry.BatchProcessing,
			Counts: refundry.BatchCounts{Total: len(rows), Pending: len(rows)}, Created: tx.now, Updated: tx.now}
		return nil
	})
	if err != nil {
		return false, err
	}
	*b = *stored
	return replayed, nil
}

// FindRefundBatch returns ENOTFOUND if the merchant has no such batch.
// It reads one statement, the batch with its kept counts, so no
// transaction; a count of the rows, when one is needed, is one more and
// consistent by itself.
func (s *Store) FindRefundBatch(ctx context.Context, merchantID, id string) (b *refundry.RefundBatch, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
		b, err = findBatch(ctx, tx, merchantID, id)
		return err
	})
	return b, err
}

// findBatch reads the counts the batch keeps, and counts its rows only
// when those cannot be answered (refundry.BatchCounts.Kept).
func findBatch(ctx context.Context, tx *tx, merchantID, id string) (*refundry.RefundBatch, error) {
	b := &refundry.RefundBatch{ID: id, MerchantID: merchantID}
	c := &b.Counts
	var created, updated int64
	var unfinished bool
	err := tx.QueryRowContext(ctx, `SELECT status, total, pending, processing, succeeded, failed, created, updated, requested_by,
		EXISTS (SELECT 1 FROM refund_batch_rows r WHERE r.status IN ('pending', 'processing') AND r.batch_id = ?)
		FROM refund_batches WHERE merchant_id = ? AND id = ?`, id, merchantID, id).Scan(
		&b.Status, &c.Total, &c.Pending, &c.Processing, &c.Succeeded, &c.Failed, &created, &updated, &b.RequestedBy, &unfinished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("refund batch", id)
	} else if err != nil {
		return nil, err
	}
	b.Created, b.Updated = fromMicros(created), fromMicros(updated)
	if !c.Kept(unfinished) {
		if *c, err = countBatchRows(ctx, tx, id, c.Total); err != nil {
			return nil, err
		}
	}
	b.Status = c.Status()
	return b, nil
}

// countBatchRows counts a batch's rows by status, as every read did
// before the counts were kept.
func countBatchRows(ctx context.Context, tx *tx, id string, total int) (refundry.BatchCounts, error) {
	c := refundry.BatchCounts{Total: total}
	rows, err := tx.QueryContext(ctx, `SELECT status, COUNT(*) FROM refund_batch_rows WHERE batch_id = ? GROUP BY status`, id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return c, err
		}
		c.Add(st, n)
	}
	return c, rows.Err()
}

// keepCounts adds to each batch's kept counts the change its rows' moves
// made, one UPDATE a batch, in the transaction that moved them.
func keepCounts(ctx context.Context, tx *tx, moved map[string]*refundry.BatchCounts) error {
	for _, id := range slices.Sorted(maps.Keys(moved)) {
		d := moved[id]
		if d.Zero() {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refund_batches SET pending = pending + ?, processing = processing + ?,
			succeeded = succeeded + ?, failed = failed + ? WHERE id = ?`, d.Pending, d.Processing, d.Succeeded, d.Failed, id); err != nil {
			return err
		}
	}
	return nil
}

const batchRowColumns = `SELECT r.batch_id, b.merchant_id, r.row_num, r.target, r.amount, r.reason, r.status, r.refund_id,
	r.refund_status, r.error, r.attempts, r.lease_until, r.updated, b.requested_by FROM refund_batch_rows r JOIN refund_batches b ON b.id = r.batch_id `

func queryBatchRows(ctx context.Context, tx *tx, q string, args ...any) ([]*refundry.BatchRow, error) {
	rows, err := tx.QueryContext(ctx, batchRowColumns+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.BatchRow
	for rows.Next() {
		r := &refundry.BatchRow{}
		var amount sql.NullInt64
		var lease, updated int64
		if err := rows.Scan(&r.BatchID, &r.MerchantID, &r.Row, &r.Target, &amount, &r.Reason, &r.Status, &r.RefundID,
			&r.RefundStat, &r.Error, &r.Attempts, &lease, &updated, &r.RequestedBy); err != nil {
			return nil, err
		}
		if amount.Valid {
			r.Amount = &amount.Int64
		}
		if lease != 0 {
			r.LeaseUntil = fromMicros(lease)
		}
		r.Updated = fromMicros(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ListBatchRows returns up to limit rows numbered above afterRow.
func (s *Store) ListBatchRows(ctx context.Context, merchantID, batchID string, afterRow, limit int) (out []*refundry.BatchRow, err error) {
	err = s.view(ctx, func(tx *tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM refund_batches WHERE merchant_id = ? AND id = ?`, merchantID, batchID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("refund batch", batchID)
		}
		out, err = queryBatchRows(ctx, tx, `WHERE r.batch_id = ? AND r.row_num > ? ORDER BY r.row_num LIMIT ?`, batchID, afterRow, limit)
		return err
	})
	return out, err
}

// ClaimBatchRows leases rows to the caller. SQLite has one writer, so a
// claim never races another; the lease is what hands a dead worker's rows
// to the next one.
func (s *Store) ClaimBatchRows(ctx context.Context, lease time.Duration, limit int) (out []*refundry.BatchRow, err error) {
	err = s.updateKeeping(ctx, func(tx *tx) error {
		out = nil
		expired, err := queryBatchRows(ctx, tx, `WHERE r.status = 'processing' AND r.lease_until < ? ORDER BY r.batch_id, r.row_num LIMIT ?`,
			micros(tx.now), limit)
		if err != nil {
			return err
		}
		pending, err := queryBatchRows(ctx, tx, `WHERE r.status = 'pending' ORDER BY r.batch_id, r.row_num LIMIT ?`, limit-len(expired))
		if err != nil {
			return err
		}
		claimed := append(expired, pending...)
		// An expired row stays processing; a pending one moves.
		moved := map[string]*refundry.BatchCounts{}
		for _, r := range pending {
			countMove(moved, r.BatchID, refundry.BatchRowPending, refundry.BatchRowProcessing)
		}
		if err := keepCounts(ctx, tx, moved); err != nil {
			return err
		}
		until := utc(tx.now.Add(lease))
		if err := leaseRuns(ctx, tx, expired, `status = 'processing' AND lease_until < ?`, until, micros(tx.now)); err != nil {
			return err
		}
		if err := leaseRuns(ctx, tx, pending, `status = 'pending'`, until); err != nil {
			return err
		}
		for _, r := range claimed {
			r.Status, r.LeaseUntil, r.Updated = refundry.BatchRowProcessing, until, tx.now
			r.Attempts++
		}
		out = claimed
		return nil
	})
	return out, err
}

// leaseRuns leases rows, read under the write lock in (batch, row)
// order by a query whose condition is cond, one UPDATE for each batch's
// run of them instead of one a row. The rows are the first that cond
// matches in that order, so within one batch those numbered from the
// run's first to its last are exactly the rows read: the UPDATE
// re-checks cond and must lease as many rows as were read.
func leaseRuns(ctx context.Context, tx *tx, rows []*refundry.BatchRow, cond string, until time.Time, condArgs ...any) error {
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].BatchID == rows[i].BatchID {
			j++
		}
		args := append([]any{micros(until), micros(tx.now), rows[i].BatchID, rows[i].Row, rows[j-1].Row}, condArgs...)
		res, err := tx.ExecContext(ctx, `UPDATE refund_batch_rows SET status = 'processing', lease_until = ?, attempts = attempts + 1, updated = ?
			WHERE batch_id = ? AND row_num BETWEEN ? AND ? AND `+cond, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != int64(j-i) {
			return refundry.Errorf(refundry.EINTERNAL, "A claim of %d rows of batch %s leased %d.", j-i, rows[i].BatchID, n)
		}
		i = j
	}
	return nil
}

// FinishBatchRows records outcomes, keeps the counts and completes the
// batches left with nothing to do, in one transaction (one fsync for a
// whole chunk of rows).
//
// A row is finished from processing, its claim's status; the update says
// so, and finishes up to 64 rows in one statement (finishRows), so that
// the common row costs a share of one. A row it finds in another status
// (finished already by a worker whose lease ran out before this one
// claimed it again) is read and then overwritten, as before the counts
// were kept, with its counts moved from what it was.
func (s *Store) FinishBatchRows(ctx context.Context, rows []*refundry.BatchRow) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		done, err := finishRows(ctx, tx, rows)
		if err != nil {
			return err
		}
		moved := map[string]*refundry.BatchCounts{}
		for _, r := range rows {
			from := refundry.BatchRowProcessing
			if !done[rowKey{r.BatchID, r.Row}] {
				if from, err = refinishRow(ctx, tx, r); err != nil {
					return err
				}
			}
			if from != "" {
				countMove(moved, r.BatchID, from, r.Status)
			}
		}
		if err := keepCounts(ctx, tx, moved); err != nil {
			return err
		}
		for _, id := range slices.Sorted(maps.Keys(moved)) {
			if _, err := tx.ExecContext(ctx, `UPDATE refund_batches SET status = 'completed', updated = ? WHERE id = ? AND status = 'processing'
				AND NOT EXISTS (SELECT 1 FROM refund_batch_rows WHERE batch_id = ? AND status IN ('pending', 'processing'))`,
				micros(tx.now), id, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// rowKey names one batch row.
type rowKey struct {
	batch string
	row   int
}

// finishUpdates are the texts of finishRows, one per chunk size: each
// sets the outcomes of that many rows that are still processing, and
// returns the rows it set. The unary + keeps the status test off the
// (status, ...) index: with it, SQLite walks every processing row of
// every batch and scans the VALUES for each; without it, each row of the
// VALUES is one primary-key lookup.
var finishUpdates = func() map[int]string {
	m := map[int]string{}
	for _, n := range chunkSizes {
		m[n] = `UPDATE refund_batch_rows AS r SET status = v.column3, refund_id = v.column4, refund_status = v.column5, error = v.column6,
			lease_until = 0, updated = ? FROM (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ") + `) AS v
			WHERE r.batch_id = v.column1 AND r.row_num = v.column2 AND +r.status = 'processing' RETURNING batch_id, row_num`
	}
	return m
}()

// finishRows records the outcomes of rows still processing, in
// statements of up to 64 rows, and returns those it recorded.
func finishRows(ctx context.Context, tx *tx, rows []*refundry.BatchRow) (map[rowKey]bool, error) {
	done := make(map[rowKey]bool, len(rows))
	args := make([]any, 0, 1+6*chunkSizes[0])
	for i := 0; i < len(rows); {
		size := chunkSizes[len(chunkSizes)-1]
		for _, c := range chunkSizes {
			if c <= len(rows)-i {
				size = c
				break
			}
		}
		args = append(args[:0], micros(tx.now))
		for _, r := range rows[i : i+size] {
			args = append(args, r.BatchID, r.Row, r.Status, r.RefundID, r.RefundStat, r.Error)
		}
		if err := scanFinished(ctx, tx, finishUpdates[size], args, done); err != nil {
			return nil, err
		}
		i += size
	}
	return done, nil
}

func scanFinished(ctx context.Context, tx *tx, text string, args []any, done map[rowKey]bool) error {
	res, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		var k rowKey
		if err := res.Scan(&k.batch, &k.row); err != nil {
			return err
		}
		done[k] = true
	}
	return res.Err()
}

// refinishRow records the outcome of a row that is not processing and
// returns the status it had; "" if there is no such row, which moves no
// count.
func refinishRow(ctx context.Context, tx *tx, r *refundry.BatchRow) (from string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT status FROM refund_batch_rows WHERE batch_id = ? AND row_num = ?`, r.BatchID, r.Row).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	_, err = tx.ExecContext(ctx, `UPDATE refund_batch_rows SET status = ?, refund_id = ?, refund_status = ?, error = ?, lease_until = 0, updated = ?
		WHERE batch_id = ? AND row_num = ?`, r.Status, r.RefundID, r.RefundStat, r.Error, micros(tx.now), r.BatchID, r.Row)
	return from, err
}

// countMove counts one row of batch id moving from one status to another.
func countMove(moved map[string]*refundry.BatchCounts, id, from, to string) {
	d := moved[id]
	if d == nil {
		d = &refundry.BatchCounts{}
		moved[id] = d
	}
	d.Move(from, to)
}
