-- Gateway truth: disputes, a transaction's dispute state, and the lookups
-- a gateway's report makes across merchants.

-- A refund made at the gateway and adopted may take a sale or a payment
-- above what was paid: the money is gone already and the ledger must say
-- so (sale.over_refunded). The conditional update of every move keeps the
-- cap for everything else; the schema now only forbids a negative sum.
-- Removing a CHECK changes no stored row, so the schema text is edited in
-- place (https://sqlite.org/lang_altertable.html, "otheralter"), and RESET
-- reloads it on this connection.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
	SET sql = replace(sql, 'CHECK (refunded_amount >= 0 AND refunded_amount <= amount)', 'CHECK (refunded_amount >= 0)')
	WHERE type = 'table' AND name IN ('sales', 'transactions');
PRAGMA writable_schema = RESET;

-- dispute_status is the status of the payment's latest dispute ('' none);
-- disputed_amount what lost disputes returned to the customer.
ALTER TABLE transactions ADD COLUMN dispute_status TEXT NOT NULL DEFAULT '';
ALTER TABLE transactions ADD COLUMN disputed_amount INTEGER NOT NULL DEFAULT 0 CHECK (disputed_amount >= 0);

CREATE TABLE disputes (
	id                 TEXT PRIMARY KEY,
	merchant_id        TEXT NOT NULL REFERENCES merchants (id),
	sale_id            TEXT NOT NULL REFERENCES sales (id),
	transaction_id     TEXT NOT NULL REFERENCES transactions (id),
	gateway            TEXT NOT NULL,
	gateway_dispute_id TEXT NOT NULL,
	amount             INTEGER NOT NULL CHECK (amount > 0),
	currency           TEXT NOT NULL,
	status             TEXT NOT NULL CHECK (status IN ('warning_needs_response', 'warning_under_review', 'warning_closed',
		'needs_response', 'under_review', 'won', 'lost', 'prevented')),
	reason             TEXT NOT NULL,
	funds_withdrawn    INTEGER NOT NULL,
	created            INTEGER NOT NULL,
	updated            INTEGER NOT NULL
) STRICT;

-- One dispute per gateway id; one recorded by hand has none.
CREATE UNIQUE INDEX disputes_gateway ON disputes (gateway, gateway_dispute_id) WHERE gateway_dispute_id <> '';
CREATE INDEX disputes_merchant ON disputes (merchant_id, id);
CREATE INDEX disputes_transaction ON disputes (transaction_id, id);

-- A report names a payment by the gateway's ids, whichever merchant has it.
CREATE INDEX transactions_gateway_charge ON transactions (gateway, gateway_charge_id) WHERE gateway_charge_id <> '';
CREATE INDEX transactions_gateway_reference ON transactions (gateway, reference) WHERE reference <> '';
CREATE INDEX refunds_gateway_refund ON refunds (gateway, gateway_refund_id) WHERE gateway_refund_id <> '';
-- Over-refunded sales are few: /metrics counts them from this index.
CREATE INDEX sales_over_refunded ON sales (id) WHERE refunded_amount > amount;
