package engine

import (
	"context"
	"time"
)

// recoveryBatch is the most refunds one recovery pass claims.
const recoveryBatch = 500

// RunRecovery settles refunds left pending, at start and then every
// interval, until ctx ends. A refund is first asked about once it is
// minAge old, so that a call still in flight from its request is left
// alone; asking twice would be harmless anyway, since the gateway call is
// idempotent by refund id. A pass that claimed a full batch is followed
// at once by the next, so a backlog drains at the gateways' pace, not one
// batch per interval.
func (e *Engine) RunRecovery(ctx context.Context, interval, minAge time.Duration) {
	backoff := interval
	for {
		n, claimed, err := e.recoverPass(ctx, e.Now().Add(-minAge), recoveryBatch)
		if ctx.Err() == nil {
			e.observe().RecoveryPass(n, err)
		}
		wait := interval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			e.Logger.Warn("recovery pass failed", "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, time.Minute)
		default:
			if n > 0 {
				e.Logger.Info("recovery settled pending refunds", "count", n)
			}
			backoff = interval
			if claimed >= recoveryBatch {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
