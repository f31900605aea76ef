-- Searching sales by what a person is told: an email, an order number, a
-- name, in any case (refundry.SaleFilter.Search and CustomerEmail). Each
-- is an index on the folded text, so that a search reads the range of its
-- prefix (refundry.PrefixRange) and never every sale. SQLite's lower()
-- folds A to Z only, which is refundry.FoldCase exactly. A query uses
-- one of these only if it repeats its expression word for word
-- (store/sqlite/search.go keeps them). On a large database, building them
-- takes a while at the first start of this version, and holds writes back
-- meanwhile.
CREATE INDEX customers_email_fold ON customers (merchant_id, lower(email));
CREATE INDEX customers_name_fold ON customers (merchant_id, lower(first_name || ' ' || last_name));
CREATE INDEX customers_last_name_fold ON customers (merchant_id, lower(last_name));
CREATE INDEX sales_reference_fold ON sales (merchant_id, lower(reference));
