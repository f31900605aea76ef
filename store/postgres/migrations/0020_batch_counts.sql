-- A batch keeps its rows' counts by status, changed in the transaction
-- that moves a row, so that reading a batch (polled all through a run of
-- 200,000 rows) costs one row instead of a count over all of them. The
-- batches made before are counted once here.
--
-- Processes still on an older binary during a rolling upgrade move rows
-- without counting them; refundry.BatchCounts.Kept finds the batches they
-- touched, which are then counted row by row when read.

ALTER TABLE refund_batches
	ADD COLUMN pending INTEGER NOT NULL DEFAULT 0,
	ADD COLUMN processing INTEGER NOT NULL DEFAULT 0,
	ADD COLUMN succeeded INTEGER NOT NULL DEFAULT 0,
	ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;

UPDATE refund_batches b SET pending = c.pending, processing = c.processing, succeeded = c.succeeded, failed = c.failed
FROM (SELECT batch_id,
		COUNT(*) FILTER (WHERE status = 'pending') AS pending,
		COUNT(*) FILTER (WHERE status = 'processing') AS processing,
		COUNT(*) FILTER (WHERE status = 'succeeded') AS succeeded,
		COUNT(*) FILTER (WHERE status = 'failed') AS failed
	FROM refund_batch_rows GROUP BY batch_id) c
WHERE b.id = c.batch_id;
