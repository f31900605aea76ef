-- Returns: goods a customer sends back, and the refund that pays for them.
-- lines and refund_ids are JSON arrays (TEXT, as every JSON column here):
-- a return's lines are read and written whole, with the return. An open
-- return (requested, received) claims its units: the store reads a sale's
-- open returns under the sale's row lock before it lets another one claim
-- any. received_at and refunded_at are NULL until the return gets there.
CREATE TABLE returns (
	id             TEXT PRIMARY KEY,
	merchant_id    TEXT NOT NULL REFERENCES merchants (id),
	sale_id        TEXT NOT NULL REFERENCES sales (id),
	status         TEXT NOT NULL CHECK (status IN ('requested', 'received', 'refunded', 'canceled')),
	reason         TEXT NOT NULL,
	description    TEXT NOT NULL,
	lines          TEXT NOT NULL,
	restocking_fee BIGINT NOT NULL CHECK (restocking_fee >= 0),
	refund_ids     TEXT NOT NULL,
	created        TIMESTAMPTZ NOT NULL,
	updated        TIMESTAMPTZ NOT NULL,
	received_at    TIMESTAMPTZ,
	refunded_at    TIMESTAMPTZ
);

CREATE INDEX returns_sale_idx ON returns (merchant_id, sale_id, id);
CREATE INDEX returns_status_idx ON returns (merchant_id, status, id);
CREATE INDEX returns_merchant_idx ON returns (merchant_id, id);

-- The return a refund pays for, shown on the refund.
ALTER TABLE refunds ADD COLUMN return_id TEXT REFERENCES returns (id);
CREATE INDEX refunds_return_idx ON refunds (return_id) WHERE return_id IS NOT NULL;
