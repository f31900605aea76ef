package simulator

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// Test values that make the gateway's word arrive after the call.
const (
	PrefixLateFail            = "sim_late_fail"
	PrefixLateFailSilent      = "sim_late_fail_silent"
	PrefixGatewayRefund       = "sim_gateway_refund_"
	PrefixGatewayRefundSilent = "sim_gateway_refund_silent_"
	PrefixDisputeOpen         = "sim_dispute_open"
	PrefixDisputeWon          = "sim_dispute_won"
	PrefixDisputeLost         = "sim_dispute_lost"
)

// Delays of the situations, as a processor's would be, only shorter.
const (
	// EventDelay is how long after the sale is recorded a refund made at
	// the gateway or a dispute is reported.
	EventDelay = 100 * time.Millisecond
	// LateFailDelay is how long a sim_late_fail refund stays succeeded.
	LateFailDelay = time.Second
	// DisputeCloseDelay is how long a won or lost dispute stays open.
	DisputeCloseDelay = 2 * time.Second
)

// LateFailReason is why a sim_late_fail refund failed.
const LateFailReason = "The simulator could not refund: the card was closed."

// Event types the simulator sends, named as Stripe's are.
const (
	EventRefundCreated  = "refund.created"
	EventRefundFailed   = "refund.failed"
	EventDisputeCreated = "dispute.created"
	EventDisputeClosed  = "dispute.closed"
)

// payment is one the simulator heard of through PaymentRecorded.
type payment struct {
	transactionID string
	ref           string
	amount        int64
	currency      string
	recorded      time.Time
}

var (
	_ refundry.RefundLister   = (*Gateway)(nil)
	_ refundry.PaymentWatcher = (*Gateway)(nil)
)

// PaymentRecorded learns of a simulator payment once its sale is stored,
// and sets off what its reference asks for: a refund made at the gateway,
// a dispute opened (and closed). It returns at once; the events follow
// on timers.
func (g *Gateway) PaymentRecorded(ctx context.Context, t *refundry.Transaction) {
	if t == nil || t.Gateway != refundry.GatewaySimulator {
		return
	}
	p := &payment{transactionID: t.ID, ref: t.Reference, amount: t.Amount, currency: t.Currency, recorded: g.Now()}
	g.mu.Lock()
	g.payments[p.ref] = p
	g.mu.Unlock()

	ref := p.ref
	if amount, silent, ok := gatewayRefund(ref); ok && !silent {
		rep := g.gatewayRefundReport(p, amount)
		g.after(EventDelay, func() { g.send(EventRefundCreated, simEvent{Refund: refundOf(rep)}) })
	}
	var closeAs string
	switch {
	case strings.HasPrefix(ref, PrefixDisputeWon):
		closeAs = refundry.DisputeWon
	case strings.HasPrefix(ref, PrefixDisputeLost):
		closeAs = refundry.DisputeLost
	case !strings.HasPrefix(ref, PrefixDisputeOpen):
		return
	}
	d := simDispute{ID: "sim_dp_" + p.transactionID, Payment: ref, Amount: p.amount, Currency: p.currency,
		Status: refundry.DisputeNeedsResponse, Reason: "fraudulent", Created: p.recorded}
	g.after(EventDelay, func() { g.send(EventDisputeCreated, simEvent{Dispute: &d}) })
	if closeAs != "" {
		closed := d
		closed.Status = closeAs
		g.after(EventDelay+DisputeCloseDelay, func() { g.send(EventDisputeClosed, simEvent{Dispute: &closed}) })
	}
}

// scheduleLateFailure sends the event of a sim_late_fail refund's failure
// once LateFailDelay has passed; sim_late_fail_silent sends none. The
// caller holds g.mu.
func (g *Gateway) scheduleLateFailure(st *refund) {
	if strings.HasPrefix(st.ref, PrefixLateFailSilent) {
		return
	}
	rep := g.report(st)
	rep.Status, rep.FailureReason = refundry.RefundFailed, LateFailReason
	g.afterLocked(LateFailDelay, func() { g.send(EventRefundFailed, simEvent{Refund: refundOf(rep)}) })
}

// ListRefunds returns the refunds the simulator holds for the payment
// with reference chargeID: one made at the gateway if the reference asks
// for it, then every refund Refundry asked for, each in its status now.
// Returns EUNAVAILABLE for a payment whose sale was not recorded by this
// process since it started: refunds of it made before then are
// forgotten, and a list without them would call them missing.
func (g *Gateway) ListRefunds(ctx context.Context, chargeID string) ([]refundry.RefundReport, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, made := g.payments[chargeID], g.made[chargeID]
	if p == nil {
		return nil, refundry.Errorf(refundry.EUNAVAILABLE, "The simulator keeps its payments in memory and has no record of payment %q since it started.", chargeID)
	}
	out := []refundry.RefundReport{}
	if amount, _, ok := gatewayRefund(chargeID); ok {
		out = append(out, g.gatewayRefundReport(p, amount))
	}
	for _, st := range made {
		out = append(out, g.report(st))
	}
	return out, nil
}

// report is what the simulator says of a refund Refundry asked for.
func (g *Gateway) report(st *refund) refundry.RefundReport {
	status, reason := g.current(st)
	cur := st.currency
	if p := g.payments[st.ref]; cur == "" && p != nil {
		cur = p.currency
	}
	return refundry.RefundReport{
		Gateway: refundry.GatewaySimulator, ChargeIDs: []string{st.ref},
		GatewayRefundID: "sim_" + st.id, RefundID: st.id,
		Amount: st.amount, Currency: cur, Status: status, FailureReason: reason, Created: st.created.UTC(),
	}
}

