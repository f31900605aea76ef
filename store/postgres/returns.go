package postgres

import (
	"context"

	"github.com/refundry/refundry"
)

// Placeholder: returns are being built.

func (s *Store) CreateReturn(ctx context.Context, r *refundry.Return, idem *refundry.Idempotency) (bool, error) {
	return false, refundry.Errorf(refundry.EINTERNAL, "returns are not stored yet")
}

func (s *Store) FindReturn(ctx context.Context, merchantID, id string) (*refundry.Return, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such return: %s", id)
}

func (s *Store) ListReturns(ctx context.Context, merchantID string, f refundry.ReturnFilter) ([]*refundry.Return, bool, error) {
	return nil, false, nil
}

func (s *Store) UpdateReturn(ctx context.Context, r *refundry.Return, from string) error {
	return refundry.Errorf(refundry.EINTERNAL, "returns are not stored yet")
}
