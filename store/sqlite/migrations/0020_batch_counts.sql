-- A batch keeps its rows' counts by status, changed in the transaction
-- that moves a row, so that reading a batch (polled all through a run of
-- 200,000 rows) costs one row instead of a count over all of them. The
-- batches made before are counted once here.
ALTER TABLE refund_batches ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refund_batches ADD COLUMN processing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refund_batches ADD COLUMN succeeded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refund_batches ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;

UPDATE refund_batches SET
	pending = (SELECT COUNT(*) FROM refund_batch_rows r WHERE r.status = 'pending' AND r.batch_id = refund_batches.id),
	processing = (SELECT COUNT(*) FROM refund_batch_rows r WHERE r.status = 'processing' AND r.batch_id = refund_batches.id),
	succeeded = (SELECT COUNT(*) FROM refund_batch_rows r WHERE r.status = 'succeeded' AND r.batch_id = refund_batches.id),
	failed = (SELECT COUNT(*) FROM refund_batch_rows r WHERE r.status = 'failed' AND r.batch_id = refund_batches.id);
