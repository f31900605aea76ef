-- Refund reasons: each merchant's list of reason codes, the label people
-- read and the reason Stripe is told. A refund's reason is one of its
-- merchant's codes (or empty: Stripe's reason is optional, and so is
-- Refundry's); free text goes in the refund's description.
CREATE TABLE refund_reasons (
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	code          TEXT NOT NULL,
	label         TEXT NOT NULL,
	stripe_reason TEXT NOT NULL CHECK (stripe_reason IN ('', 'duplicate', 'fraudulent', 'requested_by_customer')),
	created       TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (merchant_id, code)
);

-- Every merchant that exists gets the defaults, dated a microsecond apart
-- from the merchant's creation so that they list in their order
-- (refundry.DefaultRefundReasons keeps the same list for new merchants).
WITH d (n, code, label, stripe_reason) AS (VALUES
	(0, 'requested_by_customer', 'Requested by customer', 'requested_by_customer'),
	(1, 'duplicate', 'Duplicate charge', 'duplicate'),
	(2, 'fraudulent', 'Fraudulent', 'fraudulent'),
	(3, 'damaged', 'Damaged item', 'requested_by_customer'),
	(4, 'wrong_item', 'Wrong item', 'requested_by_customer'),
	(5, 'not_received', 'Not received', 'requested_by_customer'),
	(6, 'late_delivery', 'Late delivery', 'requested_by_customer'),
	(7, 'other', 'Other', ''))
INSERT INTO refund_reasons (merchant_id, code, label, stripe_reason, created)
	SELECT m.id, d.code, d.label, d.stripe_reason, m.created + d.n * interval '1 microsecond' FROM merchants m, d;

-- A refund's free text, apart from its reason code.
ALTER TABLE refunds ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- What the gateway was told of why: before reason codes, a reason that
-- was one of Stripe's own was sent to Stripe as it was, anything else was
-- not. Kept so that recovery asks again with the first call's parameters.
ALTER TABLE refunds ADD COLUMN gateway_reason TEXT NOT NULL DEFAULT '';
UPDATE refunds SET gateway_reason = reason WHERE reason IN ('duplicate', 'fraudulent', 'requested_by_customer');

-- Reasons written before codes existed were free text: each one that is
-- not a default code becomes "other", its text kept whole as the
-- description. An empty reason stays empty (no reason given).
UPDATE refunds SET description = reason, reason = 'other'
	WHERE reason <> '' AND reason NOT IN ('requested_by_customer', 'duplicate', 'fraudulent', 'damaged',
		'wrong_item', 'not_received', 'late_delivery', 'other');

-- The reasons report sums a merchant's refunds by reason over a period.
-- Not (merchant_id, created): with it, PostgreSQL's generic plan for the
-- lookups of one refund by id and merchant chose that index over the
-- primary key and read every refund of the merchant (1.1 ms a lookup at
-- 3,000 refunds, growing with the table).
CREATE INDEX refunds_created_idx ON refunds (created);
