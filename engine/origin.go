package engine

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// RefundOrigin refunds a referral origin and voids its referrals: a
// purchase is refunded in full (on every transaction) in the same database
// transaction that voids them; an event moves no money and only voids.
// Repeating it changes nothing more. It returns the origin's most recent
// referral afterwards, or nil when it has none.
// Returns ENOTFOUND if the merchant has no such origin, EGATEWAY with the
// gateway's reason if the purchase's refund was declined.
func (e *Engine) RefundOrigin(ctx context.Context, merchantID, slug, source string, refundedAt time.Time, idem *refundry.Idempotency) (*refundry.Referral, error) {
	origin, err := e.Stores.Referrals.FindOrigin(ctx, merchantID, slug)
	if err != nil && refundry.ErrorCode(err) != refundry.ENOTFOUND {
		return nil, err
	}
	if origin == nil && refundry.IsEventSlug(slug) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "Origin not found: %s", slug)
	}
	if origin == nil || origin.Kind == refundry.OriginPurchase {
		// A purchase with no referral yet is still a purchase: refund it.
		sale, err := e.Stores.Sales.FindSale(ctx, merchantID, refundry.SaleLookup{Reference: slug})
		if err != nil {
			return nil, err
		}
		res, err := e.Refund(ctx, refundry.RefundRequest{MerchantID: merchantID, Target: refundry.RefundTarget{SaleID: sale.ID},
			Source: source, RefundedAt: refundedAt, VoidReferrals: true, Idempotency: idem})
		if err != nil && refundry.ErrorCode(err) != refundry.EREFUNDED {
			return nil, err
		}
		if res != nil {
			for _, r := range res.Refunds {
				if err := r.Refusal(); err != nil {
					// The referrals stay voided: the merchant asked for the
					// refund, and the purchase can be refunded again.
					return nil, err
				}
			}
		}
		if origin == nil {
			return nil, nil
		}
	}
	// An event, or a purchase refunded in full before (by another edge,
	// which voids nothing): void what is left.
	if _, err := e.Stores.Referrals.VoidReferrals(ctx, merchantID, origin.ID, refundedAt); err != nil {
		return nil, err
	}
	refs, err := e.Stores.Referrals.ListReferrals(ctx, merchantID, origin.ID)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	return refs[0], nil
}
