-- Refund controls: a merchant's refund policy, the people who sign in to
-- its dashboard, who asked for and who decided each refund, and the two
-- statuses a refund waits for a person in. refunds.status has no CHECK
-- here (0001), so requires_approval and requires_action need no change.

-- Who asked (refundry.Actor.Who), who last decided by hand and why, why
-- recovery sent the refund to review, and when a refund that requires
-- approval is released (NULL for every other). Columns with constant
-- defaults: adding them rewrites no row.
ALTER TABLE refunds ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN decided_by TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN decision_note TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN review_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN approval_expires_at TIMESTAMPTZ;

-- The expiry sweep reads the approvals due, earliest first; the queues
-- count, per merchant and status, what waits for a person and since when.
-- Both hold only refunds that wait, so they cost nothing per refund that
-- does not.
CREATE INDEX refunds_approval_due_idx ON refunds (approval_expires_at, id) WHERE status = 'requires_approval';
CREATE INDEX refunds_queue_idx ON refunds (merchant_id, status, updated)
	WHERE status IN ('requires_approval', 'requires_action');

-- A key may be scoped to approve: refund, and also approve, reject and
-- resolve refunds.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'refund', 'approve', 'write'));

-- One policy per merchant, kept whole as the JSON of refundry.RefundPolicy:
-- it is read and written whole, and a rule added later needs no migration.
CREATE TABLE refund_policies (
	merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
	policy      JSONB NOT NULL,
	updated     TIMESTAMPTZ NOT NULL
);

-- The people who sign in to a merchant's dashboard. An email is unique per
-- merchant in any case: on collation "C", lower() folds A to Z only, as
-- refundry.FoldCase and SQLite's lower() do. disabled is NULL while the
-- user may sign in.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	name          TEXT NOT NULL,
	email         TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('viewer', 'agent', 'approver', 'admin')),
	password_hash BYTEA NOT NULL,
	disabled      TIMESTAMPTZ,
	created       TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX users_email_idx ON users (merchant_id, lower(email COLLATE "C"));
CREATE INDEX users_merchant_idx ON users (merchant_id, id);

-- The dashboard user who acted, and why, where a person said.
ALTER TABLE audit_log ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- Who made a refund batch: its rows' refunds are asked for by them, so
-- the uploader cannot approve them.
ALTER TABLE refund_batches ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
