-- What leaves Refundry: webhook endpoints, their deliveries and attempts,
-- and customer notifications. Same portability rules as 0001: standard SQL,
-- ON CONFLICT and partial indexes only. The zero time (epoch) stands for
-- "never" in locked_until, failing_since, delivered_at and sent_at, so
-- every comparison stays NULL-free, as in the SQLite schema.

-- dispatched marks an event whose deliveries exist. The delivery worker
-- finds undispatched events through the partial index, so an event whose
-- transaction committed late is dispatched on the next pass rather than
-- skipped by a cursor that moved past its id (ids from two processes need
-- not commit in order). Events older than this migration had no endpoint.
ALTER TABLE events ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT false;
UPDATE events SET dispatched = true;
CREATE INDEX events_undispatched_idx ON events (created, id) WHERE NOT dispatched;

CREATE TABLE webhook_endpoints (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL REFERENCES merchants (id),
	url             TEXT NOT NULL,
	enabled_events  TEXT NOT NULL, -- JSON array of types
	secret          TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
	disabled_reason TEXT NOT NULL,
	failure_streak  INTEGER NOT NULL,
	failing_since   TIMESTAMPTZ NOT NULL,
	created         TIMESTAMPTZ NOT NULL,
	updated         TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_merchant_idx ON webhook_endpoints (merchant_id, id);

-- One delivery per event and endpoint: the unique key makes dispatching
-- idempotent across retries and processes.
CREATE TABLE deliveries (
	id            TEXT PRIMARY KEY,
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints (id),
	event_id      TEXT NOT NULL REFERENCES events (id),
	event_type    TEXT NOT NULL,
	event_created TIMESTAMPTZ NOT NULL,
	object_id     TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts      INTEGER NOT NULL,
	next_attempt  TIMESTAMPTZ NOT NULL,
	locked_until  TIMESTAMPTZ NOT NULL,
	delivered_at  TIMESTAMPTZ NOT NULL,
	created       TIMESTAMPTZ NOT NULL,
	CONSTRAINT deliveries_event_key UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt) WHERE status = 'pending';
-- The order-per-object check looks for an earlier pending delivery here.
CREATE INDEX deliveries_object_idx ON deliveries (endpoint_id, object_id, event_created, event_id) WHERE status = 'pending';

CREATE TABLE delivery_attempts (
	id          TEXT PRIMARY KEY,
	delivery_id TEXT NOT NULL REFERENCES deliveries (id),
	status_code INTEGER NOT NULL,
	latency_ms  BIGINT NOT NULL,
	response    TEXT NOT NULL,
	error       TEXT NOT NULL,
	created     TIMESTAMPTZ NOT NULL
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);

-- A customer notice is written in the transaction that makes its refund
-- succeed; the unique refund_id makes it one per refund, whatever retries.
CREATE TABLE notifications (
	id             TEXT PRIMARY KEY,
	merchant_id    TEXT NOT NULL REFERENCES merchants (id),
	refund_id      TEXT NOT NULL REFERENCES refunds (id),
	sale_id        TEXT NOT NULL REFERENCES sales (id),
	recipient      TEXT NOT NULL,
	customer_name  TEXT NOT NULL,
	merchant_name  TEXT NOT NULL,
	sale_reference TEXT NOT NULL,
	amount         BIGINT NOT NULL CHECK (amount >= 0),
	currency       TEXT NOT NULL,
	status         TEXT NOT NULL CHECK (status IN ('unsent', 'sent', 'failed')),
	attempts       INTEGER NOT NULL,
	last_error     TEXT NOT NULL,
	next_attempt   TIMESTAMPTZ NOT NULL,
	locked_until   TIMESTAMPTZ NOT NULL,
	sent_at        TIMESTAMPTZ NOT NULL,
	created        TIMESTAMPTZ NOT NULL,
	CONSTRAINT notifications_refund_key UNIQUE (refund_id)
);
CREATE INDEX notifications_merchant_idx ON notifications (merchant_id, id);
CREATE INDEX notifications_due_idx ON notifications (next_attempt) WHERE status = 'unsent';
