package sqlite

import (
	"slices"
	"strings"

	"github.com/refundry/refundry"
)

// query builds a SELECT's WHERE clause and arguments together, so that
// every filter is a placeholder and never spliced text.
type query struct {
	where []string
	args  []any
}

func (q *query) add(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// in adds "col IN (?, ...)" for the values.
func (q *query) in(col string, values []string) {
	ph := strings.Repeat("?, ", len(values))
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	q.add(col+" IN ("+ph[:len(ph)-2]+")", args...)
}

// page adds the cursor condition of p on idCol and returns the ORDER BY
// and LIMIT tail. Ids sort by creation, so the id alone orders a page.
// One row more than the limit is read to learn whether more follow;
// EndingBefore reads upwards from the cursor and is turned around by trim.
func (q *query) page(idCol string, p refundry.Page) string {
	switch {
	case p.StartingAfter != "":
		q.add(idCol+" < ?", p.StartingAfter)
	case p.EndingBefore != "":
		q.add(idCol+" > ?", p.EndingBefore)
		q.args = append(q.args, p.Limit+1)
		return " ORDER BY " + idCol + " ASC LIMIT ?"
	}
	q.args = append(q.args, p.Limit+1)
	return " ORDER BY " + idCol + " DESC LIMIT ?"
}

func (q *query) sql() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// trim cuts the extra row page read and puts the page newest first.
func trim[T any](rows []T, p refundry.Page) ([]T, bool) {
	more := len(rows) > p.Limit
	if more {
		rows = rows[:p.Limit]
	}
	if p.EndingBefore != "" {
		slices.Reverse(rows)
	}
	return rows, more
}
