package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

var _ refundry.Outbox = (*Store)(nil)

// never is the stored form of "not yet" in the outbox's time columns: the
// epoch, so that every comparison is NULL-free as in the SQLite schema.
var never = time.Unix(0, 0).UTC()

func orZero(t time.Time) time.Time {
	if t.Equal(never) {
		return time.Time{}
	}
	return t.UTC()
}

// CreateWebhookEndpoint stores a validated endpoint.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e *refundry.WebhookEndpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	events, err := json.Marshal(e.EnabledEvents)
	if err != nil {
		return err
	}
	now := s.now()
	status := e.Status
	if status == "" {
		status = refundry.EndpointEnabled
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status,
			disabled_reason, failure_streak, failing_since, created, updated) VALUES ($1, $2, $3, $4, $5, $6, '', 0, $7, $8, $8)`,
			e.ID, e.MerchantID, e.URL, string(events), e.Secret, status, never, now)
		if err != nil {
			return err
		}
		return audit(ctx, tx, e.MerchantID, refundry.AuditWebhookCreate, now, e.ID)
	})
	if err != nil {
		return err
	}
	e.Status, e.Created, e.Updated = status, now, now
	return nil
}

// FindWebhookEndpoint returns ENOTFOUND if there is no such endpoint.
func (s *Store) FindWebhookEndpoint(ctx context.Context, merchantID, id string) (e *refundry.WebhookEndpoint, err error) {
	err = s.read(ctx, func(tx pgx.Tx) error {
		e, err = findEndpoint(ctx, tx, merchantID, id)
		return err
	})
	return e, err
}

func findEndpoint(ctx context.Context, tx pgx.Tx, merchantID, id string) (*refundry.WebhookEndpoint, error) {
	es, err := queryEndpoints(ctx, tx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2`, merchantID, id)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such webhook endpoint: %s", id)
	}
	return es[0], nil
}

// ListWebhookEndpoints returns one page, newest first.
func (s *Store) ListWebhookEndpoints(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.WebhookEndpoint, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	// An account's endpoint is the account's, not one of the merchant's
	// webhooks.
	w.add("gateway_account = $%d", "")
	q := `SELECT ` + endpointColumns + ` FROM webhook_endpoints WHERE ` + w.page("id", p)
	var out []*refundry.WebhookEndpoint
	var more bool
	err := s.read(ctx, func(tx pgx.Tx) error {
		es, err := queryEndpoints(ctx, tx, q, w.args...)
		out, more = trimPage(es, p)
		return err
	})
	return out, more, err
}

// DeleteWebhookEndpoint deletes an endpoint with its deliveries and their
// attempts, in one transaction.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := findEndpoint(ctx, tx, merchantID, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE endpoint_id = $1)`,
			`DELETE FROM deliveries WHERE endpoint_id = $1`,
			`DELETE FROM webhook_endpoints WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, merchantID, refundry.AuditWebhookDelete, s.now(), id)
	})
}

// EnableWebhookEndpoint enables an endpoint and clears its failure streak.
func (s *Store) EnableWebhookEndpoint(ctx context.Context, merchantID, id string) (e *refundry.WebhookEndpoint, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = 'enabled', disabled_reason = '', failure_streak = 0,
			failing_since = $1, updated = $2 WHERE merchant_id = $3 AND id = $4`, never, s.now(), merchantID, id); err != nil {
			return err
		}
		if e, err = findEndpoint(ctx, tx, merchantID, id); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditWebhookEnable, s.now(), id)
	})
	return e, err
}

const endpointColumns = `id, merchant_id, url, enabled_events, secret, status, disabled_reason, failure_streak,
	failing_since, created, updated, gateway_account`

func queryEndpoints(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]*refundry.WebhookEndpoint, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.WebhookEndpoint, error) {
		var e refundry.WebhookEndpoint
		var events string
		if err := row.Scan(&e.ID, &e.MerchantID, &e.URL, &events, &e.Secret, &e.Status, &e.DisabledReason,
			&e.FailureStreak, &e.FailingSince, &e.Created, &e.Updated, &e.GatewayAccount); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(events), &e.EnabledEvents); err != nil {
			return nil, err
		}
		e.FailingSince, e.Created, e.Updated = orZero(e.FailingSince), e.Created.UTC(), e.Updated.UTC()
		return &e, nil
	})
}

