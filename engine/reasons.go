package engine

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// ListRefundReasons returns the merchant's refund reasons, in the order
// they were made (the defaults first).
func (e *Engine) ListRefundReasons(ctx context.Context, merchantID string) ([]*refundry.RefundReason, error) {
	return e.Stores.Reasons.ListRefundReasons(ctx, merchantID)
}

// PutRefundReason creates the merchant's reason with r's code or
// replaces its label and Stripe reason. Refunds already made keep their
// code; those sent to Stripe from now on are told the new Stripe reason.
// Returns EINVALID naming the field.
func (e *Engine) PutRefundReason(ctx context.Context, r *refundry.RefundReason) error {
	if err := r.Validate(); err != nil {
		return err
	}
	defer e.reasons.forget(r.MerchantID)
	return e.Stores.Reasons.PutRefundReason(ctx, r)
}

// DeleteRefundReason removes one of the merchant's reasons: new refunds
// can no longer name it, refunds made with it keep it. Returns ENOTFOUND
// if the merchant has no such reason, ECONFLICT for "other".
func (e *Engine) DeleteRefundReason(ctx context.Context, merchantID, code string) error {
	if err := refundry.CanDeleteReason(code); err != nil {
		return err
	}
	defer e.reasons.forget(merchantID)
	return e.Stores.Reasons.DeleteRefundReason(ctx, merchantID, code)
}

// MaxReportSpan bounds the period a reasons report covers.
const MaxReportSpan = 5 * 366 * 24 * time.Hour

// CountRefundsByReason breaks the merchant's refunds created in [from,
// to) down by reason: how many, and per currency how much they return
// (refunds that reserve money). Returns EINVALID for an empty or
// overlong period.
func (e *Engine) CountRefundsByReason(ctx context.Context, merchantID string, from, to time.Time) ([]refundry.ReasonCount, error) {
	if !from.Before(to) {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "since", "The period must end after it starts.")
	}
	if to.Sub(from) > MaxReportSpan {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "since", "The period may span at most five years.")
	}
	return e.Stores.Reasons.CountRefundsByReason(ctx, merchantID, from, to)
}

// CheckRefundReason returns EINVALID, naming param, unless code is one of
// the merchant's reason codes or empty: the rule every edge that makes a
// refund (or a return) from a client's words goes through.
func (e *Engine) CheckRefundReason(ctx context.Context, merchantID, param, code string) error {
	_, err := e.checkReason(ctx, merchantID, param, code)
	return err
}

// checkReason is CheckRefundReason, also returning the reasons it read
// (nil when code is empty and nothing needed reading).
func (e *Engine) checkReason(ctx context.Context, merchantID, param, code string) ([]*refundry.RefundReason, error) {
	if code == "" {
		return nil, nil
	}
	// Kept for freshness, as the policy is: a reason made or deleted by
	// another process is known here within a second.
	reasons, err := e.reasons.load(merchantID, e.Now(), func() ([]*refundry.RefundReason, bool, error) {
		rs, err := e.Stores.Reasons.ListRefundReasons(ctx, merchantID)
		return rs, true, err
	})
	if err != nil {
		return nil, err
	}
	return reasons, refundry.CheckReason(reasons, param, code)
}
