-- Refund controls: a merchant's refund policy, the people who sign in to
-- its dashboard, who asked for and who decided each refund, and the two
-- statuses a refund waits for a person in. Times are microseconds, UTC.

-- refunds.status and api_keys.scope are CHECKed against lists that gain
-- values; SQLite changes a CHECK only by rebuilding its table, as its
-- documentation lays out (https://www.sqlite.org/lang_altertable.html,
-- "otheralter"): the store runs every migration with foreign keys off and
-- checks them all (PRAGMA foreign_key_check) before it commits. Every
-- row is copied as it was; the indexes are made again, word for word.
-- Nothing refers to either table by trigger or view.
CREATE TABLE refunds_0015 (
	id                  TEXT PRIMARY KEY,
	merchant_id         TEXT NOT NULL REFERENCES merchants (id),
	grp                 TEXT NOT NULL,
	sale_id             TEXT NOT NULL REFERENCES sales (id),
	transaction_id      TEXT NOT NULL REFERENCES transactions (id),
	line_item_id        TEXT REFERENCES line_items (id),
	amount              INTEGER NOT NULL CHECK (amount > 0),
	fee                 INTEGER NOT NULL CHECK (fee >= 0),
	currency            TEXT NOT NULL,
	status              TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled',
		'requires_approval', 'requires_action')),
	reason              TEXT NOT NULL,
	metadata            TEXT,
	offsite             INTEGER NOT NULL,
	notify_customer     INTEGER NOT NULL,
	gateway             TEXT NOT NULL,
	gateway_refund_id   TEXT NOT NULL,
	failure_reason      TEXT NOT NULL,
	source              TEXT NOT NULL,
	name                TEXT NOT NULL,
	external_id         TEXT NOT NULL,
	created_source      TEXT NOT NULL,
	refunded_at         INTEGER NOT NULL,
	created             INTEGER NOT NULL,
	updated             INTEGER NOT NULL,
	next_attempt_at     INTEGER,
	recovery_attempts   INTEGER NOT NULL DEFAULT 0,
	return_id           TEXT REFERENCES returns (id),
	description         TEXT NOT NULL DEFAULT '',
	gateway_reason      TEXT NOT NULL DEFAULT '',
	-- Who asked (refundry.Actor.Who), who last decided by hand and why,
	-- why recovery sent the refund to review, and when a refund that
	-- requires approval is released (NULL for every other).
	requested_by        TEXT NOT NULL DEFAULT '',
	decided_by          TEXT NOT NULL DEFAULT '',
	decision_note       TEXT NOT NULL DEFAULT '',
	review_reason       TEXT NOT NULL DEFAULT '',
	approval_expires_at INTEGER
) STRICT;

INSERT INTO refunds_0015 (id, merchant_id, grp, sale_id, transaction_id, line_item_id, amount, fee, currency, status,
	reason, metadata, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id,
	created_source, refunded_at, created, updated, next_attempt_at, recovery_attempts, return_id, description, gateway_reason)
SELECT id, merchant_id, grp, sale_id, transaction_id, line_item_id, amount, fee, currency, status,
	reason, metadata, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id,
	created_source, refunded_at, created, updated, next_attempt_at, recovery_attempts, return_id, description, gateway_reason
FROM refunds;

DROP TABLE refunds;
ALTER TABLE refunds_0015 RENAME TO refunds;

CREATE INDEX refunds_merchant ON refunds (merchant_id, id);
CREATE INDEX refunds_sale ON refunds (sale_id, id);
CREATE INDEX refunds_transaction ON refunds (transaction_id, id);
CREATE INDEX refunds_line_item ON refunds (line_item_id, id) WHERE line_item_id IS NOT NULL;
CREATE INDEX refunds_group ON refunds (merchant_id, grp);
CREATE INDEX refunds_pending ON refunds (created, id) WHERE status = 'pending';
CREATE INDEX refunds_due ON refunds (merchant_id, COALESCE(next_attempt_at, created), id) WHERE status = 'pending';
CREATE INDEX refunds_gateway_refund ON refunds (gateway, gateway_refund_id) WHERE gateway_refund_id <> '';
CREATE INDEX refunds_updated ON refunds (updated);
CREATE INDEX refunds_return ON refunds (return_id) WHERE return_id IS NOT NULL;
CREATE INDEX refunds_merchant_created ON refunds (merchant_id, created);

-- The expiry sweep reads the approvals due, earliest first; the queues
-- count, per merchant and status, what waits for a person and since when.
-- Both hold only refunds that wait, so they cost nothing per refund that
-- does not.
CREATE INDEX refunds_approval_due ON refunds (approval_expires_at, id) WHERE status = 'requires_approval';
CREATE INDEX refunds_queue ON refunds (merchant_id, status, updated)
	WHERE status IN ('requires_approval', 'requires_action');

-- A key may be scoped to approve: refund, and also approve, reject and
-- resolve refunds.
CREATE TABLE api_keys_0015 (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	hash        BLOB NOT NULL,
	created     INTEGER NOT NULL,
	name        TEXT NOT NULL DEFAULT 'default',
	scope       TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'refund', 'approve', 'write')),
	expires     INTEGER NOT NULL DEFAULT 0,
	revoked     INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO api_keys_0015 (id, merchant_id, hash, created, name, scope, expires, revoked)
SELECT id, merchant_id, hash, created, name, scope, expires, revoked FROM api_keys;

DROP TABLE api_keys;
ALTER TABLE api_keys_0015 RENAME TO api_keys;
CREATE INDEX api_keys_merchant ON api_keys (merchant_id, id);

-- One policy per merchant, kept whole as the JSON of refundry.RefundPolicy:
-- it is read and written whole, and a rule added later needs no migration.
CREATE TABLE refund_policies (
	merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
	policy      TEXT NOT NULL,
	updated     INTEGER NOT NULL
) STRICT;

-- The people who sign in to a merchant's dashboard. An email is unique per
-- merchant in any case: lower() folds A to Z, as refundry.FoldCase.
-- disabled is NULL while the user may sign in.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	name          TEXT NOT NULL,
	email         TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('viewer', 'agent', 'approver', 'admin')),
	password_hash BLOB NOT NULL,
	disabled      INTEGER,
	created       INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_email ON users (merchant_id, lower(email));
CREATE INDEX users_merchant ON users (merchant_id, id);

-- The dashboard user who acted, and why, where a person said.
ALTER TABLE audit_log ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- Who made a refund batch: its rows' refunds are asked for by them, so
-- the uploader cannot approve them.
ALTER TABLE refund_batches ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
