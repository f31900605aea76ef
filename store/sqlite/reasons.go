package sqlite

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// Placeholder: refund reasons are being built.

func (s *Store) ListRefundReasons(ctx context.Context, merchantID string) ([]*refundry.RefundReason, error) {
	return nil, nil
}

func (s *Store) PutRefundReason(ctx context.Context, r *refundry.RefundReason) error {
	return refundry.Errorf(refundry.EINTERNAL, "refund reasons are not stored yet")
}

func (s *Store) DeleteRefundReason(ctx context.Context, merchantID, code string) error {
	return refundry.Errorf(refundry.ENOTFOUND, "No such refund reason: %s", code)
}

func (s *Store) CountRefundsByReason(ctx context.Context, merchantID string, from, to time.Time) ([]refundry.ReasonCount, error) {
	return nil, nil
}
