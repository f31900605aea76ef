-- Gateway accounts: a merchant's accounts with the providers it takes
-- payments through (and Talkable), the account each payment was taken
-- through, the provider's own id of each line, and the endpoint a
-- Talkable account keeps.

-- sealed holds only the sealed credentials (AES-256-GCM, see package
-- secrets) and key_id the key that sealed them; hints the last four
-- characters of each credential. removed is NULL while the account is
-- active: a removed account is kept, so that the refunds made through it
-- can still be read and settled.
CREATE TABLE gateway_accounts (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	kind        TEXT NOT NULL,
	base_url    TEXT NOT NULL,
	sealed      BYTEA NOT NULL,
	key_id      TEXT NOT NULL,
	hints       JSONB NOT NULL,
	created     TIMESTAMPTZ NOT NULL,
	removed     TIMESTAMPTZ
);

CREATE INDEX gateway_accounts_merchant_idx ON gateway_accounts (merchant_id, id);
-- Re-sealing after a key rotation reads the accounts of an older key.
CREATE INDEX gateway_accounts_key_idx ON gateway_accounts (key_id, id);

-- Columns with constant defaults: adding them rewrites no row, and every
-- payment and line made before has none.
ALTER TABLE transactions ADD COLUMN gateway_account TEXT NOT NULL DEFAULT '';
ALTER TABLE line_items ADD COLUMN gateway_line_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN gateway_account TEXT NOT NULL DEFAULT '';

-- Removal asks whether refunds of the account's payments still wait.
CREATE INDEX transactions_gateway_account_idx ON transactions (gateway_account) WHERE gateway_account <> '';
