-- The stores (serve nodes) open on this database, each beating every few
-- seconds, so that each can size its group-commit lanes by how many share
-- the database (see Store.lane). UNLOGGED: liveness, not data; after a
-- crash or a failover the table starts empty and the nodes announce
-- themselves again within a beat, so it costs no WAL and no wait for the
-- standby.
CREATE UNLOGGED TABLE live_nodes (
	id   TEXT PRIMARY KEY,
	seen TIMESTAMPTZ NOT NULL
);
