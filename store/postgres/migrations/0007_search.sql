-- Searching sales by what a person is told: an email, an order number, a
-- name, in any case (refundry.SaleFilter.Search and CustomerEmail). Each
-- is an index on the folded text, so that a search reads the range of its
-- prefix (refundry.PrefixRange) and never every sale. lower() of text with
-- collation "C" folds A to Z only, which is refundry.FoldCase exactly and
-- what SQLite's lower() does, and orders by bytes, which is what the
-- prefix range assumes. A query uses one of these only if it repeats its
-- expression word for word (store/postgres/search.go keeps them). On a
-- large database, building them takes a while at the first start of this
-- version and blocks writes to customers and sales meanwhile. To avoid
-- that, create them beforehand with CREATE INDEX CONCURRENTLY, these names
-- and these expressions: IF NOT EXISTS then leaves them as they are.
CREATE INDEX IF NOT EXISTS customers_email_fold_idx ON customers (merchant_id, lower(email COLLATE "C"));
CREATE INDEX IF NOT EXISTS customers_name_fold_idx ON customers (merchant_id, lower((first_name || ' ' || last_name) COLLATE "C"));
CREATE INDEX IF NOT EXISTS customers_last_name_fold_idx ON customers (merchant_id, lower(last_name COLLATE "C"));
CREATE INDEX IF NOT EXISTS sales_reference_fold_idx ON sales (merchant_id, lower(reference COLLATE "C"));
