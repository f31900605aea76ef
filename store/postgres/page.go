package postgres

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/refundry/refundry"
)

// where builds a WHERE clause scoped to one merchant, numbering the
// placeholders as conditions are added.
type where struct {
	conds []string
	args  []any
}

func newWhere(merchantColumn, merchantID string) *where {
	return &where{conds: []string{merchantColumn + " = $1"}, args: []any{merchantID}}
}

// add appends a condition whose %d is replaced by arg's placeholder number.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, fmt.Sprintf(cond, len(w.args)))
}

// page returns the clause for one page of p over ids, which sort by
// creation. It fetches one row more than the limit to learn whether more
// follow; EndingBefore walks upwards from the cursor, so its rows come
// oldest first and trimPage turns them round.
func (w *where) page(idColumn string, p refundry.Page) string {
	order := "DESC"
	if p.StartingAfter != "" {
		w.add(idColumn+" < $%d", p.StartingAfter)
	}
	if p.EndingBefore != "" {
		w.add(idColumn+" > $%d", p.EndingBefore)
		order = "ASC"
	}
	return strings.Join(w.conds, " AND ") + " ORDER BY " + idColumn + " " + order + " LIMIT " + strconv.Itoa(p.Limit+1)
}

// trimPage cuts the extra row page asked for and puts rows newest first.
func trimPage[T any](rows []T, p refundry.Page) ([]T, bool) {
	more := len(rows) > p.Limit
	if more {
		rows = rows[:p.Limit]
	}
	if p.EndingBefore != "" {
		slices.Reverse(rows)
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, more
}
