-- What leaves Refundry: webhook endpoints, their deliveries and attempts,
-- and customer notifications. Times are INTEGER microseconds, UTC.

-- dispatched marks an event whose deliveries exist. The delivery worker
-- finds undispatched events through the partial index, so an event
-- committed late (or before a crash) is dispatched on the next pass rather
-- than skipped by a cursor that moved past it. Events older than this
-- migration had no endpoint to go to.
ALTER TABLE events ADD COLUMN dispatched INTEGER NOT NULL DEFAULT 0;
UPDATE events SET dispatched = 1;
CREATE INDEX events_undispatched ON events (created, id) WHERE dispatched = 0;

CREATE TABLE webhook_endpoints (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL REFERENCES merchants (id),
	url             TEXT NOT NULL,
	enabled_events  TEXT NOT NULL, -- JSON array of types
	secret          TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
	disabled_reason TEXT NOT NULL,
	failure_streak  INTEGER NOT NULL,
	failing_since   INTEGER NOT NULL, -- 0: not failing
	created         INTEGER NOT NULL,
	updated         INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, id);

-- One delivery per event and endpoint: the unique key makes dispatching
-- idempotent across retries and processes.
CREATE TABLE deliveries (
	id            TEXT PRIMARY KEY,
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints (id),
	event_id      TEXT NOT NULL REFERENCES events (id),
	event_type    TEXT NOT NULL,
	event_created INTEGER NOT NULL,
	object_id     TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts      INTEGER NOT NULL,
	next_attempt  INTEGER NOT NULL,
	locked_until  INTEGER NOT NULL,
	delivered_at  INTEGER NOT NULL,
	created       INTEGER NOT NULL,
	UNIQUE (endpoint_id, event_id)
) STRICT;

CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE status = 'pending';
-- The order-per-object check looks for an earlier pending delivery here.
CREATE INDEX deliveries_object ON deliveries (endpoint_id, object_id, event_created, event_id) WHERE status = 'pending';

CREATE TABLE delivery_attempts (
	id          TEXT PRIMARY KEY,
	delivery_id TEXT NOT NULL REFERENCES deliveries (id),
	status_code INTEGER NOT NULL,
	latency_ms  INTEGER NOT NULL,
	response    TEXT NOT NULL,
	error       TEXT NOT NULL,
	created     INTEGER NOT NULL
) STRICT;

CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- A customer notice is written in the transaction that makes its refund
-- succeed; UNIQUE (refund_id) makes it one per refund, whatever retries.
CREATE TABLE notifications (
	id             TEXT PRIMARY KEY,
	merchant_id    TEXT NOT NULL REFERENCES merchants (id),
	refund_id      TEXT NOT NULL UNIQUE REFERENCES refunds (id),
	sale_id        TEXT NOT NULL REFERENCES sales (id),
	recipient      TEXT NOT NULL,
	customer_name  TEXT NOT NULL,
	merchant_name  TEXT NOT NULL,
	sale_reference TEXT NOT NULL,
	amount         INTEGER NOT NULL CHECK (amount >= 0),
	currency       TEXT NOT NULL,
	status         TEXT NOT NULL CHECK (status IN ('unsent', 'sent', 'failed')),
	attempts       INTEGER NOT NULL,
	last_error     TEXT NOT NULL,
	next_attempt   INTEGER NOT NULL,
	locked_until   INTEGER NOT NULL,
	sent_at        INTEGER NOT NULL,
	created        INTEGER NOT NULL
) STRICT;

CREATE INDEX notifications_merchant ON notifications (merchant_id, id);
CREATE INDEX notifications_due ON notifications (next_attempt) WHERE status = 'unsent';
