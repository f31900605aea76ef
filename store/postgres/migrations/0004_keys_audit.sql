-- API keys get a name, a scope and an optional expiry, and can be revoked.
-- Keys made before this migration could do everything: they keep doing so
-- as scope write, named "default".
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'refund', 'write'));
ALTER TABLE api_keys ADD COLUMN expires TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN revoked TIMESTAMPTZ;

CREATE INDEX api_keys_merchant ON api_keys (merchant_id, id);

-- The audit log: one row per write, written in the transaction of the
-- write itself (or, for a refused write, on its own afterwards). key_id is
-- an API key's id, 'cli' or 'system'; it is not a foreign key, so that the
-- log outlives whatever it names.
CREATE TABLE audit_log (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	key_id      TEXT NOT NULL,
	action      TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	result      TEXT NOT NULL,
	remote_addr TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	method      TEXT NOT NULL,
	path        TEXT NOT NULL,
	created     TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_log_merchant ON audit_log (merchant_id, id);
CREATE INDEX audit_log_key ON audit_log (merchant_id, key_id, id);
