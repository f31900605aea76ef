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
//	sim_late_fail...      the refund succeeds at once, and about 1 s later
//	                      the simulator reports it failed ("the card was
//	                      closed") by event
//	sim_late_fail_silent...  the same, but no event is sent: only
//	                      reconciliation finds it (ListRefunds reports it
//	                      failed once the second has passed)
//	sim_gateway_refund_<minor>...  the gateway holds a refund of <minor>
//	                      units made in its own dashboard; reported by event
//	                      shortly after the sale is recorded, and by
//	                      ListRefunds
//	sim_gateway_refund_silent_<minor>...  the same, reported only by
//	                      ListRefunds
//	sim_dispute_open...   a dispute of the whole payment is opened shortly
//	                      after the sale is recorded (needs_response)
//	sim_dispute_won...    the same, and about 2 s later it is closed, won
//	sim_dispute_lost...   the same, and about 2 s later it is closed, lost
//	anything else         succeeds at once
//
// Events reach Refundry the way Stripe's do: the simulator hands each one,
// with an id of its own, to Events (the engine's inbox), and ParseEvent
// reads it back into reports when the inbox worker applies it. Timers
// live in memory: an event not yet sent when the process stops is never
// sent, and is left to reconciliation to find. ListRefunds knows only the
// payments whose sales were recorded since the simulator started (by the
// engine of this process); asked about another payment it answers an
// error, which a reconciliation run reports as the gateway unreachable
// for that payment, never as refunds missing. A report names its payment
// by reference, so references that make these situations should be
// unique on the server (sim_late_fail_order-17).
//
// Outcomes that follow from the refund itself (fail, timed pending) are
// recomputed from the request, so they survive a restart of Refundry; a
// refund's money moves once however often it is asked about.
//
// With LogCalls, every call and its answer is also appended to a file that
// outlives the process, so that a crash test can count what a server
// killed with -9 sent: the simulator's own memory dies with it.
package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

	// Events, if set, receives the events the simulator sends (late
	// failures, refunds made at the gateway, disputes): the engine's
	// ReceiveGatewayEvent. Unset, no event is sent and only
	// reconciliation learns what happened.
	Events func(ctx context.Context, ev *refundry.GatewayEvent) (duplicate bool, err error)

	mu       sync.Mutex
	refunds  map[string]*refund
	answered bool                  // sim_hang answers from now on
	payments map[string]*payment   // by reference, as PaymentRecorded heard them
	made     map[string][]*refund  // by reference, the refunds Refundry asked for
	timers   map[int64]*time.Timer // events still to be sent
	timerSeq int64
	closed   bool

	logMu   sync.Mutex
	log     *os.File // nil: calls are not logged
	logSeq  atomic.Int64
	logPID  int
	logFail error // the first write that failed; every call fails after it
}

// Call is one line of a call log: a call as the simulator received it
// (Op refund or cancel), or the answer to one (Op answer, the same Seq).
type Call struct {
	Op  string `json:"op"`
	PID int    `json:"pid"` // of the process that made the call
	// Seq numbers the calls of one process; an answer carries its call's.
	Seq int64 `json:"seq"`
	// Key is the idempotency key the call carried: the refund id.
	Key         string    `json:"key"`
	Amount      int64     `json:"amount,omitempty"`
	Currency    string    `json:"currency,omitempty"`
	Transaction string    `json:"transaction,omitempty"`
	Status      string    `json:"status,omitempty"` // answer: the outcome given
	Error       string    `json:"error,omitempty"`  // answer: no outcome, only this error
	At          time.Time `json:"at"`
}

// Call log operations.
const (
	OpRefund = "refund"
	OpCancel = "cancel"
	OpAnswer = "answer"
)

type refund struct {
	status string
	moved  int64 // minor units actually returned, counted once

	// What ListRefunds reports of it.
	id        string // Refundry's refund id
	ref       string // the payment's reference
	amount    int64
	currency  string
	created   time.Time
	succeeded time.Time // when it first succeeded; zero until then
}

var _ refundry.Gateway = (*Gateway)(nil)

// New returns a simulator with nothing refunded yet.
func New() *Gateway {
	return &Gateway{Now: time.Now, refunds: map[string]*refund{}, payments: map[string]*payment{}, made: map[string][]*refund{}, timers: map[int64]*time.Timer{}}
}

// LogCalls appends a line (a Call as JSON) to the file at path for every
// call the simulator gets, before it decides anything, and one for every
// answer, before it is returned. Each line is written with O_APPEND and
// synced: a call in the log may have been made, and a call not in it was
// not. A line that cannot be written fails its call, as an unreachable
// gateway would, so nothing is ever answered unlogged.
func (g *Gateway) LogCalls(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("simulator call log: %w", err)
	}
	g.logMu.Lock()
	g.log, g.logPID = f, os.Getpid()
	g.logMu.Unlock()
	return nil
}

