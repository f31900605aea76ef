-- Recovery's schedule (invariant 6): each pending refund carries when it is
-- next due to be asked about, so that refunds a gateway holds pending for
-- days cannot hide newer ones. NULL means never asked by recovery: due
-- from created.
ALTER TABLE refunds ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE refunds ADD COLUMN recovery_attempts INTEGER NOT NULL DEFAULT 0;

-- A pass looks, per merchant, for the earliest due pending refunds, and
-- walks the merchants that have pending refunds at all; both read only
-- this index, which holds nothing but what is still pending.
CREATE INDEX refunds_due_idx ON refunds (merchant_id, COALESCE(next_attempt_at, created), id) WHERE status = 'pending';
