package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/refundry/refundry"
)

// queueNotification owes the customer an email about r, as a decision
// said, if the customer has an address. It runs in the transaction that
// makes r succeed, so the notice exists exactly when the success does; the
// unique refund_id makes it one per refund whatever retries.
func queueNotification(ctx context.Context, tx *tx, r *refundry.Refund) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, merchant_id, refund_id, sale_id, recipient, customer_name,
		merchant_name, sale_reference, amount, currency, status, attempts, last_error, next_attempt, locked_until, sent_at, created)
		SELECT ?, r.merchant_id, r.id, r.sale_id, c.email, TRIM(c.first_name || ' ' || c.last_name), m.name, s.reference,
			r.amount - r.fee, r.currency, 'unsent', 0, '', ?, 0, 0, ?
		FROM refunds r JOIN sales s ON s.id = r.sale_id JOIN customers c ON c.id = s.customer_id JOIN merchants m ON m.id = r.merchant_id
		WHERE r.id = ? AND c.email <> ''
		ON CONFLICT (refund_id) DO NOTHING`, refundry.NewID(), micros(tx.now), micros(tx.now), r.ID)
	return err
}

// ListNotifications returns one page, newest first.
func (s *Store) ListNotifications(ctx context.Context, merchantID string, f refundry.NotificationFilter) ([]*refundry.Notification, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	if f.Status != "" {
		q.add("status = ?", f.Status)
	}
	tail := q.page("id", f.Page)
	var ns []*refundry.Notification
	err := s.view(ctx, func(tx *tx) (err error) {
		ns, err = queryNotifications(ctx, tx, notificationColumns+q.sql()+tail, q.args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	ns, more := trim(ns, f.Page)
	return ns, more, nil
}

// ClaimNotifications leases unsent notifications that are due.
func (s *Store) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) (ns []*refundry.Notification, err error) {
	if limit <= 0 {
		return nil, nil
	}
	err = s.updateKeeping(ctx, func(tx *tx) error {
		now := micros(tx.now)
		ns, err = queryNotifications(ctx, tx, notificationColumns+` WHERE status = 'unsent' AND next_attempt <= ? AND locked_until <= ?
			ORDER BY next_attempt, id LIMIT ?`, now, now, limit)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET locked_until = ? WHERE id = ?`, micros(tx.now.Add(lease)), n.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return ns, err
}

// RecordNotification records one send and ends the lease.
func (s *Store) RecordNotification(ctx context.Context, id string, r refundry.NotificationResult) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		status, next, sent := refundry.NotificationUnsent, micros(utc(r.Retry)), int64(0)
		switch {
		case r.Sent:
			status, next, sent = refundry.NotificationSent, micros(tx.now), micros(tx.now)
		case r.Retry.IsZero():
			status, next = refundry.NotificationFailed, micros(tx.now)
		}
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt = ?,
			locked_until = 0, sent_at = ? WHERE id = ?`, status, refundry.Excerpt(r.Error, 1000), next, sent, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("notification", id)
		}
		return nil
	})
}

const notificationColumns = `SELECT id, merchant_id, refund_id, sale_id, recipient, customer_name, merchant_name, sale_reference,
	amount, currency, status, attempts, last_error, next_attempt, sent_at, created FROM notifications`

func queryNotifications(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.Notification, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	return scanNotifications(rows)
}

func scanNotifications(rows *sql.Rows) ([]*refundry.Notification, error) {
	defer rows.Close()
	var out []*refundry.Notification
	for rows.Next() {
		var n refundry.Notification
		var next, sent, created int64
		if err := rows.Scan(&n.ID, &n.MerchantID, &n.RefundID, &n.SaleID, &n.To, &n.CustomerName, &n.MerchantName, &n.SaleReference,
			&n.Amount, &n.Currency, &n.Status, &n.Attempts, &n.LastError, &next, &sent, &created); err != nil {
			return nil, err
		}
		n.NextAttempt, n.Created = fromMicros(next), fromMicros(created)
		if sent != 0 {
			n.SentAt = fromMicros(sent)
		}
		out = append(out, &n)
	}
	return out, rows.Err()
}
