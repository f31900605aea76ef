package postgres

import (
	"context"

	"github.com/refundry/refundry"
)

// CountOpenDisputes counts the open disputes of every merchant. Disputes
// are few beside sales and refunds, so a scan of their table is cheap
// enough for a scrape.
func (s *Store) CountOpenDisputes(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reads().QueryRow(ctx, `SELECT COUNT(*) FROM disputes WHERE status = ANY($1)`, refundry.OpenDisputeStatuses()).Scan(&n); err != nil {
		return 0, translate(err)
	}
	return n, nil
}
