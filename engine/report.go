package engine

import (
	"context"
	"slices"

	"github.com/refundry/refundry"
)

// ApplyReport applies one gateway report to the ledger: a refund's or a
// dispute's state as the gateway has it, heard from its inbound events or
// found by reconciliation. What the report did is the result's Outcome;
// an error means it could not be applied now (the store failed) and the
// caller tries again later.
//
// A report the ledger cannot take (the state machine refuses it, its
// amount differs, a dispute's data is invalid) is OutcomeRefused, not an
// error: asking again would not change the answer. It is logged at warn,
// since it means the ledger and the gateway disagree.
func (e *Engine) ApplyReport(ctx context.Context, rep refundry.GatewayReport) (*refundry.ReportResult, error) {
	var res *refundry.ReportResult
	var err error
	var gateway string
	switch {
	case rep.Refund != nil && rep.Dispute == nil:
		gateway = rep.Refund.Gateway
		res, err = e.Stores.Reports.ApplyRefundReport(ctx, *rep.Refund)
	case rep.Dispute != nil && rep.Refund == nil:
		gateway = rep.Dispute.Gateway
		d := *rep.Dispute
		// A gateway's report names its payment by the gateway's ids; the
		// fields of a dispute recorded by hand are not its to set.
		d.MerchantID, d.TransactionID, d.DisputeID = "", "", ""
		res, err = e.Stores.Reports.ApplyDisputeReport(ctx, d)
		if c := refundry.ErrorCode(err); c == refundry.EINVALID || c == refundry.ENOTFOUND {
			res, err = &refundry.ReportResult{Outcome: refundry.OutcomeRefused, Detail: refundry.ErrorMessage(err)}, nil
		}
	default:
		return nil, refundry.Errorf(refundry.EINVALID, "A gateway report names exactly one refund or one dispute.")
	}
	if err != nil {
		return nil, err
	}
	e.observe().GatewayReport(gateway, res.Outcome)
	switch res.Outcome {
	case refundry.OutcomeSettled, refundry.OutcomeCorrected:
		if res.Refund != nil {
			e.observe().RefundSettled(res.Refund)
		}
		if res.Outcome == refundry.OutcomeCorrected {
			e.Logger.WarnContext(ctx, "a refund the gateway had reported succeeded failed late; its amount is refundable again",
				"gateway", gateway, "refund", res.Refund.ID, "merchant", res.MerchantID, "reason", res.Refund.FailureReason)
		}
	case refundry.OutcomeRefused:
		args := []any{"gateway", gateway, "merchant", res.MerchantID, "detail", res.Detail}
		if rep.Refund != nil {
			args = append(args, "gateway_refund_id", rep.Refund.GatewayRefundID, "status", rep.Refund.Status)
		} else {
			args = append(args, "gateway_dispute_id", rep.Dispute.GatewayDisputeID, "status", rep.Dispute.Status)
		}
		if res.Refund != nil {
			args = append(args, "refund", res.Refund.ID)
		}
		e.Logger.WarnContext(ctx, "the ledger refused a gateway's report", args...)
	case refundry.OutcomeAdopted:
		if res.Sale != nil && res.Sale.OverRefunded() {
			e.Logger.WarnContext(ctx, "a refund made at the gateway put the sale's refunds above what was paid",
				"gateway", gateway, "sale", res.Sale.ID, "merchant", res.MerchantID, "refunded", res.Sale.RefundedAmount, "amount", res.Sale.Amount)
		}
	}
	return res, nil
}

// RecordDispute records a dispute by hand (POST /v1/disputes), for a
// payment whose gateway sends no events (offsite, simulator). A Stripe
// payment is refused with EINVALID: Stripe reports its own disputes, and
// a second record of one would drift from them.
//
// Returns EINVALID for an unknown status or an amount outside 1 to the
// transaction's amount, ENOTFOUND for a transaction the merchant does not
// have.
func (e *Engine) RecordDispute(ctx context.Context, merchantID string, rep refundry.DisputeReport) (*refundry.Dispute, error) {
	rep.MerchantID, rep.DisputeID, rep.Gateway, rep.ChargeIDs = merchantID, "", "", nil
	if err := rep.ValidateDispute(); err != nil {
		return nil, err
	}
	return e.applyByHand(ctx, rep)
}

// UpdateDispute moves a dispute recorded by hand to status (POST
// /v1/disputes/{id}): a response filed, the network's decision. A
// dispute of a Stripe payment is Stripe's to change (EINVALID); a closed
// dispute does not reopen (ECONFLICT).
func (e *Engine) UpdateDispute(ctx context.Context, merchantID, id, status string) (*refundry.Dispute, error) {
	if !slices.Contains(refundry.DisputeStatuses, status) {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "status", "Status %q is not a dispute status.", status)
	}
	d, err := e.Stores.Reports.FindDispute(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	if d.Gateway == refundry.GatewayStripe {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "status", "Stripe reports its own disputes: this one changes with its events.")
	}
	return e.applyByHand(ctx, refundry.DisputeReport{MerchantID: merchantID, DisputeID: id, Status: status})
}

func (e *Engine) applyByHand(ctx context.Context, rep refundry.DisputeReport) (*refundry.Dispute, error) {
	res, err := e.Stores.Reports.ApplyDisputeReport(ctx, rep)
	if err != nil {
		return nil, err
	}
	switch res.Outcome {
	case refundry.OutcomeUnknownCharge:
		return nil, refundry.ParamErrorf(refundry.ENOTFOUND, "transaction", "No such transaction: %s", rep.TransactionID)
	case refundry.OutcomeRefused:
		return nil, refundry.ParamErrorf(refundry.ECONFLICT, "status", "The dispute is closed; it cannot reopen.")
	}
	return res.Dispute, nil
}

// FindDispute returns ENOTFOUND if the merchant has no such dispute.
func (e *Engine) FindDispute(ctx context.Context, merchantID, id string) (*refundry.Dispute, error) {
	return e.Stores.Reports.FindDispute(ctx, merchantID, id)
}

// ListDisputes returns one page of the merchant's disputes, newest first.
func (e *Engine) ListDisputes(ctx context.Context, merchantID string, f refundry.DisputeFilter) ([]*refundry.Dispute, bool, error) {
	return e.Stores.Reports.ListDisputes(ctx, merchantID, f)
}
