// Package simulator is a payment gateway that moves no real money, so that
// every path of a refund's life can be tried without an account. What it
// does is chosen by the payment's reference:
//
//	sim_fail...           the refund is declined (status failed)
//	sim_pending_<dur>...  pending, then succeeded once <dur> (a Go duration
//	                      such as 2s or 500ms) has passed since the refund
//	                      was recorded; asking again after that settles it
//	sim_pending_<dur>_fail...  the same, but declined once <dur> has passed
//	sim_pending...        pending until Settle is called for it
//	sim_hang...           never answers: the call lasts until its deadline
//	                      (until Answer is called; then it succeeds)
//	anything else         succeeds at once
//
// Outcomes that follow from the refund itself (fail, timed pending) are
// recomputed from the request, so they survive a restart of Refundry; a
// refund's money moves once however often it is asked about.
package simulator

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/refundry/refundry"
)

// Test values recognised at the start of a payment reference.
const (
	PrefixFail    = "sim_fail"
	PrefixPending = "sim_pending"
	PrefixHang    = "sim_hang"
)

// Gateway is the simulator. The zero value is not usable; call New.
type Gateway struct {
	Now func() time.Time

	mu       sync.Mutex
	refunds  map[string]*refund
	answered bool // sim_hang answers from now on
}

type refund struct {
	status string
	moved  int64 // minor units actually returned, counted once
}

var _ refundry.Gateway = (*Gateway)(nil)

// New returns a simulator with nothing refunded yet.
func New() *Gateway {
	return &Gateway{Now: time.Now, refunds: map[string]*refund{}}
}

// Name is the gateway name payments use.
func (g *Gateway) Name() string { return refundry.GatewaySimulator }

// Refund decides or reports the outcome of r.
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	ref := r.Transaction.Reference
	g.mu.Lock()
	hang := strings.HasPrefix(ref, PrefixHang) && !g.answered
	g.mu.Unlock()
	if hang {
		<-ctx.Done()
		return refundry.GatewayResult{}, ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.refunds[r.RefundID]
	if !ok {
		st = &refund{status: g.decide(ref)}
		g.refunds[r.RefundID] = st
	}
	if st.status == refundry.RefundPending {
		if d, then, timed := pendingDelay(ref); timed && !g.Now().Before(r.Created.Add(d)) {
			st.status = then
		}
	}
	if st.status == refundry.RefundSucceeded && st.moved == 0 {
		st.moved = r.Amount
	}
	return g.result(r.RefundID, st), nil
}

// Cancel cancels a refund the simulator still holds as pending.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.refunds[r.RefundID]
	if !ok {
		// Never heard of it (a crash before the first call): nothing moved,
		// so it can be canceled.
		st = &refund{status: refundry.RefundCanceled}
		g.refunds[r.RefundID] = st
		return g.result(r.RefundID, st), nil
	}
	switch st.status {
	case refundry.RefundPending, refundry.RefundCanceled:
		st.status = refundry.RefundCanceled
		return g.result(r.RefundID, st), nil
	}
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "The gateway has already %s this refund; it can no longer be canceled.", st.status)
}

// Settle decides a refund held pending (sim_pending), as a processor would
// some time later. status is succeeded or failed. It reports whether the
// simulator held that refund pending.
func (g *Gateway) Settle(refundID, status string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.refunds[refundID]
	if !ok || st.status != refundry.RefundPending {
		return false
	}
	st.status = status
	return true
}

// Answer ends the hang of sim_hang payments, as a gateway that comes back:
// from then on their refunds succeed.
func (g *Gateway) Answer() {
	g.mu.Lock()
	g.answered = true
	g.mu.Unlock()
}

// Moved reports how many minor units the simulator returned for a refund:
// a refund asked about many times still moves its money once.
func (g *Gateway) Moved(refundID string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st, ok := g.refunds[refundID]; ok {
		return st.moved
	}
	return 0
}

func (g *Gateway) decide(ref string) string {
	switch {
	case strings.HasPrefix(ref, PrefixFail):
		return refundry.RefundFailed
	case strings.HasPrefix(ref, PrefixPending):
		return refundry.RefundPending
	}
	return refundry.RefundSucceeded
}

func (g *Gateway) result(id string, st *refund) refundry.GatewayResult {
	res := refundry.GatewayResult{Status: st.status, GatewayRefundID: "sim_" + id}
	if st.status == refundry.RefundFailed {
		res.FailureReason = "Refund declined by the simulator (test value " + PrefixFail + ")."
	}
	return res
}

// pendingDelay reads the <dur> of sim_pending_<dur>, and the status the
// refund takes once it has passed.
func pendingDelay(ref string) (time.Duration, string, bool) {
	rest, ok := strings.CutPrefix(ref, PrefixPending+"_")
	if !ok {
		return 0, "", false
	}
	dur, tail := rest, ""
	if i := strings.IndexAny(rest, "_-:/"); i >= 0 {
		dur, tail = rest[:i], rest[i:]
	}
	d, err := time.ParseDuration(dur)
	if err != nil || d < 0 {
		return 0, "", false
	}
	if strings.HasPrefix(tail, "_fail") {
		return d, refundry.RefundFailed, true
	}
	return d, refundry.RefundSucceeded, true
}
