package sqlite

import (
	"context"
	"strings"

	"github.com/refundry/refundry"
)

// CountOpenDisputes counts the open disputes of every merchant. Disputes
// are few beside sales and refunds, so a scan of their table is cheap
// enough for a scrape.
func (s *Store) CountOpenDisputes(ctx context.Context) (n int64, err error) {
	open := refundry.OpenDisputeStatuses()
	args := make([]any, len(open))
	for i, st := range open {
		args[i] = st
	}
	q := `SELECT COUNT(*) FROM disputes WHERE status IN (?` + strings.Repeat(`, ?`, len(open)-1) + `)`
	err = s.view(ctx, func(tx *tx) error {
		return tx.QueryRowContext(ctx, q, args...).Scan(&n)
	})
	return n, err
}
