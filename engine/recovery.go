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
//
// When a pass fails because the database does not answer, the loop probes
// it every interval and passes again as soon as it answers: refunds left
// pending by an outage are settled seconds after it ends, not after a
// backoff grown while it lasted. Other failures back off, doubling up to a
// minute.
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
		case err != nil && !e.storeAnswers(ctx, interval):
			e.Logger.Warn("recovery pass failed; the database does not answer, probing it", "err", err, "every", interval)
			if !e.awaitStore(ctx, interval) {
				return
			}
			e.Logger.Info("the database answers again; recovery resumes")
			backoff = interval
			continue
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

// storeAnswers pings the store, giving it at least a second.
func (e *Engine) storeAnswers(ctx context.Context, interval time.Duration) bool {
	pingCtx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
	defer cancel()
	return e.Stores.Health.Ping(pingCtx) == nil
}

// awaitStore probes the store every interval until it answers (true) or
// ctx ends (false). A ping is one round trip, cheap enough to repeat.
func (e *Engine) awaitStore(ctx context.Context, interval time.Duration) bool {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if e.storeAnswers(ctx, interval) {
			return true
		}
	}
}
