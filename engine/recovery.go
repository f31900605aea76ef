package engine

import (
	"context"
	"time"
)

// RunRecovery settles refunds left pending, at start and then every
// interval, until ctx ends. Only refunds older than minAge are asked
// about, so that a call still in flight from its request is left alone;
// asking twice would be harmless anyway, since the gateway call is
// idempotent by refund id.
func (e *Engine) RunRecovery(ctx context.Context, interval, minAge time.Duration) {
	backoff := interval
	for {
		n, err := e.Recover(ctx, e.Now().Add(-minAge), 500)
		if ctx.Err() == nil {
			e.observe().RecoveryPass(n, err)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			e.Logger.Warn("recovery pass failed", "err", err, "retry_in", backoff)
			backoff = min(backoff*2, time.Minute)
		default:
			if n > 0 {
				e.Logger.Info("recovery settled pending refunds", "count", n)
			}
			backoff = interval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}
