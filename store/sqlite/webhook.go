package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/refundry/refundry"
)

var _ refundry.Outbox = (*Store)(nil)

// CreateWebhookEndpoint stores a validated endpoint.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e *refundry.WebhookEndpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	events, err := json.Marshal(e.EnabledEvents)
	if err != nil {
		return err
	}
	return s.updateKeeping(ctx, func(tx *tx) error {
		if e.Status == "" {
			e.Status = refundry.EndpointEnabled
		}
		e.Created, e.Updated = tx.now, tx.now
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status,
			disabled_reason, failure_streak, failing_since, created, updated) VALUES (?, ?, ?, ?, ?, ?, '', 0, 0, ?, ?)`,
			e.ID, e.MerchantID, e.URL, string(events), e.Secret, e.Status, micros(tx.now), micros(tx.now))
		if err != nil {
			return err
		}
		return audit(ctx, tx, e.MerchantID, refundry.AuditWebhookCreate, e.ID)
	})
}

// FindWebhookEndpoint returns ENOTFOUND if there is no such endpoint.
func (s *Store) FindWebhookEndpoint(ctx context.Context, merchantID, id string) (e *refundry.WebhookEndpoint, err error) {
	err = s.view(ctx, func(tx *tx) error {
		e, err = findEndpoint(ctx, tx, merchantID, id)
		return err
	})
	return e, err
}

func findEndpoint(ctx context.Context, tx *tx, merchantID, id string) (*refundry.WebhookEndpoint, error) {
	es, err := queryEndpoints(ctx, tx, endpointColumns+` WHERE merchant_id = ? AND id = ?`, merchantID, id)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, notFound("webhook endpoint", id)
	}
	return es[0], nil
}

// ListWebhookEndpoints returns one page, newest first.
func (s *Store) ListWebhookEndpoints(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.WebhookEndpoint, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	// An account's endpoint is the account's, not one of the merchant's
	// webhooks.
	q.add("gateway_account = ''")
	tail := q.page("id", p)
	var es []*refundry.WebhookEndpoint
	err := s.view(ctx, func(tx *tx) (err error) {
		es, err = queryEndpoints(ctx, tx, endpointColumns+q.sql()+tail, q.args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	es, more := trim(es, p)
	return es, more, nil
}

// DeleteWebhookEndpoint deletes an endpoint with its deliveries and their
// attempts, in one transaction.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		if _, err := findEndpoint(ctx, tx, merchantID, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE endpoint_id = ?)`,
			`DELETE FROM deliveries WHERE endpoint_id = ?`,
			`DELETE FROM webhook_endpoints WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, merchantID, refundry.AuditWebhookDelete, id)
	})
}

// EnableWebhookEndpoint enables an endpoint and clears its failure streak.
func (s *Store) EnableWebhookEndpoint(ctx context.Context, merchantID, id string) (e *refundry.WebhookEndpoint, err error) {
	err = s.updateKeeping(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET status = 'enabled', disabled_reason = '', failure_streak = 0,
			failing_since = 0, updated = ? WHERE merchant_id = ? AND id = ?`, micros(tx.now), merchantID, id); err != nil {
			return err
		}
		if e, err = findEndpoint(ctx, tx, merchantID, id); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditWebhookEnable, id)
	})
	return e, err
}

const endpointColumns = `SELECT id, merchant_id, url, enabled_events, secret, status, disabled_reason, failure_streak,
	failing_since, created, updated, gateway_account FROM webhook_endpoints`

