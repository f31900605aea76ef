package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/refundry/refundry"
)

var _ refundry.InboxStore = (*Store)(nil)

// ReceiveGatewayEvent stores ev unless its gateway sent that event id
// before. It is one write transaction through the one writer; with
// synchronous=FULL its commit is on disk when it returns, so the gateway
// is acknowledged only after that.
func (s *Store) ReceiveGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) (duplicate bool, err error) {
	if ev.ID == "" {
		ev.ID = refundry.NewID()
	}
	err = s.updateKeeping(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO gateway_events (id, gateway, event_id, type, payload, received)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, event_id) DO NOTHING`,
			ev.ID, ev.Gateway, ev.EventID, ev.Type, []byte(ev.Payload), micros(tx.now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			duplicate = false
			ev.Received = tx.now
			return nil
		}
		// Stored before: the answer names the first copy, which alone counts.
		duplicate = true
		var received int64
		if err := tx.QueryRowContext(ctx, `SELECT id, received FROM gateway_events WHERE gateway = ? AND event_id = ?`,
			ev.Gateway, ev.EventID).Scan(&ev.ID, &received); err != nil {
			return err
		}
		ev.Received = fromMicros(received)
		return nil
	})
	return duplicate, err
}

const gatewayEventColumns = `SELECT id, gateway, event_id, type, payload, received, applied, outcome, detail, merchant_id, attempts
	FROM gateway_events`

// ClaimGatewayEvents leases the oldest unapplied events. It runs as one
// write transaction, so two processes on one file never claim an event
// twice within its lease.
func (s *Store) ClaimGatewayEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*refundry.GatewayEvent, error) {
	if limit <= 0 {
		return []*refundry.GatewayEvent{}, nil
	}
	var out []*refundry.GatewayEvent
	err := s.updateKeeping(ctx, func(tx *tx) error {
		evs, err := queryGatewayEvents(ctx, tx, gatewayEventColumns+` INDEXED BY gateway_events_unapplied
			WHERE applied IS NULL AND lease_until <= ? ORDER BY received, id LIMIT ?`, micros(utc(now)), limit)
		if err != nil {
			return err
		}
		until := micros(utc(now.Add(lease)))
		for _, ev := range evs {
			if _, err := tx.ExecContext(ctx, `UPDATE gateway_events SET lease_until = ?, attempts = attempts + 1 WHERE id = ?`,
				until, ev.ID); err != nil {
				return err
			}
			ev.Attempts++
		}
		out = evs
		return nil
	})
	if out == nil {
		out = []*refundry.GatewayEvent{}
	}
	return out, err
}

// FinishGatewayEvent records the outcome of an event applied. An event
// finished already keeps its first outcome: a worker whose lease ran out
// while it applied must not overwrite the one that took over.
func (s *Store) FinishGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		if ev.Applied.IsZero() {
			ev.Applied = tx.now
		}
		res, err := tx.ExecContext(ctx, `UPDATE gateway_events SET applied = ?, outcome = ?, detail = ?, merchant_id = ?, lease_until = 0
			WHERE id = ? AND applied IS NULL`, micros(utc(ev.Applied)), ev.Outcome, ev.Detail, ev.MerchantID, ev.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var applied int64
			err := tx.QueryRowContext(ctx, `SELECT applied FROM gateway_events WHERE id = ?`, ev.ID).Scan(&applied)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("gateway event", ev.ID)
			}
			return err
		}
		return nil
	})
}

// CountGatewayEvents counts events by outcome, "" for those not applied.
func (s *Store) CountGatewayEvents(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT CASE WHEN applied IS NULL THEN '' ELSE outcome END, COUNT(*)
			FROM gateway_events GROUP BY 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var outcome string
			var n int64
			if err := rows.Scan(&outcome, &n); err != nil {
				return err
			}
			out[outcome] += n
		}
		return rows.Err()
	})
	return out, err
}

func queryGatewayEvents(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.GatewayEvent, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.GatewayEvent
	for rows.Next() {
		var ev refundry.GatewayEvent
		var payload []byte
		var received int64
		var applied sql.NullInt64
		if err := rows.Scan(&ev.ID, &ev.Gateway, &ev.EventID, &ev.Type, &payload, &received, &applied,
			&ev.Outcome, &ev.Detail, &ev.MerchantID, &ev.Attempts); err != nil {
			return nil, err
		}
		ev.Payload = payload
		ev.Received = fromMicros(received)
		if applied.Valid {
			ev.Applied = fromMicros(applied.Int64)
		}
		out = append(out, &ev)
	}
	return out, rows.Err()
}
