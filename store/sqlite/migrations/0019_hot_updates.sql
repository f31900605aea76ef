-- PostgreSQL's 0019 lets the updates a refund makes stay HOT (heap-only
-- tuples), which SQLite has no notion of: it updates a row in place and
-- touches only the indexes whose columns change. Nothing to do; the
-- version is kept so that both stores count their migrations alike.
SELECT 1;
