-- What several serve nodes on one database share, so that any request may
-- land on any node.

-- Dashboard sessions: the token's SHA-256, never the token.
CREATE TABLE dashboard_sessions (
	hash        TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	key_id      TEXT NOT NULL DEFAULT '',
	user_id     TEXT NOT NULL DEFAULT '',
	created     TIMESTAMPTZ NOT NULL,
	seen        TIMESTAMPTZ NOT NULL,
	expires     TIMESTAMPTZ NOT NULL,
	CHECK ((key_id = '') <> (user_id = ''))
);
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires);

-- Per-key request counts per rate-limit window. UNLOGGED: a count is
-- worth nothing after a crash or a failover (it restarts at zero, as a
-- new window would), so it costs no WAL and no wait for the standby.
CREATE UNLOGGED TABLE rate_windows (
	key_id       TEXT NOT NULL,
	window_start BIGINT NOT NULL, -- Unix milliseconds
	hits         BIGINT NOT NULL,
	PRIMARY KEY (key_id, window_start)
);

-- Named leases of background tasks that one node at a time runs.
CREATE TABLE leases (
	name   TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	until  TIMESTAMPTZ NOT NULL
);