// gatewayRefundReport is the refund a sim_gateway_refund_ payment holds,
// made "in the simulator's dashboard": Refundry never asked for it.
func (g *Gateway) gatewayRefundReport(p *payment, amount int64) refundry.RefundReport {
	return refundry.RefundReport{
		Gateway: refundry.GatewaySimulator, ChargeIDs: []string{p.ref},
		GatewayRefundID: "sim_gw_" + p.transactionID,
		Amount:          amount, Currency: p.currency, Status: refundry.RefundSucceeded, Created: p.recorded.UTC(),
	}
}

// gatewayRefund reads sim_gateway_refund_[silent_]<minor> from a
// reference.
func gatewayRefund(ref string) (amount int64, silent, ok bool) {
	rest, ok := strings.CutPrefix(ref, PrefixGatewayRefundSilent)
	if ok {
		silent = true
	} else if rest, ok = strings.CutPrefix(ref, PrefixGatewayRefund); !ok {
		return 0, false, false
	}
	end := 0
	for end < len(rest) && end < 18 && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(rest[:end], 10, 64)
	if err != nil || n <= 0 {
		return 0, false, false
	}
	return n, silent, true
}

// after runs fn once d has passed, unless the simulator is closed first.
func (g *Gateway) after(d time.Duration, fn func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterLocked(d, fn)
}

// afterLocked is after for a caller that holds g.mu. A timer forgets
// itself once it has fired, so a long-lived simulator keeps only those
// still to fire.
func (g *Gateway) afterLocked(d time.Duration, fn func()) {
	if g.closed {
		return
	}
	g.timerSeq++
	n := g.timerSeq
	g.timers[n] = time.AfterFunc(d, func() {
		g.mu.Lock()
		delete(g.timers, n)
		closed := g.closed
		g.mu.Unlock()
		if !closed {
			fn()
		}
	})
}

// send hands one event to Events, as a gateway's webhook would post it.
// A sink that fails loses the event, as a webhook never delivered would:
// reconciliation finds what it said.
func (g *Gateway) send(typ string, ev simEvent) {
	sink := g.Events
	if sink == nil {
		return
	}
	ev.ID, ev.Type = "evt_sim_"+refundry.NewID(), typ
	payload, err := json.Marshal(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = sink(ctx, &refundry.GatewayEvent{
		Gateway: refundry.GatewaySimulator, EventID: ev.ID, Type: typ, Payload: payload, Received: g.Now().UTC(),
	})
}

// simEvent is the simulator's own small event payload.
type simEvent struct {
	ID      string      `json:"id"`
	Type    string      `json:"type"`
	Refund  *simRefund  `json:"refund,omitempty"`
	Dispute *simDispute `json:"dispute,omitempty"`
}

type simRefund struct {
	ID            string    `json:"id"`
	RefundID      string    `json:"refund_id,omitempty"`
	Payment       string    `json:"payment"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	FailureReason string    `json:"failure_reason,omitempty"`
	Created       time.Time `json:"created"`
}

type simDispute struct {
	ID       string    `json:"id"`
	Payment  string    `json:"payment"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
	Created  time.Time `json:"created"`
}

func refundOf(rep refundry.RefundReport) *simRefund {
	return &simRefund{ID: rep.GatewayRefundID, RefundID: rep.RefundID, Payment: rep.ChargeIDs[0], Amount: rep.Amount,
		Currency: rep.Currency, Status: rep.Status, FailureReason: rep.FailureReason, Created: rep.Created}
}

// ParseEvent reads one event the simulator sent into the reports it
// makes: the engine's event parser for the gateway "simulator". Returns
// EINVALID for a payload it cannot read; an event of a type it does not
// know makes no report.
func ParseEvent(payload []byte) ([]refundry.GatewayReport, error) {
	var ev simEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, refundry.Errorf(refundry.EINVALID, "The simulator's event is not valid JSON: %v", err)
	}
	switch ev.Type {
	case EventRefundCreated, EventRefundFailed:
		r := ev.Refund
		if r == nil || r.ID == "" || r.Payment == "" || r.Amount <= 0 || r.Status == "" {
			return nil, refundry.Errorf(refundry.EINVALID, "The simulator's %s event names no refund with an id, a payment, an amount and a status.", ev.Type)
		}
		return []refundry.GatewayReport{{Refund: &refundry.RefundReport{
			Gateway: refundry.GatewaySimulator, ChargeIDs: []string{r.Payment}, GatewayRefundID: r.ID, RefundID: r.RefundID,
			Amount: r.Amount, Currency: r.Currency, Status: r.Status, FailureReason: r.FailureReason, Created: r.Created,
		}}}, nil
	case EventDisputeCreated, EventDisputeClosed:
		d := ev.Dispute
		if d == nil || d.ID == "" || d.Payment == "" || d.Amount <= 0 || d.Status == "" {
			return nil, refundry.Errorf(refundry.EINVALID, "The simulator's %s event names no dispute with an id, a payment, an amount and a status.", ev.Type)
		}
		return []refundry.GatewayReport{{Dispute: &refundry.DisputeReport{
			Gateway: refundry.GatewaySimulator, ChargeIDs: []string{d.Payment}, GatewayDisputeID: d.ID,
			Amount: d.Amount, Currency: d.Currency, Status: d.Status, Reason: d.Reason, Created: d.Created,
		}}}, nil
	}
	return nil, nil
}
