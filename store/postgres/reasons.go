package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// ListRefundReasons returns the merchant's reasons, oldest first (see
// refundry.ReasonsOrDefaults for a merchant with none stored).
func (s *Store) ListRefundReasons(ctx context.Context, merchantID string) ([]*refundry.RefundReason, error) {
	var out []*refundry.RefundReason
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT merchant_id, code, label, stripe_reason, created FROM refund_reasons
			WHERE merchant_id = $1 ORDER BY created, code`, merchantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.RefundReason, error) {
			var r refundry.RefundReason
			if err := row.Scan(&r.MerchantID, &r.Code, &r.Label, &r.StripeReason, &r.Created); err != nil {
				return nil, err
			}
			r.Created = r.Created.UTC()
			return &r, nil
		})
		if err != nil || len(out) > 0 {
			return err
		}
		var created time.Time
		err = tx.QueryRow(ctx, `SELECT created FROM merchants WHERE id = $1`, merchantID).Scan(&created)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // no merchant, no reasons
		} else if err != nil {
			return err
		}
		out = refundry.ReasonsOrDefaults(nil, merchantID, created.UTC())
		return nil
	})
	return out, err
}

// ensureReasons writes the defaults of a merchant that has no reasons
// stored, before its list is changed. Two writers doing it at once write
// them once: the second's rows conflict and are skipped.
func ensureReasons(ctx context.Context, tx pgx.Tx, merchantID string) error {
	var created time.Time
	err := tx.QueryRow(ctx, `SELECT created FROM merchants WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM refund_reasons WHERE merchant_id = $1)`, merchantID).Scan(&created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // it has reasons, or there is no such merchant
	} else if err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, r := range refundry.DefaultRefundReasons(merchantID, created.UTC()) {
		b.Queue(`INSERT INTO refund_reasons (merchant_id, code, label, stripe_reason, created) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (merchant_id, code) DO NOTHING`, r.MerchantID, r.Code, r.Label, r.StripeReason, r.Created)
	}
	return tx.SendBatch(ctx, b).Close()
}

// PutRefundReason creates the reason or replaces its label and Stripe
// reason; a replaced reason keeps its creation time, and so its place in
// the list. Returns EINVALID for a reason that does not validate,
// ENOTFOUND for a merchant that does not exist.
func (s *Store) PutRefundReason(ctx context.Context, r *refundry.RefundReason) error {
	if err := r.Validate(); err != nil {
		return err
	}
	created := r.Created
	if created.IsZero() {
		created = s.now()
	}
	var stored time.Time
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := ensureReasons(ctx, tx, r.MerchantID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO refund_reasons (merchant_id, code, label, stripe_reason, created)
			SELECT id, $2, $3, $4, $5 FROM merchants WHERE id = $1
			ON CONFLICT (merchant_id, code) DO UPDATE SET label = excluded.label, stripe_reason = excluded.stripe_reason
			RETURNING created`, r.MerchantID, r.Code, r.Label, r.StripeReason, normTime(created)).Scan(&stored)
		if err != nil {
			return notFound(err, "No such merchant.")
		}
		return audit(ctx, tx, r.MerchantID, refundry.AuditReasonPut, s.now(), r.Code)
	})
	if err != nil {
		return err
	}
	r.Created = stored.UTC()
	return nil
}

// DeleteRefundReason returns ENOTFOUND if the merchant has no such reason.
func (s *Store) DeleteRefundReason(ctx context.Context, merchantID, code string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := ensureReasons(ctx, tx, merchantID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM refund_reasons WHERE merchant_id = $1 AND code = $2`, merchantID, code)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refundry.ParamErrorf(refundry.ENOTFOUND, "code", "No such refund reason: %s", code)
		}
		return audit(ctx, tx, merchantID, refundry.AuditReasonDelete, s.now(), code)
	})
}

const reasonCountsQuery = `SELECT reason, currency, status, COUNT(*), SUM(amount)::bigint
	FROM refunds WHERE merchant_id = $1 AND created >= $2 AND created < $3
	GROUP BY reason, currency, status`

// CountRefundsByReason counts the merchant's refunds created in [from,
// to) by reason; refundry.ReasonCounter decides what the sums hold.
func (s *Store) CountRefundsByReason(ctx context.Context, merchantID string, from, to time.Time) ([]refundry.ReasonCount, error) {
	var out []refundry.ReasonCount
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, reasonCountsQuery, merchantID, normTime(from), normTime(to))
		if err != nil {
			return err
		}
		defer rows.Close()
		var b refundry.ReasonCounter
		for rows.Next() {
			var reason, currency, status string
			var n, amount int64
			if err := rows.Scan(&reason, &currency, &status, &n, &amount); err != nil {
				return err
			}
			b.Add(reason, currency, status, n, amount)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		out = b.Counts()
		return nil
	})
	return out, err
}

// seedReasons gives a new merchant the default reasons, in the
// transaction that makes it: no merchant is ever without them.
func seedReasons(ctx context.Context, tx pgx.Tx, m *refundry.Merchant) error {
	rs := refundry.DefaultRefundReasons(m.ID, m.Created)
	b := &pgx.Batch{}
	for _, r := range rs {
		b.Queue(`INSERT INTO refund_reasons (merchant_id, code, label, stripe_reason, created) VALUES ($1, $2, $3, $4, $5)`,
			r.MerchantID, r.Code, r.Label, r.StripeReason, r.Created)
	}
	return tx.SendBatch(ctx, b).Close()
}
