package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/refundry/refundry"
)

// The queries below name refunds_due: it holds only pending refunds, so
// walking it costs what is pending, never what was ever refunded, and a
// plan that stopped using it would fail loudly instead of slowing down.

// pendingMerchants walks the merchants that have pending refunds, one
// index seek each (a skip scan), with the time their earliest one is due.
const pendingMerchants = `WITH RECURSIVE m(id) AS (
	SELECT (SELECT merchant_id FROM refunds INDEXED BY refunds_due WHERE status = 'pending' ORDER BY merchant_id LIMIT 1)
	UNION ALL
	SELECT (SELECT merchant_id FROM refunds INDEXED BY refunds_due WHERE status = 'pending' AND merchant_id > m.id ORDER BY merchant_id LIMIT 1)
	FROM m WHERE m.id IS NOT NULL
)
SELECT id, (SELECT COALESCE(next_attempt_at, created) FROM refunds INDEXED BY refunds_due
	WHERE merchant_id = m.id AND status = 'pending' ORDER BY COALESCE(next_attempt_at, created), id LIMIT 1)
FROM m WHERE id IS NOT NULL`

const dueOfMerchant = `SELECT id, recovery_attempts, COALESCE(next_attempt_at, created) FROM refunds INDEXED BY refunds_due
	WHERE merchant_id = ? AND status = 'pending' AND COALESCE(next_attempt_at, created) <= ?
	ORDER BY COALESCE(next_attempt_at, created), id LIMIT ?`

const attemptsOfPending = `SELECT recovery_attempts FROM refunds WHERE merchant_id = ? AND id = ? AND status = 'pending'`

// ClaimRefunds picks the refunds of one recovery pass and records the
// attempt about to be made at each (invariant 6). It runs as one write
// transaction, so two processes on one file never claim a refund twice.
func (s *Store) ClaimRefunds(ctx context.Context, c refundry.RecoveryClaim) ([]*refundry.Refund, error) {
	if c.Limit <= 0 {
		return []*refundry.Refund{}, nil
	}
	var out []*refundry.Refund
	err := s.updateKeeping(ctx, func(tx *tx) error {
		out = []*refundry.Refund{}
		first, err := firstDue(ctx, tx)
		if err != nil {
			return err
		}
		merchants := c.Merchants(first)
		share := c.Share(len(merchants))
		lists := make([][]refundry.DueRefund, len(merchants))
		for i, m := range merchants {
			if lists[i], err = dueRefunds(ctx, tx, m, c.Due, share); err != nil {
				return err
			}
		}
		for _, a := range c.Plan(lists) {
			if err := recordAttempt(ctx, tx, a); err != nil {
				return err
			}
			r, err := findRefund(ctx, tx, a.MerchantID, a.ID)
			if err != nil {
				return err
			}
			r.Attempts = a.Attempts
			out = append(out, r)
		}
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
	// Grouped: it follows a request's gateway call, so it shares a commit
	// with the writes of the requests beside it.
	ctx = s.writeContext(ctx)
	return s.groupedKeeping(ctx, func(tx *tx) error {
		for _, id := range ids {
			d := refundry.DueRefund{MerchantID: merchantID, ID: id}
			err := tx.QueryRowContext(ctx, attemptsOfPending, merchantID, id).Scan(&d.Attempts)
			if errors.Is(err, sql.ErrNoRows) {
				continue // settled meanwhile, or not the merchant's
			} else if err != nil {
				return err
			}
			if err := recordAttempt(ctx, tx, d.Attempt(now)); err != nil {
				return err
			}
		}
		return nil
	})
}

func firstDue(ctx context.Context, tx *tx) (map[string]time.Time, error) {
	rows, err := tx.QueryContext(ctx, pendingMerchants)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	first := map[string]time.Time{}
	for rows.Next() {
		var id string
		var due int64
		if err := rows.Scan(&id, &due); err != nil {
			return nil, err
		}
		first[id] = fromMicros(due)
	}
	return first, rows.Err()
}

func dueRefunds(ctx context.Context, tx *tx, merchantID string, due time.Time, limit int) ([]refundry.DueRefund, error) {
	rows, err := tx.QueryContext(ctx, dueOfMerchant, merchantID, micros(utc(due)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []refundry.DueRefund
	for rows.Next() {
		d := refundry.DueRefund{MerchantID: merchantID}
		var at int64
		if err := rows.Scan(&d.ID, &d.Attempts, &at); err != nil {
			return nil, err
		}
		d.Due = fromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

func recordAttempt(ctx context.Context, tx *tx, a refundry.RecoveryAttempt) error {
	_, err := tx.ExecContext(ctx, `UPDATE refunds SET recovery_attempts = ?, next_attempt_at = ? WHERE merchant_id = ? AND id = ?`,
		a.Attempts, micros(utc(a.Next)), a.MerchantID, a.ID)
	return err
}
