package sqlite

import (
	"context"

	"github.com/refundry/refundry"
)

// Placeholder: the ledger side of gateway reports is being built.

func (s *Store) ApplyRefundReport(ctx context.Context, rep refundry.RefundReport) (*refundry.ReportResult, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "gateway reports are not applied yet")
}

func (s *Store) ApplyDisputeReport(ctx context.Context, rep refundry.DisputeReport) (*refundry.ReportResult, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "gateway reports are not applied yet")
}

func (s *Store) FindDispute(ctx context.Context, merchantID, id string) (*refundry.Dispute, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such dispute: %s", id)
}

func (s *Store) ListDisputes(ctx context.Context, merchantID string, f refundry.DisputeFilter) ([]*refundry.Dispute, bool, error) {
	return nil, false, nil
}

func (s *Store) CountOverRefundedSales(ctx context.Context) (int64, error) { return 0, nil }
