-- Dashboard sessions, kept in the database so that a restart keeps them:
-- the token's SHA-256, never the token. (Rate-limit counts of a SQLite
-- database stay in its one process's memory.)
CREATE TABLE dashboard_sessions (
	hash        TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	key_id      TEXT NOT NULL DEFAULT '',
	user_id     TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	seen        INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	CHECK ((key_id = '') <> (user_id = ''))
) STRICT;
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires);

-- Named leases of background tasks that one process at a time runs.
CREATE TABLE leases (
	name   TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	until  INTEGER NOT NULL
) STRICT;
