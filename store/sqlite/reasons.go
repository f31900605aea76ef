package sqlite

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// ListRefundReasons returns the merchant's reasons, oldest first (see
// refundry.ReasonsOrDefaults for a merchant with none stored).
func (s *Store) ListRefundReasons(ctx context.Context, merchantID string) ([]*refundry.RefundReason, error) {
	var out []*refundry.RefundReason
	err := s.readOne(ctx, func(tx *tx) (err error) {
		out, err = listReasons(ctx, tx, merchantID)
		return err
	})
	return out, err
}

func listReasons(ctx context.Context, tx *tx, merchantID string) ([]*refundry.RefundReason, error) {
	rows, err := tx.QueryContext(ctx, `SELECT merchant_id, code, label, stripe_reason, created FROM refund_reasons
		WHERE merchant_id = ? ORDER BY created, code`, merchantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.RefundReason
	for rows.Next() {
		var r refundry.RefundReason
		var created int64
		if err := rows.Scan(&r.MerchantID, &r.Code, &r.Label, &r.StripeReason, &created); err != nil {
			return nil, err
		}
		r.Created = fromMicros(created)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil || len(out) > 0 {
		return out, err
	}
	m, err := findMerchant(ctx, tx, `id = ?`, merchantID)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		return nil, nil // no merchant, no reasons
	} else if err != nil {
		return nil, err
	}
	return refundry.ReasonsOrDefaults(nil, m.ID, m.Created), nil
}

// ensureReasons writes the defaults of a merchant that has no reasons
// stored, before its list is changed.
func ensureReasons(ctx context.Context, tx *tx, m *refundry.Merchant) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM refund_reasons WHERE merchant_id = ?`, m.ID).Scan(&n); err != nil || n > 0 {
		return err
	}
	return seedReasons(ctx, tx, m)
}

// PutRefundReason creates the reason or replaces its label and Stripe
// reason; a replaced reason keeps its creation time, and so its place in
// the list. Returns EINVALID for a reason that does not validate.
func (s *Store) PutRefundReason(ctx context.Context, r *refundry.RefundReason) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return s.update(ctx, func(tx *tx) error {
		m, err := findMerchant(ctx, tx, `id = ?`, r.MerchantID)
		if err != nil {
			return err
		}
		if err := ensureReasons(ctx, tx, m); err != nil {
			return err
		}
		if r.Created.IsZero() {
			r.Created = tx.now
		}
		var created int64
		err = tx.QueryRowContext(ctx, `INSERT INTO refund_reasons (merchant_id, code, label, stripe_reason, created) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (merchant_id, code) DO UPDATE SET label = excluded.label, stripe_reason = excluded.stripe_reason
			RETURNING created`, r.MerchantID, r.Code, r.Label, r.StripeReason, micros(utc(r.Created))).Scan(&created)
		if err != nil {
			return err
		}
		r.Created = fromMicros(created)
		return audit(ctx, tx, r.MerchantID, refundry.AuditReasonPut, r.Code)
	})
}

// DeleteRefundReason returns ENOTFOUND if the merchant has no such reason.
func (s *Store) DeleteRefundReason(ctx context.Context, merchantID, code string) error {
	return s.update(ctx, func(tx *tx) error {
		m, err := findMerchant(ctx, tx, `id = ?`, merchantID)
		if refundry.ErrorCode(err) == refundry.ENOTFOUND {
			return refundry.ParamErrorf(refundry.ENOTFOUND, "code", "No such refund reason: %s", code)
		} else if err != nil {
			return err
		}
		if err := ensureReasons(ctx, tx, m); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM refund_reasons WHERE merchant_id = ? AND code = ?`, merchantID, code)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return refundry.ParamErrorf(refundry.ENOTFOUND, "code", "No such refund reason: %s", code)
		}
		return audit(ctx, tx, merchantID, refundry.AuditReasonDelete, code)
	})
}

const reasonCountsQuery = `SELECT reason, currency, status, COUNT(*), SUM(amount)
	FROM refunds WHERE merchant_id = ? AND created >= ? AND created < ?
	GROUP BY reason, currency, status`

// CountRefundsByReason counts the merchant's refunds created in [from,
// to) by reason; refundry.ReasonCounter decides what the sums hold.
func (s *Store) CountRefundsByReason(ctx context.Context, merchantID string, from, to time.Time) ([]refundry.ReasonCount, error) {
	var out []refundry.ReasonCount
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, reasonCountsQuery, merchantID, micros(utc(from)), micros(utc(to)))
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
func seedReasons(ctx context.Context, tx *tx, m *refundry.Merchant) error {
	for _, r := range refundry.DefaultRefundReasons(m.ID, m.Created) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO refund_reasons (merchant_id, code, label, stripe_reason, created) VALUES (?, ?, ?, ?, ?)`,
			r.MerchantID, r.Code, r.Label, r.StripeReason, micros(r.Created)); err != nil {
			return err
		}
	}
	return nil
}
