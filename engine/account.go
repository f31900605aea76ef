package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// CreateGatewayAccount validates a's kind, base URL and credentials,
// seals the credentials with e.Secrets and stores the account (a Talkable
// account with its delivery endpoint). The answer carries Hints, never
// Credentials. EINVALID naming the field; EUNAVAILABLE when the server
// has no secrets key.
func (e *Engine) CreateGatewayAccount(ctx context.Context, a *refundry.GatewayAccount) (*refundry.GatewayAccount, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

// GatewayAccount returns one of a merchant's accounts, removed or not,
// without its credentials. ENOTFOUND.
func (e *Engine) GatewayAccount(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

// GatewayAccounts lists a merchant's active accounts, without
// credentials.
func (e *Engine) GatewayAccounts(ctx context.Context, merchantID string) ([]*refundry.GatewayAccount, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

// RemoveGatewayAccount removes an account: ECONFLICT while refunds
// through it hold money; ENOTFOUND.
func (e *Engine) RemoveGatewayAccount(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

// ResealGatewayAccounts re-seals every account sealed with an older key
// under e.Secrets' newest, and returns how many it re-sealed: the last
// step of a key rotation.
func (e *Engine) ResealGatewayAccounts(ctx context.Context) (int, error) {
	return 0, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

// GatewayAccountDeliveries lists the deliveries of a Talkable account's
// endpoint, newest first, each with its attempts. ENOTFOUND for an
// account that is not the merchant's or is not a Talkable account.
func (e *Engine) GatewayAccountDeliveries(ctx context.Context, merchantID, id string, p refundry.Page) ([]*refundry.Delivery, bool, error) {
	return nil, false, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}
