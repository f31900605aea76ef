-- The inbox of the gateways' inbound events: each is stored, durably,
-- before it is acknowledged, and applied by a worker after, so a crash
-- between the two loses nothing. The unique (gateway, event_id) makes a
-- redelivered event change nothing. lease_until is the epoch for "never
-- leased".
CREATE TABLE gateway_events (
	id          TEXT PRIMARY KEY,
	gateway     TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	type        TEXT NOT NULL,
	payload     BYTEA NOT NULL,
	received    TIMESTAMPTZ NOT NULL,
	applied     TIMESTAMPTZ, -- NULL until a worker applied it
	outcome     TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	merchant_id TEXT NOT NULL DEFAULT '',
	attempts    INTEGER NOT NULL DEFAULT 0,
	lease_until TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
	CONSTRAINT gateway_events_event_key UNIQUE (gateway, event_id)
);

-- The worker claims the oldest unapplied events; this index holds only
-- those, so a claim costs what waits, never what was ever received.
CREATE INDEX gateway_events_unapplied_idx ON gateway_events (received, id) WHERE applied IS NULL;
