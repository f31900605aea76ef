package sqlite

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// The gateway account store is not built yet: every method answers
// EINTERNAL until migration 0016 lands.

func (s *Store) CreateGatewayAccount(ctx context.Context, a *refundry.GatewayAccount) error {
	return refundry.Errorf(refundry.EINTERNAL, "gateway accounts are not stored yet")
}

func (s *Store) FindGatewayAccount(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such gateway account.")
}

func (s *Store) ListGatewayAccounts(ctx context.Context, merchantID string) ([]*refundry.GatewayAccount, error) {
	return nil, nil
}

func (s *Store) RemoveGatewayAccount(ctx context.Context, merchantID, id string, now time.Time) (*refundry.GatewayAccount, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such gateway account.")
}

func (s *Store) SealedGatewayAccounts(ctx context.Context, keyID string, limit int) ([]*refundry.GatewayAccount, error) {
	return nil, nil
}

func (s *Store) ResealGatewayAccount(ctx context.Context, id, oldKeyID string, sealed []byte, keyID string) (bool, error) {
	return false, nil
}
