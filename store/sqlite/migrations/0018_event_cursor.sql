-- Events are dispatched by a cursor instead of an UPDATE of each one:
-- the delivery worker wrote every event twice (its INSERT, then
-- dispatched = 1), and the partial index of undispatched events was a
-- third write of each.
--
-- The cursor is a position in events.seq, an INTEGER PRIMARY KEY (the
-- rowid, kept as it is by VACUUM). SQLite gives a new row the largest
-- seq plus one, and one writer at a time inserts and commits: an event
-- committed after the cursor moved always lands after it, so none is
-- skipped. Events are never deleted, so the largest seq is never reused.
--
-- The table is rebuilt to gain seq, as SQLite's documentation lays out
-- (https://www.sqlite.org/lang_altertable.html, "otheralter"); the store
-- runs every migration with foreign keys off and checks them all before
-- it commits. Events already dispatched are copied first, so that the
-- cursor starts just past them and the others, in their dispatch order,
-- are dispatched by the next pass. Nothing refers to events by trigger
-- or view; deliveries refer to events (id), which stays unique.
CREATE TABLE events_0018 (
	seq         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	type        TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	data        TEXT NOT NULL,
	created     INTEGER NOT NULL
) STRICT;

INSERT INTO events_0018 (id, merchant_id, type, object_type, object_id, data, created)
	SELECT id, merchant_id, type, object_type, object_id, data, created FROM events
	ORDER BY dispatched DESC, created, id;

-- One row: the seq of the last event dispatched.
CREATE TABLE event_cursor (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
) STRICT;
INSERT INTO event_cursor (id, seq) SELECT 1, COUNT(*) FROM events WHERE dispatched = 1;

DROP TABLE events;
ALTER TABLE events_0018 RENAME TO events;

CREATE INDEX events_merchant ON events (merchant_id, id);
CREATE INDEX events_object ON events (merchant_id, object_id, id);
