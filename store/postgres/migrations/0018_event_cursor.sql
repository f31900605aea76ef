-- SQLite dispatches events by a cursor from 0018 on. PostgreSQL cannot:
-- concurrent transactions commit in another order than they take
-- sequence numbers, so a cursor could move past an event committed late.
-- It keeps events.dispatched and marks a whole pass with one UPDATE
-- (store/postgres/webhook.go), which needs no change to the schema.
SELECT 1;
