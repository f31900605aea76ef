package postgres

import (
	"context"
	"maps"
	"slices"
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
		if _, err := tx.Exec(ctx, `INSERT INTO refund_batches (id, merchant_id, status, total, pending, created, updated, requested_by) VALUES ($1, $2, $3, $4, $4, $5, $5, $6)`,
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

// findBatch reads the counts the batch keeps, and counts its rows only
// when those cannot be answered (refundry.BatchCounts.Kept). The probe
// for a row left to work names the batch by the parameter, not by b.id:
// correlated, PostgreSQL may plan it as one hashed scan of every batch's
// unfinished rows.
func findBatch(ctx context.Context, tx pgx.Tx, merchantID, id string) (*refundry.RefundBatch, error) {
	b := &refundry.RefundBatch{ID: id, MerchantID: merchantID}
	c := &b.Counts
	var unfinished bool
	err := tx.QueryRow(ctx, `SELECT b.status, b.total, b.pending, b.processing, b.succeeded, b.failed, b.created, b.updated, b.requested_by,
		EXISTS (SELECT 1 FROM refund_batch_rows r WHERE r.status IN ('pending', 'processing') AND r.batch_id = $2)
		FROM refund_batches b WHERE b.merchant_id = $1 AND b.id = $2`, merchantID, id).Scan(
		&b.Status, &c.Total, &c.Pending, &c.Processing, &c.Succeeded, &c.Failed, &b.Created, &b.Updated, &b.RequestedBy, &unfinished)
	if err != nil {
		return nil, notFound(err, "No such refund batch: %s", id)
	}
	b.Created, b.Updated = b.Created.UTC(), b.Updated.UTC()
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
func countBatchRows(ctx context.Context, tx pgx.Tx, id string, total int) (refundry.BatchCounts, error) {
	c := refundry.BatchCounts{Total: total}
	rows, err := tx.Query(ctx, `SELECT status, COUNT(*) FROM refund_batch_rows WHERE batch_id = $1 GROUP BY status`, id)
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
//
// The same statement moves the claimed rows' batches' counts. A row is
// pending until its first claim and never again, so the rows whose
// attempts are now 1 are exactly those that left pending; the others
// were processing under a lease that ran out, and stay processing.
// (What the row was is not otherwise at hand: RETURNING gives the new
// version, and the version picked read is the snapshot's.)
func (s *Store) ClaimBatchRows(ctx context.Context, lease time.Duration, limit int) (out []*refundry.BatchRow, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		until := normTime(now.Add(lease))
		const due = `(r.status = 'pending' OR (r.status = 'processing' AND r.lease_until < $1))`
		rows, err := tx.Query(ctx, `WITH picked AS (
				SELECT r.batch_id, r.row_num FROM refund_batch_rows r WHERE `+due+`
				ORDER BY (r.status = 'pending'), r.batch_id, r.row_num LIMIT $3),
			claimed AS (
				UPDATE refund_batch_rows r SET status = 'processing', lease_until = $2, attempts = r.attempts + 1, updated = $1
				FROM picked p, refund_batches b
				WHERE r.batch_id = p.batch_id AND r.row_num = p.row_num AND b.id = r.batch_id AND `+due+`
				RETURNING `+batchRowColumns+`),
			counted AS (
				UPDATE refund_batches b SET pending = b.pending - c.n, processing = b.processing + c.n
				FROM (SELECT batch_id, COUNT(*) AS n FROM claimed WHERE attempts = 1 GROUP BY batch_id) c
				WHERE b.id = c.batch_id)
			SELECT * FROM claimed ORDER BY attempts = 1, batch_id, row_num`, now, until, limit)
		if err != nil {
			return err
		}
		out, err = scanBatchRows(rows)
		return err
	})
	return out, err
}

// FinishBatchRows records outcomes, keeps the counts and completes the
// batches left with nothing to do, in one transaction and, for the
// common chunk, one round trip.
//
// A row is finished from processing, its claim's status; the UPDATE says
// so, which makes every row it changed one that left processing, and at
// READ COMMITTED a row another transaction changed meanwhile is checked
// again on its new version. A row found in another status (finished
// already by a worker whose lease ran out before this one claimed it
// again) is left to refinishRows.
func (s *Store) FinishBatchRows(ctx context.Context, rows []*refundry.BatchRow) error {
	n := len(rows)
	ids, nums := make([]string, 0, n), make([]int32, 0, n)
	statuses, refundIDs, refundStats, errs := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	batches := map[string]bool{}
	for _, r := range rows {
		ids, nums = append(ids, r.BatchID), append(nums, int32(r.Row))
		statuses, refundIDs, refundStats, errs = append(statuses, r.Status), append(refundIDs, r.RefundID), append(refundStats, r.RefundStat), append(errs, r.Error)
		batches[r.BatchID] = true
	}
	batchIDs := slices.Sorted(maps.Keys(batches))
	return s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		var batch pgx.Batch
		batch.Queue(`WITH v AS (
				SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
					AS v (batch_id, row_num, status, refund_id, refund_status, error)),
			done AS (
				UPDATE refund_batch_rows r SET status = v.status, refund_id = v.refund_id, refund_status = v.refund_status, error = v.error,
					lease_until = 'epoch', updated = $7
				FROM v WHERE r.batch_id = v.batch_id AND r.row_num = v.row_num AND r.status = 'processing'
				RETURNING r.batch_id, r.row_num, r.status),
			counted AS (
				UPDATE refund_batches b SET pending = b.pending + m.pending, processing = b.processing - m.n + m.processing,
					succeeded = b.succeeded + m.succeeded, failed = b.failed + m.failed
				FROM (SELECT batch_id, COUNT(*) AS n, COUNT(*) FILTER (WHERE status = 'pending') AS pending,
						COUNT(*) FILTER (WHERE status = 'processing') AS processing,
						COUNT(*) FILTER (WHERE status = 'succeeded') AS succeeded,
						COUNT(*) FILTER (WHERE status = 'failed') AS failed
					FROM done GROUP BY batch_id) m
				WHERE b.id = m.batch_id)
			SELECT batch_id, row_num FROM done`, ids, nums, statuses, refundIDs, refundStats, errs, now)
		// A statement of its own: within the one above, the rows read
		// would be the snapshot's, before their update.
		batch.Queue(completeBatches, now, batchIDs)
		br := tx.SendBatch(ctx, &batch)
		done, err := finishedRows(br)
		if err != nil {
			br.Close()
			return err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		var rest []*refundry.BatchRow
		for _, r := range rows {
			if !done[rowKey{r.BatchID, r.Row}] {
				rest = append(rest, r)
			}
		}
		if len(rest) == 0 {
			return nil
		}
		return refinishRows(ctx, tx, rest, now)
	})
}

// completeBatches marks completed the batches of $2 left with no row to
// work, as of $1.
const completeBatches = `UPDATE refund_batches b SET status = 'completed', updated = $1 WHERE b.id = ANY($2) AND b.status = 'processing'
	AND NOT EXISTS (SELECT 1 FROM refund_batch_rows r WHERE r.batch_id = b.id AND r.status IN ('pending', 'processing'))`

type rowKey struct {
	batchID string
	row     int
}

// finishedRows reads the rows FinishBatchRows's first statement changed.
func finishedRows(br pgx.BatchResults) (map[rowKey]bool, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[rowKey]bool{}
	var k rowKey
	for rows.Next() {
		if err := rows.Scan(&k.batchID, &k.row); err != nil {
			return nil, err
		}
		done[k] = true
	}
	return done, rows.Err()
}

// refinishRows records the outcomes of rows that were not processing,
// overwriting them as before the counts were kept. It locks them first,
// so the statuses it reads are the ones it moves the counts from.
func refinishRows(ctx context.Context, tx pgx.Tx, rows []*refundry.BatchRow, now time.Time) error {
	ids, nums := make([]string, 0, len(rows)), make([]int32, 0, len(rows))
	for _, r := range rows {
		ids, nums = append(ids, r.BatchID), append(nums, int32(r.Row))
	}
	locked, err := tx.Query(ctx, `SELECT r.batch_id, r.row_num, r.status FROM refund_batch_rows r
		JOIN unnest($1::text[], $2::int[]) AS v (batch_id, row_num) ON r.batch_id = v.batch_id AND r.row_num = v.row_num
		ORDER BY r.batch_id, r.row_num FOR UPDATE OF r`, ids, nums)
	if err != nil {
		return err
	}
	was := map[rowKey]string{}
	for locked.Next() {
		var k rowKey
		var st string
		if err := locked.Scan(&k.batchID, &k.row, &st); err != nil {
			locked.Close()
			return err
		}
		was[k] = st
	}
	locked.Close()
	if err := locked.Err(); err != nil {
		return err
	}
	var batch pgx.Batch
	moved := map[string]*refundry.BatchCounts{}
	for _, r := range rows {
		from, ok := was[rowKey{r.BatchID, r.Row}]
		if !ok {
			continue // no such row: nothing to record or count
		}
		batch.Queue(`UPDATE refund_batch_rows SET status = $1, refund_id = $2, refund_status = $3, error = $4, lease_until = 'epoch', updated = $5
			WHERE batch_id = $6 AND row_num = $7`, r.Status, r.RefundID, r.RefundStat, r.Error, now, r.BatchID, r.Row)
		d := moved[r.BatchID]
		if d == nil {
			d = &refundry.BatchCounts{}
			moved[r.BatchID] = d
		}
		d.Move(from, r.Status)
	}
	ids = ids[:0]
	for _, id := range slices.Sorted(maps.Keys(moved)) {
		ids = append(ids, id)
		if d := moved[id]; !d.Zero() {
			batch.Queue(`UPDATE refund_batches SET pending = pending + $1, processing = processing + $2, succeeded = succeeded + $3, failed = failed + $4
				WHERE id = $5`, d.Pending, d.Processing, d.Succeeded, d.Failed, id)
		}
	}
	batch.Queue(completeBatches, now, ids)
	return tx.SendBatch(ctx, &batch).Close()
}
