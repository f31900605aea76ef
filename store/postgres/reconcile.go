package postgres

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// Placeholder: reconciliation runs are being built.

func (s *Store) RecentCharges(ctx context.Context, merchantID, gateway string, since time.Time, afterTransaction string, limit int) ([]refundry.ChargeActivity, error) {
	return nil, nil
}

func (s *Store) SaveReconciliationRun(ctx context.Context, run *refundry.ReconciliationRun) error {
	return refundry.Errorf(refundry.EINTERNAL, "reconciliation runs are not stored yet")
}

func (s *Store) FindReconciliationRun(ctx context.Context, merchantID, id string) (*refundry.ReconciliationRun, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such reconciliation run: %s", id)
}

func (s *Store) ListReconciliationRuns(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.ReconciliationRun, bool, error) {
	return nil, false, nil
}
