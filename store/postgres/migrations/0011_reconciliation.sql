-- Reconciliation runs: one comparison of a merchant's ledger with its
-- gateways, kept with every mismatch it could not resolve so that an
-- operator can act on each. mismatches is a JSON array as the API shows
-- it (TEXT, as every JSON column here); a run is written once, finished,
-- and never changed.
CREATE TABLE reconciliation_runs (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	trigger     TEXT NOT NULL,
	since       TIMESTAMPTZ NOT NULL,
	started     TIMESTAMPTZ NOT NULL,
	finished    TIMESTAMPTZ NOT NULL,
	charges     INTEGER NOT NULL CHECK (charges >= 0),
	matched     INTEGER NOT NULL CHECK (matched >= 0),
	adopted     INTEGER NOT NULL CHECK (adopted >= 0),
	corrected   INTEGER NOT NULL CHECK (corrected >= 0),
	mismatched  INTEGER NOT NULL CHECK (mismatched >= 0),
	mismatches  TEXT NOT NULL
);

CREATE INDEX reconciliation_runs_merchant_idx ON reconciliation_runs (merchant_id, id);

-- RecentCharges finds the payments with activity since a time: sales by
-- creation, refunds and disputes by their last change.
CREATE INDEX sales_created_idx ON sales (created);
CREATE INDEX refunds_updated_idx ON refunds (updated);
CREATE INDEX disputes_updated_idx ON disputes (updated);
