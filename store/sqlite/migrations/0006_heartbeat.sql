-- One row that readiness rewrites to prove the database accepts writes: a
-- read-only file answers reads and ping alike, and only a write tells.
CREATE TABLE heartbeat (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	beat INTEGER NOT NULL -- microseconds
) STRICT;
INSERT INTO heartbeat (id, beat) VALUES (1, 0);