// DispatchEvents makes the deliveries of the events after the cursor
// (migration 0021), up to limit, and moves the cursor past them: one
// INSERT of every delivery of the pass and one UPDATE of the cursor, and
// no write at all to the events.
//
// The events are read, with the cursor, without a lock, so that a pass
// that finds nothing writes nothing: it takes no transaction id and
// commits without a flush of the WAL. A pass that finds events then
// moves the cursor on only from the pass it read: the UPDATE waits for
// another process's pass to end and then matches no row, and this pass
// gives way (at SERIALIZABLE it fails and is retried), so two processes
// never dispatch the same events. The unique (endpoint_id, event_id)
// would turn a delivery made twice into nothing in any case.
func (s *Store) DispatchEvents(ctx context.Context, limit int) (n int, err error) {
	if limit <= 0 {
		limit = refundry.MaxPageLimit
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		n = 0
		now := s.now()
		// The events of the transactions visible in upto and not in
		// done: upto is this statement's snapshot unless a pass cut
		// short left one. Every event of a transaction visible in a
		// snapshot is visible to the statements that follow it. The
		// bounds on xid only narrow the scan to where such events lie.
		rows, err := tx.Query(ctx, `SELECT c.pass, s.upto::text, e.xid::text, e.id, e.merchant_id, e.type, e.object_id, e.created
			FROM event_cursor c
			CROSS JOIN LATERAL (SELECT COALESCE(c.upto, pg_current_snapshot()) AS upto) s
			JOIN LATERAL (SELECT * FROM events e
				WHERE e.xid >= pg_snapshot_xmin(c.done) AND e.xid < pg_snapshot_xmax(s.upto)
				AND (e.xid, e.created, e.id) > (c.xid, c.created, c.event_id)
				AND pg_visible_in_snapshot(e.xid, s.upto) AND NOT pg_visible_in_snapshot(e.xid, c.done)
				ORDER BY e.xid, e.created, e.id LIMIT $1) e ON true
			WHERE c.id = 1`, limit+1)
		if err != nil {
			return err
		}
		type read struct {
			refundry.Event
			xid string
		}
		var pass int64
		var upto string
		events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (read, error) {
			var e read
			err := row.Scan(&pass, &upto, &e.xid, &e.ID, &e.MerchantID, &e.Type, &e.ObjectID, &e.Created)
			return e, err
		})
		if err != nil || len(events) == 0 {
			return err
		}
		// A pass the limit did not cut short has read every event of
		// upto, which becomes done; otherwise the next pass goes on after
		// the last event read, since the rest of its transaction's events
		// may follow. The one event read past the limit tells the two
		// apart, so that a pass left cut short always has an event to
		// read, and the pass that reads the last one makes upto done.
		q, args := `UPDATE event_cursor SET pass = pass + 1, done = $1::pg_snapshot, upto = NULL,
			xid = '0', created = '-infinity', event_id = '' WHERE id = 1 AND pass = $2`, []any{upto, pass}
		if len(events) > limit {
			events = events[:limit]
			last := events[len(events)-1]
			q, args = `UPDATE event_cursor SET pass = pass + 1, upto = $1::pg_snapshot,
				xid = $3::xid8, created = $4, event_id = $5 WHERE id = 1 AND pass = $2`, append(args, last.xid, last.Created, last.ID)
		}
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return nil // another process dispatched these events first
		}
		endpoints := map[string][]*refundry.WebhookEndpoint{} // by merchant, for this pass
		var d struct {
			ids, merchants, endpoints, events, types, objects []string
			created                                           []time.Time
		}
		for _, e := range events {
			eps, ok := endpoints[e.MerchantID]
			if !ok {
				if eps, err = queryEndpoints(ctx, tx, `SELECT `+endpointColumns+` FROM webhook_endpoints
					WHERE merchant_id = $1 AND status = 'enabled' ORDER BY id`, e.MerchantID); err != nil {
					return err
				}
				endpoints[e.MerchantID] = eps
			}
			for _, ep := range eps {
				// An endpoint hears of what happened after it was made.
				if !ep.Wants(e.Type) || ep.Created.After(e.Created) {
					continue
				}
				d.ids = append(d.ids, refundry.NewID())
				d.merchants = append(d.merchants, e.MerchantID)
				d.endpoints = append(d.endpoints, ep.ID)
				d.events = append(d.events, e.ID)
				d.types = append(d.types, e.Type)
				d.objects = append(d.objects, e.ObjectID)
				d.created = append(d.created, e.Created)
			}
		}
		if len(d.ids) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO deliveries (id, merchant_id, endpoint_id, event_id, event_type,
				event_created, object_id, status, attempts, next_attempt, locked_until, delivered_at, created)
				SELECT u.id, u.merchant_id, u.endpoint_id, u.event_id, u.event_type, u.event_created, u.object_id,
					'pending', 0, $8, $9, $9, $8
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
					WITH ORDINALITY AS u(id, merchant_id, endpoint_id, event_id, event_type, event_created, object_id, n)
				ORDER BY u.n
				ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
				d.ids, d.merchants, d.endpoints, d.events, d.types, d.created, d.objects, now, never); err != nil {
				return err
			}
		}
		n = len(events)
		return nil
	})
	return n, err
}

