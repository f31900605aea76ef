package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// pendingMerchants walks the merchants that have pending refunds, one seek
// of refunds_due_idx each (a loose index scan), with the time their
// earliest one is due; it costs what is pending, never what was ever
// refunded.
const pendingMerchants = `WITH RECURSIVE m(id) AS (
	(SELECT merchant_id FROM refunds WHERE status = 'pending' ORDER BY merchant_id LIMIT 1)
	UNION ALL
	SELECT (SELECT merchant_id FROM refunds WHERE status = 'pending' AND merchant_id > m.id ORDER BY merchant_id LIMIT 1)
	FROM m WHERE m.id IS NOT NULL
)
SELECT m.id, (SELECT COALESCE(next_attempt_at, created) FROM refunds
	WHERE merchant_id = m.id AND status = 'pending' ORDER BY COALESCE(next_attempt_at, created), id LIMIT 1)
FROM m WHERE m.id IS NOT NULL`

// dueOfMerchants reads each merchant's earliest due refunds, skipping rows
// that another process's claim (or a settlement) holds locked: two serve
// nodes then share a pass's work instead of asking twice.
const dueOfMerchants = `SELECT r.merchant_id, r.id, r.recovery_attempts, r.due
FROM unnest($1::text[]) WITH ORDINALITY AS m(id, n)
CROSS JOIN LATERAL (
	SELECT merchant_id, id, recovery_attempts, COALESCE(next_attempt_at, created) AS due FROM refunds
	WHERE merchant_id = m.id AND status = 'pending' AND COALESCE(next_attempt_at, created) <= $2
	ORDER BY COALESCE(next_attempt_at, created), id LIMIT $3
	FOR UPDATE SKIP LOCKED
) r
ORDER BY m.n, r.due, r.id`

// ClaimRefunds picks the refunds of one recovery pass and records the
// attempt about to be made at each (invariant 6), in one transaction.
func (s *Store) ClaimRefunds(ctx context.Context, c refundry.RecoveryClaim) ([]*refundry.Refund, error) {
	if c.Limit <= 0 {
		return []*refundry.Refund{}, nil
	}
	var out []*refundry.Refund
	err := s.write(ctx, func(tx pgx.Tx) error {
		first, err := firstDue(ctx, tx)
		if err != nil {
			return err
		}
		merchants := c.Merchants(first)
		if len(merchants) == 0 {
			out = []*refundry.Refund{}
			return nil
		}
		rows, err := tx.Query(ctx, dueOfMerchants, merchants, normTime(c.Due), c.Share(len(merchants)))
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (refundry.DueRefund, error) {
			var d refundry.DueRefund
			err := row.Scan(&d.MerchantID, &d.ID, &d.Attempts, &d.Due)
			return d, err
		})
		if err != nil {
			return err
		}
		var lists [][]refundry.DueRefund
		for i, d := range due {
			if i == 0 || d.MerchantID != due[i-1].MerchantID {
				lists = append(lists, nil)
			}
			lists[len(lists)-1] = append(lists[len(lists)-1], d)
		}
		plan := c.Plan(lists)
		if err := recordAttempts(ctx, tx, plan); err != nil {
			return err
		}
		ids := make([]string, len(plan))
		for i, a := range plan {
			ids[i] = a.ID
		}
		rows, err = tx.Query(ctx, `SELECT `+refundColumns+` FROM refunds WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		found, err := collectRefunds(rows)
		if err != nil {
			return err
		}
		if err := loadRefundLines(ctx, tx, found); err != nil {
			return err
		}
		byID := make(map[string]*refundry.Refund, len(found))
		for _, r := range found {
			byID[r.ID] = r
		}
		claimed := make([]*refundry.Refund, 0, len(plan))
		for _, a := range plan {
			r := byID[a.ID]
			if r == nil {
				return errors.New("postgres: a claimed refund vanished")
			}
			r.Attempts = a.Attempts
			claimed = append(claimed, r)
		}
		out = claimed
		return nil
	})
	return out, err
}

// DeferRefunds records that the refunds were just asked about and are
// still pending.
func (s *Store) DeferRefunds(ctx context.Context, merchantID string, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, recovery_attempts FROM refunds
			WHERE merchant_id = $1 AND id = ANY($2) AND status = 'pending' ORDER BY id FOR UPDATE`, merchantID, ids)
		if err != nil {
			return err
		}
		plan, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (refundry.RecoveryAttempt, error) {
			d := refundry.DueRefund{MerchantID: merchantID}
			err := row.Scan(&d.ID, &d.Attempts)
			return d.Attempt(now), err
		})
		if err != nil {
			return err
		}
		return recordAttempts(ctx, tx, plan)
	})
}

func firstDue(ctx context.Context, tx pgx.Tx) (map[string]time.Time, error) {
	rows, err := tx.Query(ctx, pendingMerchants)
	if err != nil {
		return nil, err
	}
	first := map[string]time.Time{}
	var id string
	var due time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &due}, func() error {
		first[id] = due
		return nil
	})
	return first, err
}

// recordAttempts writes a plan in one statement, whatever its length.
func recordAttempts(ctx context.Context, tx pgx.Tx, plan []refundry.RecoveryAttempt) error {
	if len(plan) == 0 {
		return nil
	}
	ids, attempts, next := make([]string, len(plan)), make([]int32, len(plan)), make([]time.Time, len(plan))
	for i, a := range plan {
		ids[i], attempts[i], next[i] = a.ID, int32(a.Attempts), normTime(a.Next)
	}
	_, err := tx.Exec(ctx, `UPDATE refunds AS r SET recovery_attempts = v.n, next_attempt_at = v.next
		FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS v(id, n, next) WHERE r.id = v.id`, ids, attempts, next)
	return err
}
