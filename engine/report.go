package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// Placeholder: applying gateway reports is being built.

// ApplyReport applies one gateway report to the ledger.
func (e *Engine) ApplyReport(ctx context.Context, rep refundry.GatewayReport) (*refundry.ReportResult, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "gateway reports are not applied yet")
}

// RecordDispute records a dispute by hand (POST /v1/disputes), for a
// payment whose gateway sends no events (offsite, simulator).
func (e *Engine) RecordDispute(ctx context.Context, merchantID string, rep refundry.DisputeReport) (*refundry.Dispute, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "disputes are not recorded yet")
}

// FindDispute returns ENOTFOUND if the merchant has no such dispute.
func (e *Engine) FindDispute(ctx context.Context, merchantID, id string) (*refundry.Dispute, error) {
	return e.Stores.Reports.FindDispute(ctx, merchantID, id)
}

// ListDisputes returns one page of the merchant's disputes, newest first.
func (e *Engine) ListDisputes(ctx context.Context, merchantID string, f refundry.DisputeFilter) ([]*refundry.Dispute, bool, error) {
	return e.Stores.Reports.ListDisputes(ctx, merchantID, f)
}

// UpdateDispute moves a dispute recorded by hand to status (POST
// /v1/disputes/{id}).
func (e *Engine) UpdateDispute(ctx context.Context, merchantID, id, status string) (*refundry.Dispute, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "disputes are not updated yet")
}
