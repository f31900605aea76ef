package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

var _ refundry.BatchStore = (*Store)(nil)

const resourceBatch = "refund_batch"

// CreateRefundBatch stores the batch and its rows in one transaction; the
// rows go in with COPY, which CockroachDB speaks too.
func (s *Store) CreateRefundBatch(ctx context.Context, b *refundry.RefundBatch, rows []*refundry.BatchRow, idem *refundry.Idempotency) (replayed bool, err error) {
	if err := refundry.ValidateBatchRows(rows); err != nil {
		return false, err
	}
	now := s.now()
	var stored *refundry.RefundBatch
	err = s.write(ctx, func(tx pgx.Tx) error {
		replayed = false
		if usesKey(idem) {
			rec, err := claimKey(ctx, tx, b.MerchantID, idem, resourceBatch, []string{b.ID}, now)
			if err != nil {
				return err
			}
			if rec != nil {
				replayed = true
				if len(rec.resourceIDs) != 1 {
					return refundry.Errorf(refundry.EINTERNAL, "idempotency record of batch has %d ids", len(rec.resourceIDs))
				}
				stored, err = findBatch(ctx, tx, b.MerchantID, rec.resourceIDs[0])
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO refund_batches (id, merchant_id, status, total, created, updated, requested_by) VALUES ($1, $2, $3, $4, $5, $5, $6)`,
			b.ID, b.MerchantID, refundry.BatchProcessing, len(rows), now, b.RequestedBy); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"refund_batch_rows"},
			[]string{"batch_id", "row_num", "target", "amount", "reason", "status", "updated"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				return []any{b.ID, r.Row, r.Target, r.Amount, r.Reason, refundry.BatchRowPending, now}, nil
			}))
		if err != nil {
			return err
		}
		stored = &refundry.RefundBatch{ID: b.ID, MerchantID: b.MerchantID, RequestedBy: b.RequestedBy, Status: refundry.BatchProcessing,
			Counts: refundry.BatchCounts{Total: len(rows), Pending: len(rows)}, Created: now, Updated: now}
		return audit(ctx, tx, b.MerchantID, refundry.AuditBatchCreate, now, b.ID)
	})
	if err != nil {
		return false, err
	}
	*b = *stored
	return replayed, nil
}

// FindRefundBatch returns ENOTFOUND if the merchant has no such batch.
func (s *Store) FindRefundBatch(ctx context.Context, merchantID, id string) (b *refundry.RefundBatch, err error) {
	err = s.read(ctx, func(tx pgx.Tx) error {
		b, err = findBatch(ctx, tx, merchantID, id)
		return err
	})
	return b, err
}

func findBatch(ctx context.Context, tx pgx.Tx, merchantID, id string) (*refundry.RefundBatch, error) {
	b := &refundry.RefundBatch{ID: id, MerchantID: merchantID}
	err := tx.QueryRow(ctx, `SELECT status, total, created, updated, requested_by FROM refund_batches WHERE merchant_id = $1 AND id = $2`,
		merchantID, id).Scan(&b.Status, &b.Counts.Total, &b.Created, &b.Updated, &b.RequestedBy)
	if err != nil {
		return nil, notFound(err, "No such refund batch: %s", id)
	}
	b.Created, b.Updated = b.Created.UTC(), b.Updated.UTC()
	rows, err := tx.Query(ctx, `SELECT status, COUNT(*) FROM refund_batch_rows WHERE batch_id = $1 GROUP BY status`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		b.Counts.Add(st, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b.Status = b.Counts.Status()
	return b, nil
}

const batchRowColumns = `r.batch_id, b.merchant_id, r.row_num, r.target, r.amount, r.reason, r.status, r.refund_id,
	r.refund_status, r.error, r.attempts, r.lease_until, r.updated, b.requested_by`

func scanBatchRows(rows pgx.Rows) ([]*refundry.BatchRow, error) {
	defer rows.Close()
	var out []*refundry.BatchRow
	for rows.Next() {
		r := &refundry.BatchRow{}
		if err := rows.Scan(&r.BatchID, &r.MerchantID, &r.Row, &r.Target, &r.Amount, &r.Reason, &r.Status, &r.RefundID,
			&r.RefundStat, &r.Error, &r.Attempts, &r.LeaseUntil, &r.Updated, &r.RequestedBy); err != nil {
			return nil, err
		}
		r.LeaseUntil, r.Updated = orZero(r.LeaseUntil), r.Updated.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// ListBatchRows returns up to limit rows numbered above afterRow.
func (s *Store) ListBatchRows(ctx context.Context, merchantID, batchID string, afterRow, limit int) (out []*refundry.BatchRow, err error) {
	err = s.read(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM refund_batches WHERE merchant_id = $1 AND id = $2`, merchantID, batchID).Scan(&one); err != nil {
			return notFound(err, "No such refund batch: %s", batchID)
		}
		rows, err := tx.Query(ctx, `SELECT `+batchRowColumns+` FROM refund_batch_rows r JOIN refund_batches b ON b.id = r.batch_id
			WHERE r.batch_id = $1 AND r.row_num > $2 ORDER BY r.row_num LIMIT $3`, batchID, afterRow, limit)
		if err != nil {
			return err
		}
		out, err = scanBatchRows(rows)
		return err
	})
	return out, err
}

// ClaimBatchRows leases rows in one UPDATE. The claim condition is
// repeated on the UPDATE itself: at READ COMMITTED a second server whose
// UPDATE waited on the first one's rows re-checks it on the new versions
// and skips the rows the first one took.
func (s *Store) ClaimBatchRows(ctx context.Context, lease time.Duration, limit int) (out []*refundry.BatchRow, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		until := normTime(now.Add(lease))
		const due = `(r.status = 'pending' OR (r.status = 'processing' AND r.lease_until < $1))`
		rows, err := tx.Query(ctx, `WITH picked AS (
				SELECT r.batch_id, r.row_num FROM refund_batch_rows r WHERE `+due+`
				ORDER BY (r.status = 'pending'), r.batch_id, r.row_num LIMIT $3)
			UPDATE refund_batch_rows r SET status = 'processing', lease_until = $2, attempts = r.attempts + 1, updated = $1
			FROM picked p, refund_batches b
			WHERE r.batch_id = p.batch_id AND r.row_num = p.row_num AND b.id = r.batch_id AND `+due+`
			RETURNING `+batchRowColumns, now, until, limit)
		if err != nil {
			return err
		}
		out, err = scanBatchRows(rows)
		return err
	})
	return out, err
}

// FinishBatchRows records outcomes and completes the batches left with
// nothing to do, in one transaction.
func (s *Store) FinishBatchRows(ctx context.Context, rows []*refundry.BatchRow) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		var batch pgx.Batch
		ids := map[string]bool{}
		for _, r := range rows {
			batch.Queue(`UPDATE refund_batch_rows SET status = $1, refund_id = $2, refund_status = $3, error = $4, lease_until = 'epoch', updated = $5
				WHERE batch_id = $6 AND row_num = $7`, r.Status, r.RefundID, r.RefundStat, r.Error, now, r.BatchID, r.Row)
			ids[r.BatchID] = true
		}
		for id := range ids {
			batch.Queue(`UPDATE refund_batches SET status = 'completed', updated = $1 WHERE id = $2 AND status = 'processing'
				AND NOT EXISTS (SELECT 1 FROM refund_batch_rows WHERE batch_id = $2 AND status IN ('pending', 'processing'))`, now, id)
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
}
