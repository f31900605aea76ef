package refundry

import "strings"

// Cause names who makes a refund change status. The table below says who
// may cause each transition; a transition asked for by anyone else is
// refused.
type Cause uint8

// Causes, as bits so that a transition can name several.
const (
	// ByClient is a request through an edge: an API key creating or
	// canceling a refund.
	ByClient Cause = 1 << iota
	// ByGateway is the gateway's answer to a call just made.
	ByGateway
	// ByRecovery is the gateway's answer to recovery asking again about
	// a refund left pending (invariant 6).
	ByRecovery
	// ByPerson is someone signed in to the dashboard.
	ByPerson
	// ByReport is the gateway's own word after the call: an inbound event
	// or what reconciliation found listed. It may adopt a refund made at
	// the gateway and correct a succeeded refund that failed late.
	ByReport
)

// Has reports whether c includes every cause of o.
func (c Cause) Has(o Cause) bool { return o != 0 && c&o == o }

// String names the causes of c, joined by "/".
func (c Cause) String() string {
	var names []string
	for _, x := range []struct {
		c    Cause
		name string
	}{{ByClient, "client"}, {ByGateway, "gateway"}, {ByRecovery, "recovery"}, {ByPerson, "person"}, {ByReport, "report"}} {
		if c&x.c != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, "/")
}

// Hold says what a transition does to the amount a refund holds on its
// transaction, line item and sale: the sums invariant 2 bounds.
type Hold int8

// Holds.
const (
	// Keep leaves what is held as it is.
	Keep Hold = iota
	// Reserve adds the refund's amount: it now counts against the cap.
	Reserve
	// Release gives the refund's amount back: it no longer counts.
	Release
)

// Transition is one step a refund may take from one status to another.
type Transition struct {
	From, To string
	// By is who may cause it.
	By Cause
	// Events are the events it appends, in order, in the same database
	// transaction as the change.
	Events []string
	// Hold is what it does to the amount held against the cap.
	Hold Hold
	// Notify owes the customer an email, if the refund asked for one.
	Notify bool
}

// StatusNew is the status of a refund not yet recorded: the From of the
// transitions that create one.
const StatusNew = ""

// Transitions is the refund state machine: every status change a refund
// may make, and nothing else. Stores and the engine go through
// LookupTransition for every change, so a new status is added here (and in
// a migration's CHECK, and in each edge's word for it), not in the stores.
//
// Invariant 2: a refund holds its amount against the cap from the moment
// it is created pending or succeeded until it fails or is canceled; the
// Hold column is the only place that says so.
var Transitions = []Transition{
	// A gateway's report adopts a refund made at the gateway (its
	// dashboard, its API): recorded as the gateway has it, pending or
	// succeeded, reserving its amount like any other.
	{From: StatusNew, To: RefundPending, By: ByClient | ByPerson | ByReport,
		Events: []string{EventRefundCreated}, Hold: Reserve},
	// Offsite refunds, and refunds the fee covers whole, move no money
	// through a gateway: they are recorded succeeded at once.
	{From: StatusNew, To: RefundSucceeded, By: ByClient | ByPerson | ByReport,
		Events: []string{EventRefundCreated, EventRefundSucceeded}, Hold: Reserve, Notify: true},
	{From: RefundPending, To: RefundSucceeded, By: ByGateway | ByRecovery | ByReport,
		Events: []string{EventRefundSucceeded}, Hold: Keep, Notify: true},
	{From: RefundPending, To: RefundFailed, By: ByGateway | ByRecovery | ByReport,
		Events: []string{EventRefundFailed}, Hold: Release},
	// A cancel is asked by a client or a person, but only the gateway's
	// word that it still held the refund makes it one; a gateway may also
	// report a refund canceled on its side.
	{From: RefundPending, To: RefundCanceled, By: ByClient | ByPerson | ByGateway | ByRecovery | ByReport,
		Events: []string{EventRefundCanceled}, Hold: Release},
	// A late failure: the gateway took back a refund it had reported
	// succeeded (the card was closed, the bank returned it). The money did
	// not reach the customer, so the amount is refundable again. Only the
	// gateway's own report can say so; nothing else moves a refund
	// backwards.
	{From: RefundSucceeded, To: RefundFailed, By: ByReport,
		Events: []string{EventRefundFailed}, Hold: Release},
}

// InitialStatus is the status a new refund is recorded in: succeeded when
// no gateway has anything to do (offsite, or the merchant keeps it all as
// the fee), pending otherwise, until its gateway answers.
func InitialStatus(offsite, feeCoversAll bool) string {
	if offsite || feeCoversAll {
		return RefundSucceeded
	}
	return RefundPending
}

// LookupTransition returns the transition from one status to another if
// by may cause it. It is the one place an illegal transition is refused:
// ECONFLICT for a refund whose status does not allow it, EINVALID for a
// status that is not one a refund can move to.
func LookupTransition(from, to string, by Cause) (Transition, error) {
	known := false
	for _, t := range Transitions {
		if t.To != to {
			continue
		}
		known = true
		if t.From != from {
			continue
		}
		if !t.By.Has(by) {
			return Transition{}, ParamErrorf(ECONFLICT, "status", "A %s cannot move a refund from %s to %s.", by, from, to)
		}
		return t, nil
	}
	switch {
	case !known:
		return Transition{}, ParamErrorf(EINVALID, "status", "A refund settles as succeeded, failed or canceled.")
	case to == RefundPending:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "A refund never moves back to pending; this one is %s.", from)
	case to == RefundCanceled:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "Only a pending refund can be canceled; this one has %s.", from)
	default:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "The refund is already %s; it cannot become %s.", from, to)
	}
}

// FinalStatus reports whether a refund in status can no longer change by
// anyone's request: no transition leaves it but the gateway's own late
// report (ByReport), which no client, person or recovery can cause.
func FinalStatus(status string) bool {
	for _, t := range Transitions {
		if t.From == status && t.By != ByReport {
			return false
		}
	}
	return true
}

// Holds reports whether a refund in status counts against what remains
// refundable (invariant 2): it was reserved on creation and no transition
// has released it since.
func Holds(status string) bool {
	held := false
	for _, t := range Transitions {
		if t.From == StatusNew && t.To == status {
			return t.Hold == Reserve
		}
		if t.To == status && t.Hold == Reserve {
			held = true
		}
	}
	return held
}

// CanCancel reports why a refund in status cannot be canceled by by, or
// nil if it can (its gateway still has the last word).
func CanCancel(status string, by Cause) error {
	_, err := LookupTransition(status, RefundCanceled, by)
	return err
}
