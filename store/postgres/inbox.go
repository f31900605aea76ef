package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

var _ refundry.InboxStore = (*Store)(nil)

// ReceiveGatewayEvent stores ev unless its gateway sent that event id
// before, in one transaction of its own: an inbound event is rare beside
// refunds, and keeping it out of group commit keeps the commit that
// acknowledges it plain. Commit returns once the WAL is flushed (Open
// checks synchronous_commit), so the gateway is acknowledged only after.
func (s *Store) ReceiveGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) (bool, error) {
	id := ev.ID
	if id == "" {
		id = refundry.NewID()
	}
	var (
		duplicate bool
		storedID  string
		received  time.Time
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		err := tx.QueryRow(ctx, `INSERT INTO gateway_events (id, gateway, event_id, type, payload, received)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (gateway, event_id) DO NOTHING RETURNING id, received`,
			id, ev.Gateway, ev.EventID, ev.Type, []byte(ev.Payload), now).Scan(&storedID, &received)
		if err == nil {
			duplicate = false
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Stored before: the answer names the first copy, which alone counts.
		duplicate = true
		return tx.QueryRow(ctx, `SELECT id, received FROM gateway_events WHERE gateway = $1 AND event_id = $2`,
			ev.Gateway, ev.EventID).Scan(&storedID, &received)
	})
	if err != nil {
		return false, err
	}
	ev.ID, ev.Received = storedID, received.UTC()
	return duplicate, nil
}

// claimGatewayEvents leases the oldest unapplied events whose lease ran
// out, skipping rows another process's claim holds locked, so that two
// serve nodes share the inbox instead of applying an event twice at once.
const claimGatewayEvents = `WITH c AS (
	SELECT id FROM gateway_events
	WHERE applied IS NULL AND lease_until <= $1
	ORDER BY received, id LIMIT $2
	FOR UPDATE SKIP LOCKED
)
UPDATE gateway_events g SET lease_until = $3, attempts = g.attempts + 1
FROM c WHERE g.id = c.id
RETURNING ` + "g.id, g.gateway, g.event_id, g.type, g.payload, g.received, g.applied, g.outcome, g.detail, g.merchant_id, g.attempts"

// ClaimGatewayEvents leases up to limit events, oldest first.
func (s *Store) ClaimGatewayEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*refundry.GatewayEvent, error) {
	if limit <= 0 {
		return []*refundry.GatewayEvent{}, nil
	}
	var out []*refundry.GatewayEvent
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimGatewayEvents, normTime(now), limit, normTime(now.Add(lease)))
		if err != nil {
			return err
		}
		evs, err := collectGatewayEvents(rows)
		if err != nil {
			return err
		}
		// RETURNING keeps no order: put the oldest first again.
		slices.SortFunc(evs, func(a, b *refundry.GatewayEvent) int {
			if c := a.Received.Compare(b.Received); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		out = evs
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishGatewayEvent records the outcome of an event applied. An event
// finished already keeps its first outcome: a worker whose lease ran out
// while it applied must not overwrite the one that took over.
func (s *Store) FinishGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) error {
	applied := ev.Applied
	if applied.IsZero() {
		applied = s.now()
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE gateway_events SET applied = $1, outcome = $2, detail = $3, merchant_id = $4, lease_until = 'epoch'
			WHERE id = $5 AND applied IS NULL`, normTime(applied), ev.Outcome, ev.Detail, ev.MerchantID, ev.ID)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM gateway_events WHERE id = $1`, ev.ID).Scan(&one)
		return notFound(err, "No such gateway event: %s", ev.ID)
	})
	if err == nil {
		ev.Applied = normTime(applied)
	}
	return err
}

// CountGatewayEvents counts events by outcome, "" for those not applied.
func (s *Store) CountGatewayEvents(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		clear(out)
		rows, err := tx.Query(ctx, `SELECT CASE WHEN applied IS NULL THEN '' ELSE outcome END, COUNT(*)
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
	if err != nil {
		return nil, err
	}
	return out, nil
}

func collectGatewayEvents(rows pgx.Rows) ([]*refundry.GatewayEvent, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.GatewayEvent, error) {
		var ev refundry.GatewayEvent
		var payload []byte
		var applied *time.Time
		if err := row.Scan(&ev.ID, &ev.Gateway, &ev.EventID, &ev.Type, &payload, &ev.Received, &applied,
			&ev.Outcome, &ev.Detail, &ev.MerchantID, &ev.Attempts); err != nil {
			return nil, err
		}
		ev.Payload = payload
		ev.Received = ev.Received.UTC()
		if applied != nil {
			ev.Applied = applied.UTC()
		}
		return &ev, nil
	})
}
