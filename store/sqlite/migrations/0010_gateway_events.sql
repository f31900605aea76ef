-- The inbox of the gateways' inbound events: each is stored, durably,
-- before it is acknowledged, and applied by a worker after, so a crash
-- between the two loses nothing. UNIQUE (gateway, event_id) makes a
-- redelivered event change nothing. Times are microseconds; applied and
-- lease_until are 0 for "never".
CREATE TABLE gateway_events (
	id          TEXT PRIMARY KEY,
	gateway     TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	type        TEXT NOT NULL,
	payload     BLOB NOT NULL,
	received    INTEGER NOT NULL,
	applied     INTEGER, -- NULL until a worker applied it
	outcome     TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	merchant_id TEXT NOT NULL DEFAULT '',
	attempts    INTEGER NOT NULL DEFAULT 0,
	lease_until INTEGER NOT NULL DEFAULT 0,
	UNIQUE (gateway, event_id)
) STRICT;

-- The worker claims the oldest unapplied events; this index holds only
-- those, so a claim costs what waits, never what was ever received.
CREATE INDEX gateway_events_unapplied ON gateway_events (received, id) WHERE applied IS NULL;
