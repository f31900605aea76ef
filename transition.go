package refundry

import (
	"slices"
	"strings"
)

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
	// ByApprover is a person or key allowed to approve (scope approve)
	// deciding a refund held for approval or for manual review.
	ByApprover
	// ByExpiry is an approval's deadline passing with nobody deciding.
	ByExpiry
)

// Has reports whether c includes every cause of o.
func (c Cause) Has(o Cause) bool { return o != 0 && c&o == o }

// String names the causes of c, joined by "/".
func (c Cause) String() string {
	var names []string
	for _, x := range []struct {
		c    Cause
		name string
	}{{ByClient, "client"}, {ByGateway, "gateway"}, {ByRecovery, "recovery"}, {ByPerson, "person"}, {ByReport, "report"},
		{ByApprover, "approver"}, {ByExpiry, "expiry"}} {
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

	// Approval (RefundPolicy): a refund at or above the merchant's
	// threshold is held, its amount reserved, until someone other than
	// its requester approves it (then it goes to its gateway, or succeeds
	// at once if no money moves) or rejects it. Its requester may
	// withdraw it; nobody deciding by its deadline releases it.
	{From: StatusNew, To: RefundRequiresApproval, By: ByClient | ByPerson,
		Events: []string{EventRefundCreated, EventRefundRequiresApproval}, Hold: Reserve},
	{From: RefundRequiresApproval, To: RefundPending, By: ByApprover,
		Events: []string{EventRefundApproved}, Hold: Keep},
	{From: RefundRequiresApproval, To: RefundSucceeded, By: ByApprover,
		Events: []string{EventRefundApproved, EventRefundSucceeded}, Hold: Keep, Notify: true},
	{From: RefundRequiresApproval, To: RefundCanceled, By: ByApprover,
		Events: []string{EventRefundRejected}, Hold: Release},
	{From: RefundRequiresApproval, To: RefundCanceled, By: ByExpiry,
		Events: []string{EventRefundExpired}, Hold: Release},
	{From: RefundRequiresApproval, To: RefundCanceled, By: ByClient | ByPerson,
		Events: []string{EventRefundCanceled}, Hold: Release},

	// Manual review (ReviewRule): a refund its gateway kept refusing or
	// left unknown too long waits for a person, its amount still held
	// since the gateway may have paid. The person marks it succeeded
	// (with the gateway's reference), failed, or sends it back to
	// recovery; the gateway's own later report settles it too. A gateway
	// call sends it there at once when the gateway turned the first call
	// away, or when a OneShot gateway gave no answer (engine.askGateway).
	{From: RefundPending, To: RefundRequiresAction, By: ByGateway | ByRecovery,
		Events: []string{EventRefundRequiresAction}, Hold: Keep},
	{From: RefundRequiresAction, To: RefundSucceeded, By: ByApprover | ByReport,
		Events: []string{EventRefundSucceeded}, Hold: Keep, Notify: true},
	{From: RefundRequiresAction, To: RefundFailed, By: ByApprover | ByReport,
		Events: []string{EventRefundFailed}, Hold: Release},
	{From: RefundRequiresAction, To: RefundCanceled, By: ByReport,
		Events: []string{EventRefundCanceled}, Hold: Release},
	{From: RefundRequiresAction, To: RefundPending, By: ByApprover,
		Events: []string{EventRefundRetried}, Hold: Keep},
}

// InitialStatus is the status a new refund is recorded in: succeeded when
// no gateway has anything to do (offsite, or the merchant keeps it all as
// the fee), pending otherwise, until its gateway answers.
//
// A refund that needs approval starts RefundRequiresApproval instead
// (DecideRefund); approving it moves it to what InitialStatus says.
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
//
// Several transitions may join the same two statuses for different
// causes (a refund requiring approval is canceled by a rejection, an
// expiry or its requester, each with its own event): the one whose By
// includes by is returned.
func LookupTransition(from, to string, by Cause) (Transition, error) {
	known, joined := false, false
	for _, t := range Transitions {
		if t.To != to {
			continue
		}
		known = true
		if t.From != from {
			continue
		}
		joined = true
		if t.By.Has(by) {
			return t, nil
		}
	}
	switch {
	case joined:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "A %s cannot move a refund from %s to %s.", by, from, to)
	case !known:
		return Transition{}, ParamErrorf(EINVALID, "status", "A refund settles as succeeded, failed or canceled.")
	case to == RefundPending && from == RefundPending:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "The refund is already pending: it was approved or sent back to its gateway before.")
	case to == RefundPending:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "Only a refund that requires approval or action can be sent to its gateway; this one is %s.", from)
	case to == RefundCanceled:
		return Transition{}, ParamErrorf(ECONFLICT, "status", "Only a pending refund or one awaiting approval can be canceled; this one is %s.", from)
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
//
// A status holds if a transition into it reserves, or keeps what a
// holding status it comes from held; a release into it means it does
// not. The table never both releases into a status and keeps or
// reserves into it (TestTransitions_HoldsConsistent).
func Holds(status string) bool {
	return holds(status, map[string]bool{})
}

func holds(status string, seen map[string]bool) bool {
	if seen[status] {
		return false
	}
	seen[status] = true
	for _, t := range Transitions {
		if t.To != status {
			continue
		}
		switch {
		case t.Hold == Reserve:
			return true
		case t.Hold == Keep && t.From != StatusNew && holds(t.From, seen):
			return true
		}
	}
	return false
}

// HoldingStatuses lists every status that Holds, in the table's order:
// what a store counts against the cap.
func HoldingStatuses() []string {
	var out []string
	for _, t := range Transitions {
		if !slices.Contains(out, t.To) && Holds(t.To) {
			out = append(out, t.To)
		}
	}
	return out
}

// CanCancel reports why a refund in status cannot be canceled by by, or
// nil if it can (its gateway still has the last word).
func CanCancel(status string, by Cause) error {
	_, err := LookupTransition(status, RefundCanceled, by)
	return err
}