func queryEndpoints(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.WebhookEndpoint, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.WebhookEndpoint
	for rows.Next() {
		var e refundry.WebhookEndpoint
		var events string
		var failingSince, created, updated int64
		if err := rows.Scan(&e.ID, &e.MerchantID, &e.URL, &events, &e.Secret, &e.Status, &e.DisabledReason,
			&e.FailureStreak, &failingSince, &created, &updated, &e.GatewayAccount); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(events), &e.EnabledEvents); err != nil {
			return nil, err
		}
		if failingSince != 0 {
			e.FailingSince = fromMicros(failingSince)
		}
		e.Created, e.Updated = fromMicros(created), fromMicros(updated)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// DispatchEvents makes the deliveries of the events after the cursor,
// in the order they were committed, and moves the cursor past them: one
// UPDATE a pass, not one an event. The write lock is held from BEGIN
// IMMEDIATE, so two passes (in one process or two) run one after the
// other and the second starts where the first left off; and the unique
// (endpoint_id, event_id) would turn a delivery made twice into nothing.
func (s *Store) DispatchEvents(ctx context.Context, limit int) (n int, err error) {
	if limit <= 0 {
		limit = refundry.MaxPageLimit
	}
	err = s.updateKeeping(ctx, func(tx *tx) error {
		n = 0
		var cursor int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM event_cursor WHERE id = 1`).Scan(&cursor); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, id, merchant_id, type, object_id, created FROM events
			WHERE seq > ? ORDER BY seq LIMIT ?`, cursor, limit)
		if err != nil {
			return err
		}
		var events []refundry.Event
		for rows.Next() {
			var e refundry.Event
			var created int64
			if err := rows.Scan(&cursor, &e.ID, &e.MerchantID, &e.Type, &e.ObjectID, &created); err != nil {
				rows.Close()
				return err
			}
			e.Created = fromMicros(created)
			events = append(events, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		endpoints := map[string][]*refundry.WebhookEndpoint{} // by merchant, for this pass
		for _, e := range events {
			eps, ok := endpoints[e.MerchantID]
			if !ok {
				if eps, err = queryEndpoints(ctx, tx, endpointColumns+` WHERE merchant_id = ? AND status = 'enabled'`, e.MerchantID); err != nil {
					return err
				}
				endpoints[e.MerchantID] = eps
			}
			for _, ep := range eps {
				// An endpoint hears of what happened after it was made.
				if !ep.Wants(e.Type) || ep.Created.After(e.Created) {
					continue
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, merchant_id, endpoint_id, event_id, event_type,
					event_created, object_id, status, attempts, next_attempt, locked_until, delivered_at, created)
					VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, 0, 0, ?) ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
					refundry.NewID(), e.MerchantID, ep.ID, e.ID, e.Type, micros(e.Created), e.ObjectID, micros(tx.now), micros(tx.now)); err != nil {
					return err
				}
			}
			n++
		}
		// cursor is the seq of the last event read, the largest.
		_, err = tx.ExecContext(ctx, `UPDATE event_cursor SET seq = ? WHERE id = 1`, cursor)
		return err
	})
	return n, err
}

