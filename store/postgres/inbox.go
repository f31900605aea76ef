package postgres

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// Placeholder: the gateway event inbox is being built.

func (s *Store) ReceiveGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) (bool, error) {
	return false, refundry.Errorf(refundry.EINTERNAL, "the gateway event inbox is not built yet")
}

func (s *Store) ClaimGatewayEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*refundry.GatewayEvent, error) {
	return nil, nil
}

func (s *Store) FinishGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) error { return nil }

func (s *Store) CountGatewayEvents(ctx context.Context) (map[string]int64, error) { return nil, nil }
