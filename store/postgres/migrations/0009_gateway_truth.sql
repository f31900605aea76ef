-- Gateway truth: disputes, a payment's dispute state, and the lookups a
-- gateway's report makes across merchants.

-- A refund made at the gateway and adopted may take a sale or a payment
-- above what was paid: the money is gone already and the ledger must say
-- so (sale.over_refunded). The conditional update of every move keeps the
-- cap for everything else (changes.go); the schema now forbids only a
-- negative sum. Line items keep theirs: an adopted refund names none.
ALTER TABLE sales DROP CONSTRAINT sales_refunded_check,
	ADD CONSTRAINT sales_refunded_check CHECK (refunded_amount >= 0);
ALTER TABLE transactions DROP CONSTRAINT transactions_refunded_check,
	ADD CONSTRAINT transactions_refunded_check CHECK (refunded_amount >= 0);

-- dispute_status is the status of the payment's latest dispute ('' none);
-- disputed_amount what lost disputes returned to the customer.
ALTER TABLE transactions
	ADD COLUMN dispute_status TEXT NOT NULL DEFAULT '',
	ADD COLUMN disputed_amount BIGINT NOT NULL DEFAULT 0,
	ADD CONSTRAINT transactions_disputed_check CHECK (disputed_amount >= 0);

CREATE TABLE disputes (
	id                 TEXT PRIMARY KEY,
	merchant_id        TEXT NOT NULL REFERENCES merchants (id),
	sale_id            TEXT NOT NULL REFERENCES sales (id),
	transaction_id     TEXT NOT NULL REFERENCES transactions (id),
	gateway            TEXT NOT NULL,
	gateway_dispute_id TEXT NOT NULL,
	amount             BIGINT NOT NULL,
	currency           TEXT NOT NULL,
	status             TEXT NOT NULL,
	reason             TEXT NOT NULL,
	funds_withdrawn    BOOLEAN NOT NULL,
	created            TIMESTAMPTZ NOT NULL,
	updated            TIMESTAMPTZ NOT NULL,
	CONSTRAINT disputes_amount_check CHECK (amount > 0),
	CONSTRAINT disputes_status_check CHECK (status IN ('warning_needs_response', 'warning_under_review', 'warning_closed',
		'needs_response', 'under_review', 'won', 'lost', 'prevented'))
);
-- One dispute per gateway id; one recorded by hand has none.
CREATE UNIQUE INDEX disputes_gateway_key ON disputes (gateway, gateway_dispute_id) WHERE gateway_dispute_id <> '';
CREATE INDEX disputes_merchant_idx ON disputes (merchant_id, id);
CREATE INDEX disputes_transaction_idx ON disputes (transaction_id, id);

-- A report names a payment by the gateway's ids, whichever merchant has it.
CREATE INDEX transactions_gateway_charge_idx ON transactions (gateway, gateway_charge_id) WHERE gateway_charge_id <> '';
CREATE INDEX transactions_gateway_reference_idx ON transactions (gateway, reference) WHERE reference <> '';
CREATE INDEX refunds_gateway_refund_idx ON refunds (gateway, gateway_refund_id) WHERE gateway_refund_id <> '';
-- Over-refunded sales are few: /metrics counts them from this index.
CREATE INDEX sales_over_refunded_idx ON sales (id) WHERE refunded_amount > amount;
