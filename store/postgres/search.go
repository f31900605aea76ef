package postgres

import (
	"fmt"

	"github.com/refundry/refundry"
)

// The folded expressions of migrations/0007_search.sql, word for word:
// PostgreSQL uses an expression index only for the very same expression.
// On text of collation "C", lower() folds A to Z only (refundry.FoldCase)
// and comparisons go by bytes, the order refundry.PrefixRange assumes.
const (
	foldEmail     = `lower(email COLLATE "C")`
	foldName      = `lower((first_name || ' ' || last_name) COLLATE "C")`
	foldLastName  = `lower(last_name COLLATE "C")`
	foldReference = `lower(reference COLLATE "C")`
)

// prefixCond is "expr starts with the folded text", as the index range of
// refundry.PrefixRange, with its bounds added to w's arguments.
func prefixCond(w *where, expr, text string) string {
	lo, hi := refundry.PrefixRange(text)
	w.args = append(w.args, lo)
	cond := fmt.Sprintf("%s >= $%d", expr, len(w.args))
	if hi != "" {
		w.args = append(w.args, hi)
		cond += fmt.Sprintf(" AND %s < $%d", expr, len(w.args))
	}
	return cond
}

// addSearch keeps the sales whose reference, customer email, name or last
// name starts with text (refundry.SaleFilter.Search). Each arm of the
// UNION reads one index of 0007_search.sql; an OR over two tables would
// read every sale of the merchant instead. $1 is the merchant, which
// bounds every arm (invariant 5: another merchant's sale is never found),
// as it bounds the outer query.
func addSearch(w *where, text string) {
	sql := "SELECT id FROM sales WHERE merchant_id = $1 AND " + prefixCond(w, foldReference, text)
	for _, expr := range []string{foldEmail, foldName, foldLastName} {
		sql += " UNION SELECT sales.id FROM customers JOIN sales ON sales.customer_id = customers.id WHERE customers.merchant_id = $1 AND " +
			prefixCond(w, expr, text)
	}
	w.conds = append(w.conds, "s.id IN ("+sql+")")
}
