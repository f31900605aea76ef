-- Returns: goods a customer sends back, and the refund that pays for them.
-- lines and refund_ids are JSON arrays (TEXT, as every JSON column here):
-- a return's lines are read and written whole, with the return. An open
-- return (requested, received) claims its units: the store reads a sale's
-- open returns under the sale's lock before it lets another one claim any.
CREATE TABLE returns (
	id             TEXT PRIMARY KEY,
	merchant_id    TEXT NOT NULL REFERENCES merchants (id),
	sale_id        TEXT NOT NULL REFERENCES sales (id),
	status         TEXT NOT NULL CHECK (status IN ('requested', 'received', 'refunded', 'canceled')),
	reason         TEXT NOT NULL,
	description    TEXT NOT NULL,
	lines          TEXT NOT NULL,
	restocking_fee INTEGER NOT NULL CHECK (restocking_fee >= 0),
	refund_ids     TEXT NOT NULL,
	created        INTEGER NOT NULL,
	updated        INTEGER NOT NULL,
	received_at    INTEGER NOT NULL,
	refunded_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX returns_sale ON returns (merchant_id, sale_id, id);
CREATE INDEX returns_status ON returns (merchant_id, status, id);
CREATE INDEX returns_merchant ON returns (merchant_id, id);

-- The return a refund pays for, shown on the refund.
ALTER TABLE refunds ADD COLUMN return_id TEXT REFERENCES returns (id);
CREATE INDEX refunds_return ON refunds (return_id) WHERE return_id IS NOT NULL;
