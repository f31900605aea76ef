package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// Returns: goods sent back, received, then refunded by quantity. The
// rules are the root package's (refundry.DecideReturn and the table
// refundry.ReturnTransitions); the engine reads, moves and writes.

// CreateReturn validates and stores a return request. replayed reports an
// Idempotency-Key seen before: r then holds the first request's return.
// Returns EINVALID naming the line or quantity, ENOTFOUND for a sale the
// merchant does not have, EIDEMPOTENCY.
func (e *Engine) CreateReturn(ctx context.Context, r *refundry.Return, idem *refundry.Idempotency) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	// The return's refund will carry its reason: refuse an unknown code
	// now, by the rule every refund is checked by, not when it is refunded.
	if err := e.CheckRefundReason(ctx, r.MerchantID, "reason", r.Reason); err != nil {
		return false, err
	}
	return e.Stores.Returns.CreateReturn(ctx, r, idem)
}

// FindReturn returns ENOTFOUND if the merchant has no such return.
func (e *Engine) FindReturn(ctx context.Context, merchantID, id string) (*refundry.Return, error) {
	return e.Stores.Returns.FindReturn(ctx, merchantID, id)
}

// ListReturns returns one page of the merchant's returns, newest first,
// and whether more follow.
func (e *Engine) ListReturns(ctx context.Context, merchantID string, f refundry.ReturnFilter) ([]*refundry.Return, bool, error) {
	return e.Stores.Returns.ListReturns(ctx, merchantID, f)
}

// ReceiveReturn records that a return's goods arrived. Receiving a
// received return again answers it as it is. Returns ENOTFOUND, or
// ECONFLICT for a refunded or canceled return.
func (e *Engine) ReceiveReturn(ctx context.Context, merchantID, id string) (*refundry.Return, error) {
	return e.moveReturn(ctx, merchantID, id, refundry.ReturnReceived)
}

// CancelReturn cancels a return that is not refunded, freeing its units.
// Canceling a canceled return answers it as it is. Returns ENOTFOUND, or
// ECONFLICT for a refunded return or one whose refund is being made.
func (e *Engine) CancelReturn(ctx context.Context, merchantID, id string) (*refundry.Return, error) {
	return e.moveReturn(ctx, merchantID, id, refundry.ReturnCanceled)
}

func (e *Engine) moveReturn(ctx context.Context, merchantID, id, to string) (*refundry.Return, error) {
	r, err := e.Stores.Returns.FindReturn(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	if r.Status == to {
		return r, nil // idempotent by nature, as a repeated click is
	}
	from := r.Status
	if _, err := r.Move(to, e.Now()); err != nil {
		return nil, err
	}
	if err := e.Stores.Returns.UpdateReturn(ctx, r, from); err != nil {
		return nil, err
	}
	return r, nil
}

// RefundReturn refunds a received return: its lines by quantity, less the
// restocking fee the merchant keeps (the refund's fee), and marks it
// refunded with the refunds' ids. The refund is made under an
// Idempotency-Key of the return's own (refundry.Return.RefundRequest), so
// a retry after a crash between the two steps replays the refund made the
// first time, sends nothing twice, and finishes marking the return. A
// refunded return is answered as it is.
//
// Returns ENOTFOUND; ECONFLICT for a return not received; EINVALID naming
// restocking_fee for a fee below 0 or above the refund's amount; and the
// refund's own errors (ETOOLARGE, EREFUNDED, ECHARGEDISPUTED).
func (e *Engine) RefundReturn(ctx context.Context, merchantID, id string, restockingFee int64) (*refundry.Return, *refundry.RefundResult, error) {
	return e.RefundReturnFrom(ctx, refundry.SourceNative, merchantID, id, restockingFee)
}

// RefundReturnFrom is RefundReturn through the edge source names
// (refundry.SourceDashboard, ...). A replayed refund keeps its first
// source.
func (e *Engine) RefundReturnFrom(ctx context.Context, source, merchantID, id string, restockingFee int64) (*refundry.Return, *refundry.RefundResult, error) {
	r, err := e.Stores.Returns.FindReturn(ctx, merchantID, id)
	if err != nil {
		return nil, nil, err
	}
	if r.Status == refundry.ReturnRefunded {
		return r, nil, nil
	}
	req, err := r.RefundRequest(restockingFee)
	if err != nil {
		return nil, nil, err
	}
	req.Source = source
	res, err := e.Refund(ctx, req)
	if err != nil {
		return nil, nil, refundry.RestockingFeeError(err)
	}
	if _, err := r.Refunded(res.Refunds, e.Now()); err != nil {
		return nil, nil, err
	}
	// The refund is made: the return must say so even if the client has
	// hung up.
	if err := e.Stores.Returns.UpdateReturn(context.WithoutCancel(ctx), r, refundry.ReturnReceived); err != nil {
		if refundry.ErrorCode(err) != refundry.ECONFLICT {
			return nil, nil, err
		}
		// Marked meanwhile by a concurrent retry, which replayed the
		// same refund: the stored return is the answer.
		cur, ferr := e.Stores.Returns.FindReturn(context.WithoutCancel(ctx), merchantID, id)
		if ferr != nil || cur.Status != refundry.ReturnRefunded {
			return nil, nil, err
		}
		r = cur
	}
	return r, res, nil
}
