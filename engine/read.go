package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// The reads every edge makes. They add nothing to the stores' answers:
// they are here so that the engine is the only door to the stores, and an
// edge depends on the use cases, never on how they are kept. Each is
// scoped by merchant; another merchant's object is answered ENOTFOUND,
// like a missing one (invariant 5).

// FindSale returns the merchant's sale found by exactly one identity, with
// its line items and transactions. Returns ENOTFOUND.
func (e *Engine) FindSale(ctx context.Context, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error) {
	return e.Stores.Sales.FindSale(ctx, merchantID, by)
}

// ListSales returns one page of the merchant's sales, newest first, and
// whether more follow.
func (e *Engine) ListSales(ctx context.Context, merchantID string, f refundry.SaleFilter) ([]*refundry.Sale, bool, error) {
	return e.Stores.Sales.ListSales(ctx, merchantID, f)
}

// FindRefund returns ENOTFOUND if the merchant has no such refund.
func (e *Engine) FindRefund(ctx context.Context, merchantID, id string) (*refundry.Refund, error) {
	return e.Stores.Refunds.FindRefund(ctx, merchantID, id)
}

// ListRefunds returns one page of the merchant's refunds, newest first,
// and whether more follow.
func (e *Engine) ListRefunds(ctx context.Context, merchantID string, f refundry.RefundFilter) ([]*refundry.Refund, bool, error) {
	return e.Stores.Refunds.ListRefunds(ctx, merchantID, f)
}

// ListEvents returns one page of the merchant's events, newest first, and
// whether more follow.
func (e *Engine) ListEvents(ctx context.Context, merchantID string, f refundry.EventFilter) ([]*refundry.Event, bool, error) {
	return e.Stores.Events.ListEvents(ctx, merchantID, f)
}

// FindOrigin returns ENOTFOUND if the merchant has no such referral
// origin.
func (e *Engine) FindOrigin(ctx context.Context, merchantID, slug string) (*refundry.Origin, error) {
	return e.Stores.Referrals.FindOrigin(ctx, merchantID, slug)
}

// ListReferrals returns an origin's referrals, newest first. Returns
// ENOTFOUND if the merchant has no such origin.
func (e *Engine) ListReferrals(ctx context.Context, merchantID string, originID int64) ([]*refundry.Referral, error) {
	return e.Stores.Referrals.ListReferrals(ctx, merchantID, originID)
}

// FindAPIKey returns the key with that id, read afresh (never cached), so
// that an edge holding a session made with it (the dashboard) sees a
// revocation by any process at once. Returns ENOTFOUND.
func (e *Engine) FindAPIKey(ctx context.Context, id string) (*refundry.APIKey, error) {
	return e.Stores.Merchants.FindAPIKey(ctx, id)
}

// FindMerchantBySlug returns ENOTFOUND if there is no such merchant.
func (e *Engine) FindMerchantBySlug(ctx context.Context, slug string) (*refundry.Merchant, error) {
	return e.Stores.Merchants.FindMerchantBySlug(ctx, slug)
}