// Close stops the timers of events not yet sent and closes the call log,
// if there is one.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	for _, t := range g.timers {
		t.Stop()
	}
	clear(g.timers)
	g.mu.Unlock()
	g.logMu.Lock()
	defer g.logMu.Unlock()
	if g.log == nil {
		return nil
	}
	err := g.log.Close()
	g.log = nil
	if g.logFail == nil {
		g.logFail = os.ErrClosed
	}
	return err
}

// logCall records a call about to be handled and returns its number.
func (g *Gateway) logCall(op string, r refundry.GatewayRefund) (int64, error) {
	c := Call{Op: op, Seq: g.logSeq.Add(1), Key: r.RefundID, Amount: r.Amount, Currency: r.Currency}
	if r.Transaction != nil {
		c.Transaction = r.Transaction.ID
	}
	return c.Seq, g.append(c)
}

// logAnswer records the answer to call seq; a failure to record it turns
// the answer into an error, an outcome unknown to the caller.
func (g *Gateway) logAnswer(seq int64, key string, res refundry.GatewayResult, err error) error {
	c := Call{Op: OpAnswer, Seq: seq, Key: key, Status: res.Status}
	if err != nil {
		c.Status, c.Error = "", err.Error()
	}
	if lerr := g.append(c); lerr != nil && err == nil {
		return lerr
	}
	return err
}

func (g *Gateway) append(c Call) error {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	if g.log == nil && g.logFail == nil {
		return nil
	}
	if g.logFail != nil {
		return fmt.Errorf("simulator call log: %w", g.logFail)
	}
	c.PID, c.At = g.logPID, time.Now().UTC()
	line, _ := json.Marshal(c)
	if _, err := g.log.Write(append(line, '\n')); err != nil {
		g.logFail = err
	} else if err := g.log.Sync(); err != nil {
		g.logFail = err
	}
	if g.logFail != nil {
		return fmt.Errorf("simulator call log: %w", g.logFail)
	}
	return nil
}

// Name is the gateway name payments use.
func (g *Gateway) Name() string { return refundry.GatewaySimulator }

// Refund decides or reports the outcome of r.
func (g *Gateway) Refund(ctx context.Context, r refundry.GatewayRefund) (res refundry.GatewayResult, err error) {
	seq, err := g.logCall(OpRefund, r)
	if err != nil {
		return refundry.GatewayResult{}, err
	}
	defer func() {
		if err = g.logAnswer(seq, r.RefundID, res, err); err != nil {
			res = refundry.GatewayResult{}
		}
	}()
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
		st = &refund{status: g.decide(ref), id: r.RefundID, ref: ref, amount: r.Amount, currency: r.Currency, created: r.Created}
		if st.created.IsZero() {
			st.created = g.Now()
		}
		g.refunds[r.RefundID] = st
		g.made[ref] = append(g.made[ref], st)
	}
	if st.status == refundry.RefundPending {
		if d, then, timed := pendingDelay(ref); timed && !g.Now().Before(r.Created.Add(d)) {
			st.status = then
		}
	}
	if st.status == refundry.RefundSucceeded && st.moved == 0 {
		st.moved = r.Amount
		st.succeeded = g.Now()
		if strings.HasPrefix(ref, PrefixLateFail) {
			g.scheduleLateFailure(st)
		}
	}
	return g.result(r.RefundID, st), nil
}

// Cancel cancels a refund the simulator still holds as pending.
func (g *Gateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (res refundry.GatewayResult, err error) {
	seq, err := g.logCall(OpCancel, r)
	if err != nil {
		return refundry.GatewayResult{}, err
	}
	defer func() {
		if err = g.logAnswer(seq, r.RefundID, res, err); err != nil {
			res = refundry.GatewayResult{}
		}
	}()
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
	status, reason := g.current(st)
	return refundry.GatewayResult{Status: status, GatewayRefundID: "sim_" + id, FailureReason: reason}
}

// current is a refund's status as the simulator holds it now, and why it
// failed: a sim_late_fail refund turns failed LateFailDelay after it
// succeeded, whether or not its event has been sent.
func (g *Gateway) current(st *refund) (status, reason string) {
	if st.status == refundry.RefundSucceeded && strings.HasPrefix(st.ref, PrefixLateFail) &&
		!st.succeeded.IsZero() && !g.Now().Before(st.succeeded.Add(LateFailDelay)) {
		return refundry.RefundFailed, LateFailReason
	}
	if st.status == refundry.RefundFailed {
		return st.status, "Refund declined by the simulator (test value " + PrefixFail + ")."
	}
	return st.status, ""
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