// ClaimDeliveries leases due deliveries; see refundry.Outbox.
func (s *Store) ClaimDeliveries(ctx context.Context, c refundry.Claim) (out []*refundry.Delivery, err error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	err = s.updateKeeping(ctx, func(tx *tx) error {
		out = nil
		now := micros(tx.now)
		busy := map[string]int{}
		if c.PerEndpoint > 0 {
			rows, err := tx.QueryContext(ctx, `SELECT endpoint_id, COUNT(*) FROM deliveries
				WHERE status = 'pending' AND locked_until > ? GROUP BY endpoint_id`, now)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					rows.Close()
					return err
				}
				busy[id] = n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		// Candidates beyond the limit, so that a busy endpoint's backlog
		// does not hide another endpoint's due deliveries from this pass.
		rows, err := tx.QueryContext(ctx, deliveryColumns("d")+` FROM deliveries d
			JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.status = 'pending' AND d.next_attempt <= ? AND d.locked_until <= ? AND w.status = 'enabled'
			AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.object_id = d.object_id
				AND p.status = 'pending' AND (p.event_created, p.event_id) < (d.event_created, d.event_id))
			ORDER BY d.next_attempt, d.event_created, d.event_id LIMIT ?`, now, now, c.Limit*4)
		if err != nil {
			return err
		}
		cands, err := scanDeliveries(rows)
		if err != nil {
			return err
		}
		until := micros(tx.now.Add(c.Lease))
		for _, d := range cands {
			if len(out) == c.Limit {
				break
			}
			if c.PerEndpoint > 0 && busy[d.EndpointID] >= c.PerEndpoint {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET locked_until = ? WHERE id = ?`, until, d.ID); err != nil {
				return err
			}
			busy[d.EndpointID]++
			out = append(out, d)
		}
		endpoints := map[string]*refundry.WebhookEndpoint{}
		for _, d := range out {
			if d.Endpoint = endpoints[d.EndpointID]; d.Endpoint == nil {
				if d.Endpoint, err = findEndpoint(ctx, tx, d.MerchantID, d.EndpointID); err != nil {
					return err
				}
				endpoints[d.EndpointID] = d.Endpoint
			}
			var ev refundry.Event
			var data string
			var created int64
			if err := tx.QueryRowContext(ctx, `SELECT id, merchant_id, type, object_type, object_id, data, created FROM events WHERE id = ?`,
				d.EventID).Scan(&ev.ID, &ev.MerchantID, &ev.Type, &ev.ObjectType, &ev.ObjectID, &data, &created); err != nil {
				return err
			}
			ev.Data, ev.Created = []byte(data), fromMicros(created)
			d.Event = &ev
		}
		return nil
	})
	return out, err
}

// RecordAttempt records one attempt and applies its policy.
func (s *Store) RecordAttempt(ctx context.Context, deliveryID string, r refundry.AttemptResult) (disabled bool, err error) {
	err = s.updateKeeping(ctx, func(tx *tx) error {
		disabled = false
		var endpointID string
		if err := tx.QueryRowContext(ctx, `SELECT endpoint_id FROM deliveries WHERE id = ?`, deliveryID).Scan(&endpointID); errors.Is(err, sql.ErrNoRows) {
			return notFound("delivery", deliveryID)
		} else if err != nil {
			return err
		}
		a := r.Attempt
		a.ID, a.DeliveryID, a.Created = refundry.NewID(), deliveryID, tx.now
		a.Response = excerpt(a.Response)
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (id, delivery_id, status_code, latency_ms, response, error, created)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.ID, a.DeliveryID, a.StatusCode, a.LatencyMS, a.Response, a.Error, micros(a.Created)); err != nil {
			return err
		}
		now := micros(tx.now)
		if a.OK() {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, locked_until = 0,
				delivered_at = ? WHERE id = ?`, now, deliveryID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failure_streak = 0, failing_since = 0 WHERE id = ?`, endpointID)
			return err
		}
		status, next := refundry.DeliveryPending, micros(utc(r.Retry))
		if r.Retry.IsZero() {
			status, next = refundry.DeliveryFailed, now
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, locked_until = 0,
			next_attempt = ? WHERE id = ?`, status, next, deliveryID); err != nil {
			return err
		}
		var streak int
		var since int64
		if err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET failure_streak = failure_streak + 1,
			failing_since = CASE WHEN failing_since = 0 THEN ? ELSE failing_since END WHERE id = ?
			RETURNING failure_streak, failing_since`, now, endpointID).Scan(&streak, &since); err != nil {
			return err
		}
		if r.DisableAfterFailures > 0 && streak >= r.DisableAfterFailures && tx.now.Sub(fromMicros(since)) >= r.DisableAfter {
			reason := refundry.DisabledReason(streak, fromMicros(since))
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = ?, updated = ?
				WHERE id = ? AND status = 'enabled'`, reason, now, endpointID); err != nil {
				return err
			}
			disabled = true
		}
		return nil
	})
	return disabled, err
}

