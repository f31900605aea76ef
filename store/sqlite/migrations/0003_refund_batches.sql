-- Bulk refunds: a batch and its rows, worked by serve's batch worker. The
-- rows are the queue: it lives here so that a batch survives kill -9.
CREATE TABLE refund_batches (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	status      TEXT NOT NULL CHECK (status IN ('processing', 'completed')),
	total       INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL
) STRICT;

CREATE INDEX refund_batches_merchant ON refund_batches (merchant_id, id);

CREATE TABLE refund_batch_rows (
	batch_id      TEXT NOT NULL REFERENCES refund_batches (id),
	row_num       INTEGER NOT NULL,
	target        TEXT NOT NULL,
	amount        INTEGER, -- minor units; NULL refunds all that remains
	reason        TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed')),
	refund_id     TEXT NOT NULL DEFAULT '',
	refund_status TEXT NOT NULL DEFAULT '',
	error         TEXT NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	lease_until   INTEGER NOT NULL DEFAULT 0, -- unix microseconds
	updated       INTEGER NOT NULL,
	PRIMARY KEY (batch_id, row_num)
) STRICT, WITHOUT ROWID;

-- The worker's claim reads pending and expired rows in batch order.
CREATE INDEX refund_batch_rows_status ON refund_batch_rows (status, batch_id, row_num);
