-- Refundry's SQLite schema. Amounts are INTEGER minor units; timestamps are
-- INTEGER microseconds since the Unix epoch, UTC. Tables are STRICT so that
-- a float can never slip into an amount column (invariant 1).

CREATE TABLE merchants (
	id       TEXT PRIMARY KEY,
	slug     TEXT NOT NULL UNIQUE,
	name     TEXT NOT NULL,
	currency TEXT NOT NULL,
	created  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	hash        BLOB NOT NULL,
	created     INTEGER NOT NULL
) STRICT;

CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

CREATE TABLE customers (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	email       TEXT NOT NULL,
	first_name  TEXT NOT NULL,
	last_name   TEXT NOT NULL
) STRICT;

-- One customer per email and merchant; a sale without an email gets a
-- customer of its own.
CREATE UNIQUE INDEX customers_email ON customers (merchant_id, email) WHERE email <> '';

-- The CHECKs on refunded_amount repeat invariant 2 in the schema: the last
-- line of defence behind PlanRefund and the conditional updates.
CREATE TABLE sales (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL REFERENCES merchants (id),
	reference       TEXT NOT NULL,
	currency        TEXT NOT NULL,
	amount          INTEGER NOT NULL CHECK (amount > 0),
	refunded_amount INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
	customer_id     TEXT NOT NULL REFERENCES customers (id),
	campaign_id     TEXT NOT NULL,
	campaign_name   TEXT NOT NULL,
	created         INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX sales_reference ON sales (merchant_id, reference) WHERE reference <> '';
CREATE INDEX sales_merchant ON sales (merchant_id, id);
CREATE INDEX sales_customer ON sales (customer_id);

CREATE TABLE line_items (
	id              TEXT PRIMARY KEY,
	sale_id         TEXT NOT NULL REFERENCES sales (id),
	position        INTEGER NOT NULL,
	name            TEXT NOT NULL,
	quantity        INTEGER NOT NULL CHECK (quantity > 0),
	unit_amount     INTEGER NOT NULL CHECK (unit_amount >= 0),
	amount          INTEGER NOT NULL CHECK (amount >= 0),
	refunded_amount INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount)
) STRICT;

CREATE INDEX line_items_sale ON line_items (sale_id, position);

-- number is the rowid: the integer identity Jetti addresses transactions
-- by. AUTOINCREMENT so that a number is never handed out twice, even after
-- the newest transaction is deleted.
CREATE TABLE transactions (
	number            INTEGER PRIMARY KEY AUTOINCREMENT,
	id                TEXT NOT NULL UNIQUE,
	merchant_id       TEXT NOT NULL REFERENCES merchants (id),
	sale_id           TEXT NOT NULL REFERENCES sales (id),
	position          INTEGER NOT NULL,
	reference         TEXT NOT NULL,
	gateway           TEXT NOT NULL,
	gateway_charge_id TEXT NOT NULL,
	currency          TEXT NOT NULL,
	amount            INTEGER NOT NULL CHECK (amount > 0),
	refunded_amount   INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
	processing_fee    INTEGER NOT NULL,
	base_amount       INTEGER NOT NULL,
	base_currency     TEXT NOT NULL,
	created           INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX transactions_reference ON transactions (merchant_id, reference) WHERE reference <> '';
CREATE INDEX transactions_sale ON transactions (sale_id, position);

CREATE TABLE refunds (
	id                TEXT PRIMARY KEY,
	merchant_id       TEXT NOT NULL REFERENCES merchants (id),
	grp               TEXT NOT NULL,
	sale_id           TEXT NOT NULL REFERENCES sales (id),
	transaction_id    TEXT NOT NULL REFERENCES transactions (id),
	line_item_id      TEXT REFERENCES line_items (id),
	amount            INTEGER NOT NULL CHECK (amount > 0),
	fee               INTEGER NOT NULL CHECK (fee >= 0),
	currency          TEXT NOT NULL,
	status            TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
	reason            TEXT NOT NULL,
	metadata          TEXT,
	offsite           INTEGER NOT NULL,
	notify_customer   INTEGER NOT NULL,
	gateway           TEXT NOT NULL,
	gateway_refund_id TEXT NOT NULL,
	failure_reason    TEXT NOT NULL,
	source            TEXT NOT NULL,
	name              TEXT NOT NULL,
	external_id       TEXT NOT NULL,
	created_source    TEXT NOT NULL,
	refunded_at       INTEGER NOT NULL,
	created           INTEGER NOT NULL,
	updated           INTEGER NOT NULL
) STRICT;

CREATE INDEX refunds_merchant ON refunds (merchant_id, id);
CREATE INDEX refunds_sale ON refunds (sale_id, id);
CREATE INDEX refunds_transaction ON refunds (transaction_id, id);
CREATE INDEX refunds_line_item ON refunds (line_item_id, id) WHERE line_item_id IS NOT NULL;
CREATE INDEX refunds_group ON refunds (merchant_id, grp);
-- Recovery scans only what is still pending, oldest first.
CREATE INDEX refunds_pending ON refunds (created, id) WHERE status = 'pending';

CREATE TABLE origins (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	slug        TEXT NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('purchase', 'event')),
	sale_id     TEXT REFERENCES sales (id),
	created     INTEGER NOT NULL,
	UNIQUE (merchant_id, slug)
) STRICT;

CREATE INDEX origins_sale ON origins (sale_id) WHERE sale_id IS NOT NULL;

-- People give advocates and friends a stable integer id per email.
CREATE TABLE people (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	email       TEXT NOT NULL,
	UNIQUE (merchant_id, email)
) STRICT;

CREATE TABLE referrals (
	id                  INTEGER PRIMARY KEY AUTOINCREMENT,
	merchant_id         TEXT NOT NULL REFERENCES merchants (id),
	origin_id           INTEGER NOT NULL REFERENCES origins (id),
	campaign_id         INTEGER NOT NULL,
	offer_id            INTEGER NOT NULL,
	advocate_id         INTEGER NOT NULL REFERENCES people (id),
	advocate_first_name TEXT NOT NULL,
	advocate_last_name  TEXT NOT NULL,
	friend_id           INTEGER NOT NULL REFERENCES people (id),
	friend_first_name   TEXT NOT NULL,
	friend_last_name    TEXT NOT NULL,
	track_method        TEXT NOT NULL,
	status              TEXT NOT NULL,
	ad_rewarded         INTEGER NOT NULL,
	qa_generated        INTEGER NOT NULL,
	subtotal            INTEGER NOT NULL CHECK (subtotal >= 0),
	currency            TEXT NOT NULL,
	created             INTEGER NOT NULL,
	updated             INTEGER NOT NULL
) STRICT;

CREATE INDEX referrals_origin ON referrals (origin_id, id);

-- The outbox: events are appended in the transaction of the change they
-- record, so a crash can neither lose nor invent one.
CREATE TABLE events (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	type        TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	data        TEXT NOT NULL,
	created     INTEGER NOT NULL
) STRICT;

CREATE INDEX events_merchant ON events (merchant_id, id);
CREATE INDEX events_object ON events (merchant_id, object_id, id);

-- Invariant 4: written in the same transaction as the objects a request
-- made, so a key is recorded if and only if its objects are.
CREATE TABLE idempotency_keys (
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	key           TEXT NOT NULL,
	hash          TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_ids  TEXT NOT NULL,
	created       INTEGER NOT NULL,
	PRIMARY KEY (merchant_id, key)
) STRICT;
