-- The referrals a refund voided, kept with its Idempotency-Key, so that a
-- replay answers them as the first request did (PostgreSQL has kept them
-- since 0001, as related_ids).
ALTER TABLE idempotency_keys ADD COLUMN related_ids TEXT NOT NULL DEFAULT '[]';
