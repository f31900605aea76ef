-- One row that readiness rewrites to prove the database accepts writes: a
-- standby or a database set read-only answers reads and ping alike, and
-- only a write tells.
CREATE TABLE heartbeat (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	beat TIMESTAMPTZ NOT NULL
);
INSERT INTO heartbeat (id, beat) VALUES (1, now());
