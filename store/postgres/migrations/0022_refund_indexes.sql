-- Fewer indexes on refunds. A settlement's update is not HOT (it changes
-- status, which the partial indexes name, and updated), so it writes an
-- entry in every index whose predicate holds, as a refund's insert does.
-- Each index dropped here has another that serves its queries
-- (docs/storage.md, "Indexes of refunds"):
--
-- refunds_pending_idx held the same rows as refunds_due_idx, the pending
-- refunds. The oldest pending refund (a metric) is now found in
-- refunds_due_idx: that reads the pending refunds, what is in flight.
DROP INDEX refunds_pending_idx;

-- No query reads refunds by return: a return keeps its refunds' ids, and
-- returns are never deleted.
DROP INDEX refunds_return_idx;
