-- Events are dispatched by a cursor, as on SQLite since 0018, instead of
-- an UPDATE of each event: that UPDATE wrote every event a second time,
-- and never as a HOT update, since the partial index of undispatched
-- events names the column it changed.
--
-- 0018 explains why a position in a sequence cannot be the cursor: two
-- transactions commit in another order than they take it. Each event
-- now keeps the id of the transaction that inserted it
-- (pg_current_xact_id() is the top-level id even inside a savepoint;
-- xid8 does not wrap around), and the cursor is a snapshot, as PgQ's
-- batches are: an event has been dispatched exactly when its
-- transaction is visible in the cursor's snapshot (done). A pass takes a
-- new snapshot and dispatches the events whose transactions are visible
-- in it and not in done, then makes it done. A transaction that commits
-- after a pass's snapshot is not visible in it, whatever its id, so a
-- later pass takes its events: none is skipped, none is taken twice.
-- When a pass's limit cuts it short, the snapshot stays as upto and the
-- position of the last event read (xid, created, event_id) with it,
-- since one transaction may insert many events; the next pass goes on
-- from there.
ALTER TABLE events ADD COLUMN xid xid8;
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_xid_idx ON events (xid, created, id);

-- One row. xid = '0', created = '-infinity' and event_id = '' stand for
-- "before every event". pass counts the cursor's moves: a pass moves it
-- only from the pass it read, so two processes never both dispatch
-- what lies after it.
CREATE TABLE event_cursor (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	pass     BIGINT NOT NULL,
	done     pg_snapshot NOT NULL,
	upto     pg_snapshot,
	xid      xid8 NOT NULL,
	created  TIMESTAMPTZ NOT NULL,
	event_id TEXT NOT NULL
);

-- Events inserted before this migration keep xid NULL, which no pass
-- reads: those already dispatched stay so. Those not yet dispatched
-- take this migration's transaction id, which done counts as running,
-- so the first pass dispatches them, once. done is the snapshot of now
-- with this transaction added to those running: its xmax is one past
-- the last transaction to have ended, which may lie below this one, so
-- every id from there to this one's counts as running too. The
-- transactions running now, which the ALTER TABLE above did not wait
-- for because they had not yet touched events, are so counted as well:
-- their events come later.
UPDATE events SET xid = pg_current_xact_id(), dispatched = true WHERE NOT dispatched;
INSERT INTO event_cursor (id, pass, done, upto, xid, created, event_id)
	SELECT 1, 0, (LEAST(pg_snapshot_xmin(s)::text::numeric, x)::text || ':' ||
		GREATEST(pg_snapshot_xmax(s)::text::numeric, x + 1)::text || ':' ||
		(SELECT string_agg(v::text, ',' ORDER BY v) FROM (
			SELECT pg_snapshot_xip(s)::text::numeric AS v
			UNION SELECT generate_series(LEAST(pg_snapshot_xmax(s)::text::numeric, x), x)) AS running))::pg_snapshot,
		NULL, '0', '-infinity', ''
	FROM pg_current_snapshot() AS s, CAST(pg_current_xact_id()::text AS numeric) AS x;

-- A process still on an older binary during a rolling upgrade reads
-- events WHERE NOT dispatched through events_undispatched_idx and marks
-- them. New events are inserted dispatched, so it finds none and writes
-- nothing, through an index that stays empty (its predicate is checked
-- on each insert and adds no entry), instead of scanning the table every
-- pass had the index been dropped. Deliveries are made by the processes
-- that read the cursor.
ALTER TABLE events ALTER COLUMN dispatched SET DEFAULT true;
