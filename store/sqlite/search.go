package sqlite

import "github.com/refundry/refundry"

// The folded expressions of migrations/0007_search.sql, word for word:
// SQLite uses an expression index only for the very same expression.
const (
	foldEmail     = "lower(email)"
	foldName      = "lower(first_name || ' ' || last_name)"
	foldLastName  = "lower(last_name)"
	foldReference = "lower(reference)"
)

// prefixCond is "expr starts with the folded q", as the index range of
// refundry.PrefixRange.
func prefixCond(expr, q string) (string, []any) {
	lo, hi := refundry.PrefixRange(q)
	if hi == "" {
		return expr + " >= ?", []any{lo}
	}
	return expr + " >= ? AND " + expr + " < ?", []any{lo, hi}
}

// addSearch keeps the sales whose reference, customer email, name or last
// name starts with q (refundry.SaleFilter.Search). Each arm of the UNION
// reads one index of 0007_search.sql; an OR over two tables would read
// every sale of the merchant instead. Every arm is bounded by the merchant
// (invariant 5: another merchant's sale is never found), as is the outer
// query.
func addSearch(q *query, merchantID, text string) {
	var sql string
	var args []any
	arm := func(part string, cond string, condArgs []any) {
		if sql != "" {
			sql += " UNION "
		}
		sql += part + cond
		args = append(append(args, merchantID), condArgs...)
	}
	cond, condArgs := prefixCond(foldReference, text)
	arm("SELECT id FROM sales WHERE merchant_id = ? AND ", cond, condArgs)
	for _, expr := range []string{foldEmail, foldName, foldLastName} {
		cond, condArgs := prefixCond(expr, text)
		arm("SELECT sales.id FROM customers JOIN sales ON sales.customer_id = customers.id WHERE customers.merchant_id = ? AND ", cond, condArgs)
	}
	q.add("s.id IN ("+sql+")", args...)
}