// ListDeliveries returns one page of an endpoint's deliveries with their
// attempts.
func (s *Store) ListDeliveries(ctx context.Context, merchantID, endpointID string, p refundry.Page) ([]*refundry.Delivery, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	q.add("endpoint_id = ?", endpointID)
	tail := q.page("id", p)
	var ds []*refundry.Delivery
	err := s.view(ctx, func(tx *tx) error {
		if _, err := findEndpoint(ctx, tx, merchantID, endpointID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, deliveryColumns("deliveries")+` FROM deliveries`+q.sql()+tail, q.args...)
		if err != nil {
			return err
		}
		if ds, err = scanDeliveries(rows); err != nil {
			return err
		}
		for _, d := range ds {
			if d.History, err = attempts(ctx, tx, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	ds, more := trim(ds, p)
	return ds, more, nil
}

func attempts(ctx context.Context, tx *tx, deliveryID string) ([]*refundry.DeliveryAttempt, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, delivery_id, status_code, latency_ms, response, error, created
		FROM delivery_attempts WHERE delivery_id = ? ORDER BY id DESC`, deliveryID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*refundry.DeliveryAttempt{}
	for rows.Next() {
		var a refundry.DeliveryAttempt
		var created int64
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.StatusCode, &a.LatencyMS, &a.Response, &a.Error, &created); err != nil {
			return nil, err
		}
		a.Created = fromMicros(created)
		out = append(out, &a)
	}
	return out, rows.Err()
}

// ReplayDelivery makes a delivery pending and due now.
func (s *Store) ReplayDelivery(ctx context.Context, merchantID, endpointID, deliveryID string) (d *refundry.Delivery, err error) {
	err = s.updateKeeping(ctx, func(tx *tx) error {
		ep, err := findEndpoint(ctx, tx, merchantID, endpointID)
		if err != nil {
			return err
		}
		if ep.Status != refundry.EndpointEnabled {
			return refundry.Errorf(refundry.ECONFLICT, "The webhook endpoint is disabled; enable it before replaying.")
		}
		rows, err := tx.QueryContext(ctx, deliveryColumns("deliveries")+` FROM deliveries WHERE merchant_id = ? AND endpoint_id = ? AND id = ?`,
			merchantID, endpointID, deliveryID)
		if err != nil {
			return err
		}
		ds, err := scanDeliveries(rows)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return notFound("delivery", deliveryID)
		}
		var lockedUntil int64
		if err := tx.QueryRowContext(ctx, `SELECT locked_until FROM deliveries WHERE id = ?`, deliveryID).Scan(&lockedUntil); err != nil {
			return err
		}
		if ds[0].Status == refundry.DeliveryPending && lockedUntil > micros(tx.now) {
			return refundry.Errorf(refundry.ECONFLICT, "The delivery is being attempted now; replay it once that attempt ends.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', next_attempt = ?, delivered_at = 0 WHERE id = ?`,
			micros(tx.now), deliveryID); err != nil {
			return err
		}
		d = ds[0]
		d.Status, d.NextAttempt, d.DeliveredAt = refundry.DeliveryPending, tx.now, time.Time{}
		if d.History, err = attempts(ctx, tx, d.ID); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditDeliveryReplay, deliveryID)
	})
	return d, err
}

func deliveryColumns(t string) string {
	return `SELECT ` + t + `.id, ` + t + `.merchant_id, ` + t + `.endpoint_id, ` + t + `.event_id, ` + t + `.event_type, ` +
		t + `.object_id, ` + t + `.status, ` + t + `.attempts, ` + t + `.next_attempt, ` + t + `.delivered_at, ` + t + `.created`
}

func scanDeliveries(rows *sql.Rows) ([]*refundry.Delivery, error) {
	defer rows.Close()
	var out []*refundry.Delivery
	for rows.Next() {
		var d refundry.Delivery
		var next, delivered, created int64
		if err := rows.Scan(&d.ID, &d.MerchantID, &d.EndpointID, &d.EventID, &d.EventType, &d.ObjectID, &d.Status,
			&d.Attempts, &next, &delivered, &created); err != nil {
			return nil, err
		}
		d.NextAttempt, d.Created = fromMicros(next), fromMicros(created)
		if delivered != 0 {
			d.DeliveredAt = fromMicros(delivered)
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

// excerpt cuts a response body to what an attempt keeps, on a UTF-8
// boundary and without NUL bytes, so both stores keep it alike.
func excerpt(s string) string {
	return refundry.Excerpt(s, refundry.MaxResponseExcerpt)
}

// OldestUndelivered reads the outbox's lag. 'pending' and 'unsent' are
// spelled out so that SQLite can use the partial indexes on due rows.
func (s *Store) OldestUndelivered(ctx context.Context) (delivery, notification time.Time, err error) {
	err = s.view(ctx, func(tx *tx) error {
		var d, n sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(d.created) FROM deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.status = 'pending' AND e.status = 'enabled'`).Scan(&d); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT MIN(created) FROM notifications WHERE status = 'unsent'`).Scan(&n); err != nil {
			return err
		}
		if d.Valid {
			delivery = fromMicros(d.Int64)
		}
		if n.Valid {
			notification = fromMicros(n.Int64)
		}
		return nil
	})
	return delivery, notification, err
}
