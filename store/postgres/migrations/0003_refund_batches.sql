-- Bulk refunds: a batch and its rows, worked by serve's batch worker. The
-- rows are the queue: it lives here so that a batch survives kill -9. Same
-- portability rules as 0001; the epoch stands for "no lease".
CREATE TABLE refund_batches (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	status      TEXT NOT NULL CHECK (status IN ('processing', 'completed')),
	total       INTEGER NOT NULL,
	created     TIMESTAMPTZ NOT NULL,
	updated     TIMESTAMPTZ NOT NULL
);
CREATE INDEX refund_batches_merchant_idx ON refund_batches (merchant_id, id);

CREATE TABLE refund_batch_rows (
	batch_id      TEXT NOT NULL REFERENCES refund_batches (id),
	row_num       INTEGER NOT NULL,
	target        TEXT NOT NULL,
	amount        BIGINT, -- minor units; NULL refunds all that remains
	reason        TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed')),
	refund_id     TEXT NOT NULL DEFAULT '',
	refund_status TEXT NOT NULL DEFAULT '',
	error         TEXT NOT NULL DEFAULT '',
	attempts      INTEGER NOT NULL DEFAULT 0,
	lease_until   TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
	updated       TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (batch_id, row_num)
);
-- The worker's claim reads pending and expired rows in batch order.
CREATE INDEX refund_batch_rows_status_idx ON refund_batch_rows (status, batch_id, row_num);
