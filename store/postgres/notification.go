package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// ListNotifications returns one page, newest first.
func (s *Store) ListNotifications(ctx context.Context, merchantID string, f refundry.NotificationFilter) ([]*refundry.Notification, bool, error) {
	if err := f.Page.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	if f.Status != "" {
		w.add("status = $%d", f.Status)
	}
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE ` + w.page("id", f.Page)
	var out []*refundry.Notification
	var more bool
	err := s.read(ctx, func(tx pgx.Tx) error {
		ns, err := queryNotifications(ctx, tx, q, w.args...)
		out, more = trimPage(ns, f.Page)
		return err
	})
	return out, more, err
}

// ClaimNotifications leases unsent notifications that are due; each lease
// is a conditional update, so two processes never lease one notice.
func (s *Store) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) (out []*refundry.Notification, err error) {
	if limit <= 0 {
		return nil, nil
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		now := s.now()
		ns, err := queryNotifications(ctx, tx, `SELECT `+notificationColumns+` FROM notifications
			WHERE status = 'unsent' AND next_attempt <= $1 AND locked_until <= $1 ORDER BY next_attempt, id LIMIT $2`, now, limit)
		if err != nil {
			return err
		}
		for _, n := range ns {
			tag, err := tx.Exec(ctx, `UPDATE notifications SET locked_until = $1 WHERE id = $2 AND status = 'unsent' AND locked_until <= $3`,
				now.Add(lease), n.ID, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				out = append(out, n)
			}
		}
		return nil
	})
	return out, err
}

// RecordNotification records one send and ends the lease.
func (s *Store) RecordNotification(ctx context.Context, id string, r refundry.NotificationResult) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		status, next, sent := refundry.NotificationUnsent, normTime(r.Retry), never
		switch {
		case r.Sent:
			status, next, sent = refundry.NotificationSent, now, now
		case r.Retry.IsZero():
			status, next = refundry.NotificationFailed, now
		}
		tag, err := tx.Exec(ctx, `UPDATE notifications SET status = $1, attempts = attempts + 1, last_error = $2, next_attempt = $3,
			locked_until = $4, sent_at = $5 WHERE id = $6`, status, refundry.Excerpt(r.Error, 1000), next, never, sent, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refundry.Errorf(refundry.ENOTFOUND, "No such notification: %s", id)
		}
		return nil
	})
}

const notificationColumns = `id, merchant_id, refund_id, sale_id, recipient, customer_name, merchant_name, sale_reference,
	amount, currency, status, attempts, last_error, next_attempt, sent_at, created`

func queryNotifications(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]*refundry.Notification, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Notification, error) {
		var n refundry.Notification
		if err := row.Scan(&n.ID, &n.MerchantID, &n.RefundID, &n.SaleID, &n.To, &n.CustomerName, &n.MerchantName, &n.SaleReference,
			&n.Amount, &n.Currency, &n.Status, &n.Attempts, &n.LastError, &n.NextAttempt, &n.SentAt, &n.Created); err != nil {
			return nil, err
		}
		n.NextAttempt, n.SentAt, n.Created = n.NextAttempt.UTC(), orZero(n.SentAt), n.Created.UTC()
		return &n, nil
	})
}
