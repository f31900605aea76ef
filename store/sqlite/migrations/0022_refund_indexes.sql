-- Fewer indexes on refunds: every refund wrote an entry in each of them,
-- and B-tree upkeep was a large share of the writer's time. Each index
-- dropped here has another that serves its queries (docs/storage.md,
-- "Indexes of refunds"):
--
-- refunds_transaction, refunds_line_item, refunds_group: a payment, a line
-- and a group (the id of its first refund) each belong to one sale, so a
-- list filtered by one of them reads that sale's refunds through
-- refunds_sale, the sale found by the key of the payment, the line or the
-- first refund. A gateway account's removal counts its payments' refunds
-- the same way. The store never deletes a payment or a line, so no
-- foreign key check needs an index on either column.
DROP INDEX refunds_transaction;
DROP INDEX refunds_line_item;
DROP INDEX refunds_group;

-- refunds_pending held the same rows as refunds_due, the pending refunds.
-- The oldest pending refund (a metric) is now found in refunds_due, which
-- carries created for it: that reads the pending refunds' index entries,
-- what is in flight, never the table.
DROP INDEX refunds_pending;
DROP INDEX refunds_due;
CREATE INDEX refunds_due ON refunds (merchant_id, COALESCE(next_attempt_at, created), id, created) WHERE status = 'pending';

-- No query reads refunds by return: a return keeps its refunds' ids, and
-- returns are never deleted.
DROP INDEX refunds_return;
