package engine

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// Placeholder: reconciliation is being built.

// Reconcile compares the ledger with the gateways for the payments with
// activity since the given time, of one merchant (by id) or of all (""),
// applies what it can, stores one run per merchant and returns the runs.
func (e *Engine) Reconcile(ctx context.Context, merchantID string, since time.Time, trigger string) ([]*refundry.ReconciliationRun, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "reconciliation is not built yet")
}

// ListReconciliationRuns returns one page of the merchant's runs, newest first.
func (e *Engine) ListReconciliationRuns(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.ReconciliationRun, bool, error) {
	return e.Stores.Reconcile.ListReconciliationRuns(ctx, merchantID, p)
}

// FindReconciliationRun returns ENOTFOUND if the merchant has no such run.
func (e *Engine) FindReconciliationRun(ctx context.Context, merchantID, id string) (*refundry.ReconciliationRun, error) {
	return e.Stores.Reconcile.FindReconciliationRun(ctx, merchantID, id)
}