// ClaimDeliveries leases due deliveries; see refundry.Outbox. Each lease
// is a conditional update, so two processes never lease one delivery; at
// READ COMMITTED the per-endpoint bound may be passed by the claims of
// processes racing each other, never by one process.
func (s *Store) ClaimDeliveries(ctx context.Context, c refundry.Claim) (out []*refundry.Delivery, err error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		now := s.now()
		busy := map[string]int{}
		if c.PerEndpoint > 0 {
			rows, err := tx.Query(ctx, `SELECT endpoint_id, COUNT(*) FROM deliveries
				WHERE status = 'pending' AND locked_until > $1 GROUP BY endpoint_id`, now)
			if err != nil {
				return err
			}
			var id string
			var n int
			if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { busy[id] = n; return nil }); err != nil {
				return err
			}
		}
		// Candidates beyond the limit, so that a busy endpoint's backlog
		// does not hide another endpoint's due deliveries from this pass.
		rows, err := tx.Query(ctx, `SELECT `+deliveryColumns("d")+` FROM deliveries d
			JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.status = 'pending' AND d.next_attempt <= $1 AND d.locked_until <= $1 AND w.status = 'enabled'
			AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.object_id = d.object_id
				AND p.status = 'pending' AND (p.event_created, p.event_id) < (d.event_created, d.event_id))
			ORDER BY d.next_attempt, d.event_created, d.event_id LIMIT $2`, now, c.Limit*4)
		if err != nil {
			return err
		}
		cands, err := collectDeliveries(rows)
		if err != nil {
			return err
		}
		until := now.Add(c.Lease)
		for _, d := range cands {
			if len(out) == c.Limit {
				break
			}
			if c.PerEndpoint > 0 && busy[d.EndpointID] >= c.PerEndpoint {
				continue
			}
			tag, err := tx.Exec(ctx, `UPDATE deliveries SET locked_until = $1 WHERE id = $2 AND status = 'pending' AND locked_until <= $3`,
				until, d.ID, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				continue // another process leased it first
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
			ev := &refundry.Event{}
			var data string
			if err := tx.QueryRow(ctx, `SELECT id, merchant_id, type, object_type, object_id, data, created FROM events WHERE id = $1`,
				d.EventID).Scan(&ev.ID, &ev.MerchantID, &ev.Type, &ev.ObjectType, &ev.ObjectID, &data, &ev.Created); err != nil {
				return err
			}
			ev.Data, ev.Created = json.RawMessage(data), ev.Created.UTC()
			d.Event = ev
		}
		return nil
	})
	return out, err
}

// RecordAttempt records one attempt and applies its policy.
func (s *Store) RecordAttempt(ctx context.Context, deliveryID string, r refundry.AttemptResult) (disabled bool, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		disabled = false
		now := s.now()
		var endpointID string
		if err := tx.QueryRow(ctx, `SELECT endpoint_id FROM deliveries WHERE id = $1 FOR UPDATE`, deliveryID).Scan(&endpointID); err != nil {
			return notFound(err, "No such delivery: %s", deliveryID)
		}
		a := r.Attempt
		if _, err := tx.Exec(ctx, `INSERT INTO delivery_attempts (id, delivery_id, status_code, latency_ms, response, error, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, refundry.NewID(), deliveryID, a.StatusCode, a.LatencyMS,
			refundry.Excerpt(a.Response, refundry.MaxResponseExcerpt), refundry.Excerpt(a.Error, refundry.MaxResponseExcerpt), now); err != nil {
			return err
		}
		if a.OK() {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, locked_until = $1,
				delivered_at = $2 WHERE id = $3`, never, now, deliveryID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET failure_streak = 0, failing_since = $1 WHERE id = $2`, never, endpointID)
			return err
		}
		status, next := refundry.DeliveryPending, normTime(r.Retry)
		if r.Retry.IsZero() {
			status, next = refundry.DeliveryFailed, now
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = $1, attempts = attempts + 1, locked_until = $2,
			next_attempt = $3 WHERE id = $4`, status, never, next, deliveryID); err != nil {
			return err
		}
		var streak int
		var since time.Time
		if err := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET failure_streak = failure_streak + 1,
			failing_since = CASE WHEN failing_since = $1 THEN $2 ELSE failing_since END WHERE id = $3
			RETURNING failure_streak, failing_since`, never, now, endpointID).Scan(&streak, &since); err != nil {
			return err
		}
		if r.DisableAfterFailures > 0 && streak >= r.DisableAfterFailures && now.Sub(since) >= r.DisableAfter {
			if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $1, updated = $2
				WHERE id = $3 AND status = 'enabled'`, refundry.DisabledReason(streak, since), now, endpointID); err != nil {
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
	w := newWhere("merchant_id", merchantID)
	w.add("endpoint_id = $%d", endpointID)
	q := `SELECT ` + deliveryColumns("deliveries") + ` FROM deliveries WHERE ` + w.page("id", p)
	var out []*refundry.Delivery
	var more bool
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := findEndpoint(ctx, tx, merchantID, endpointID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, q, w.args...)
		if err != nil {
			return err
		}
		ds, err := collectDeliveries(rows)
		if err != nil {
			return err
		}
		out, more = trimPage(ds, p)
		for _, d := range out {
			if d.History, err = attempts(ctx, tx, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, more, err
}

func attempts(ctx context.Context, tx pgx.Tx, deliveryID string) ([]*refundry.DeliveryAttempt, error) {
	rows, err := tx.Query(ctx, `SELECT id, delivery_id, status_code, latency_ms, response, error, created
		FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id DESC`, deliveryID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.DeliveryAttempt, error) {
		var a refundry.DeliveryAttempt
		err := row.Scan(&a.ID, &a.DeliveryID, &a.StatusCode, &a.LatencyMS, &a.Response, &a.Error, &a.Created)
		a.Created = a.Created.UTC()
		return &a, err
	})
	if out == nil {
		out = []*refundry.DeliveryAttempt{}
	}
	return out, err
}

// ReplayDelivery makes a delivery pending and due now.
func (s *Store) ReplayDelivery(ctx context.Context, merchantID, endpointID, deliveryID string) (d *refundry.Delivery, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		d = nil
		now := s.now()
		ep, err := findEndpoint(ctx, tx, merchantID, endpointID)
		if err != nil {
			return err
		}
		if ep.Status != refundry.EndpointEnabled {
			return refundry.Errorf(refundry.ECONFLICT, "The webhook endpoint is disabled; enable it before replaying.")
		}
		rows, err := tx.Query(ctx, `SELECT `+deliveryColumns("deliveries")+`, locked_until FROM deliveries
			WHERE merchant_id = $1 AND endpoint_id = $2 AND id = $3 FOR UPDATE`, merchantID, endpointID, deliveryID)
		if err != nil {
			return err
		}
		var locked []time.Time
		ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Delivery, error) {
			var until time.Time
			d, err := scanDelivery(row, &until)
			locked = append(locked, until)
			return d, err
		})
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return refundry.Errorf(refundry.ENOTFOUND, "No such delivery: %s", deliveryID)
		}
		if ds[0].Status == refundry.DeliveryPending && locked[0].After(now) {
			return refundry.Errorf(refundry.ECONFLICT, "The delivery is being attempted now; replay it once that attempt ends.")
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', next_attempt = $1, delivered_at = $2 WHERE id = $3`,
			now, never, deliveryID); err != nil {
			return err
		}
		d = ds[0]
		d.Status, d.NextAttempt, d.DeliveredAt = refundry.DeliveryPending, now, time.Time{}
		if d.History, err = attempts(ctx, tx, d.ID); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditDeliveryReplay, now, deliveryID)
	})
	return d, err
}

func deliveryColumns(t string) string {
	return t + `.id, ` + t + `.merchant_id, ` + t + `.endpoint_id, ` + t + `.event_id, ` + t + `.event_type, ` +
		t + `.object_id, ` + t + `.status, ` + t + `.attempts, ` + t + `.next_attempt, ` + t + `.delivered_at, ` + t + `.created`
}

func scanDelivery(row pgx.CollectableRow, extra ...any) (*refundry.Delivery, error) {
	var d refundry.Delivery
	dest := append([]any{&d.ID, &d.MerchantID, &d.EndpointID, &d.EventID, &d.EventType, &d.ObjectID, &d.Status,
		&d.Attempts, &d.NextAttempt, &d.DeliveredAt, &d.Created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	d.NextAttempt, d.DeliveredAt, d.Created = d.NextAttempt.UTC(), orZero(d.DeliveredAt), d.Created.UTC()
	return &d, nil
}

func collectDeliveries(rows pgx.Rows) ([]*refundry.Delivery, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Delivery, error) { return scanDelivery(row) })
}

// OldestUndelivered reads the outbox's lag, both ages in one statement so
// that they come from one snapshot.
func (s *Store) OldestUndelivered(ctx context.Context) (delivery, notification time.Time, err error) {
	var d, n *time.Time
	err = s.reads().QueryRow(ctx, `SELECT
		(SELECT MIN(d.created) FROM deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.status = 'pending' AND e.status = 'enabled'),
		(SELECT MIN(created) FROM notifications WHERE status = 'unsent')`).Scan(&d, &n)
	if err != nil {
		return time.Time{}, time.Time{}, translate(err)
	}
	if d != nil {
		delivery = d.UTC()
	}
	if n != nil {
		notification = n.UTC()
	}
	return delivery, notification, nil
}
