package refundry

import (
	"slices"
	"strconv"
	"time"
)

// Returns: goods a customer sends back. A return claims units of a sale's
// lines when it is requested, is received when the goods arrive, and is
// refunded once: the refund pays for its units, less the restocking fee
// the merchant keeps. Its units stay claimed while it is open, so two
// returns can never claim the same unit.

// ReturnTransition is one step a return may take.
type ReturnTransition struct {
	From, To string
	// Event is appended in the same database transaction as the step.
	Event string
}

// ReturnTransitions is the return state machine: every status change a
// return may make, and nothing else. A refunded or canceled return is
// final.
var ReturnTransitions = []ReturnTransition{
	{ReturnRequested, ReturnReceived, EventReturnReceived},
	{ReturnReceived, ReturnRefunded, EventReturnRefunded},
	{ReturnRequested, ReturnCanceled, EventReturnCanceled},
	{ReturnReceived, ReturnCanceled, EventReturnCanceled},
}

// ReturnStatuses lists every return status, for validating filters.
var ReturnStatuses = []string{ReturnRequested, ReturnReceived, ReturnRefunded, ReturnCanceled}

// Audit actions of returns.
const (
	AuditReturnCreate  = "return.create"
	AuditReturnReceive = "return.receive"
	AuditReturnRefund  = "return.refund"
	AuditReturnCancel  = "return.cancel"
)

// ReturnAction is the audit action of moving a return to status.
func ReturnAction(status string) string {
	switch status {
	case ReturnReceived:
		return AuditReturnReceive
	case ReturnRefunded:
		return AuditReturnRefund
	case ReturnCanceled:
		return AuditReturnCancel
	}
	return AuditReturnCreate
}

// LookupReturnTransition returns the step from one status to another.
// Returns ECONFLICT if the table has no such step.
func LookupReturnTransition(from, to string) (ReturnTransition, error) {
	for _, t := range ReturnTransitions {
		if t.From == from && t.To == to {
			return t, nil
		}
	}
	return ReturnTransition{}, Errorf(ECONFLICT, "A %s return cannot become %s.", from, to)
}

// ReturnOpen reports whether a return in this status still claims its
// units: it may yet be refunded.
func ReturnOpen(status string) bool {
	return status == ReturnRequested || status == ReturnReceived
}

// Open reports whether r still claims its units.
func (r *Return) Open() bool { return ReturnOpen(r.Status) }

// Move takes r to status to at now, as the table allows, stamping the
// time the status names. Returns ECONFLICT for a step the table does not
// have; r is unchanged then.
func (r *Return) Move(to string, now time.Time) (ReturnTransition, error) {
	t, err := LookupReturnTransition(r.Status, to)
	if err != nil {
		return t, err
	}
	r.Status = to
	r.Updated = now
	switch to {
	case ReturnReceived:
		r.ReceivedAt = now
	case ReturnRefunded:
		r.RefundedAt = now
	}
	return t, nil
}

// MaxReturnLines bounds the lines of one return (a sale has at most 1000).
const MaxReturnLines = 1000

// Validate checks what a return request says on its own, before any sale
// is read: a sale, at least one line, each line named once with a whole
// quantity of at least 1, and text the stores can keep. Returns EINVALID
// naming the parameter.
func (r *Return) Validate() error {
	if r.SaleID == "" {
		return ParamErrorf(EINVALID, "sale", "A return needs the sale it returns goods of.")
	}
	if !ValidID(r.SaleID) {
		return ParamErrorf(ENOTFOUND, "sale", "No such sale: %s", truncate(r.SaleID, 64))
	}
	if len(r.Lines) == 0 {
		return ParamErrorf(EINVALID, "lines", "A return needs at least one line: a line item and a quantity.")
	}
	if len(r.Lines) > MaxReturnLines {
		return ParamErrorf(EINVALID, "lines", "A return has at most %d lines.", MaxReturnLines)
	}
	seen := make(map[string]bool, len(r.Lines))
	for i, l := range r.Lines {
		if l.LineItemID == "" {
			return ParamErrorf(EINVALID, returnLineParam(i, "line_item"), "Each line names a line item of the sale.")
		}
		if !ValidID(l.LineItemID) {
			return ParamErrorf(EINVALID, returnLineParam(i, "line_item"), "No such line item on sale %s: %s", r.SaleID, truncate(l.LineItemID, 64))
		}
		if seen[l.LineItemID] {
			return ParamErrorf(EINVALID, returnLineParam(i, "line_item"), "Line item %s is named twice; give its whole quantity once.", l.LineItemID)
		}
		seen[l.LineItemID] = true
		if l.Quantity < 1 {
			return ParamErrorf(EINVALID, returnLineParam(i, "quantity"), "Quantity must be a whole number of at least 1.")
		}
	}
	return checkTexts(500, "reason", r.Reason, "description", r.Description)
}

// ReturnableQuantities is, for each line of sale, the units a new return
// may still claim: its quantity less the units refunded by quantity and
// the units that open returns claim. A shipping line is never returned.
func ReturnableQuantities(sale *Sale, open []*Return) map[string]int64 {
	out := make(map[string]int64, len(sale.LineItems))
	for _, li := range sale.LineItems {
		if li.Kind == LineShipping {
			continue
		}
		out[li.ID] = li.Quantity - li.RefundedQuantity
	}
	for _, o := range open {
		if o.SaleID != sale.ID || !o.Open() {
			continue
		}
		for _, l := range o.Lines {
			if _, ok := out[l.LineItemID]; ok {
				out[l.LineItemID] -= l.Quantity
			}
		}
	}
	for id, n := range out {
		out[id] = max(n, 0)
	}
	return out
}

// DecideReturn decides a return request r on sale, given the sale's
// returns that are still open, which the store read under the lock that
// keeps other returns and refunds of the sale out until it commits: so
// that no unit is claimed by two returns, nor returned once refunded. It
// fills in r's id, status and times and returns the event to append.
//
// Returns EINVALID naming the line (a line of another sale, a shipping
// line) or its quantity (above what the line has left to return).
func DecideReturn(sale *Sale, open []*Return, r *Return, now time.Time) (*Event, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if sale.ID != r.SaleID || sale.MerchantID != r.MerchantID {
		return nil, ParamErrorf(ENOTFOUND, "sale", "No such sale: %s", r.SaleID)
	}
	left := ReturnableQuantities(sale, open)
	for i, l := range r.Lines {
		li := returnLineOf(sale, l.LineItemID)
		switch {
		case li == nil:
			return nil, ParamErrorf(EINVALID, returnLineParam(i, "line_item"), "No such line item on sale %s: %s", sale.ID, l.LineItemID)
		case li.Kind == LineShipping:
			return nil, ParamErrorf(EINVALID, returnLineParam(i, "line_item"), "Line item %s is shipping: it cannot be sent back. Refund it instead.", li.ID)
		case li.Remaining() <= 0:
			return nil, ParamErrorf(EINVALID, returnLineParam(i, "line_item"), "Line item %s is refunded in full: nothing remains to pay for its return.", li.ID)
		case l.Quantity > left[li.ID]:
			return nil, ParamErrorf(EINVALID, returnLineParam(i, "quantity"),
				"Quantity %d is more than line item %s has left to return (%d of %d: the rest is refunded or in other open returns).",
				l.Quantity, li.ID, left[li.ID], li.Quantity)
		}
	}
	r.ID = NewID()
	r.Status = ReturnRequested
	r.Lines = slices.Clone(r.Lines)
	r.RestockingFee = 0
	r.RefundIDs = []string{}
	r.Created, r.Updated = now, now
	r.ReceivedAt, r.RefundedAt = time.Time{}, time.Time{}
	return NewEvent(r.MerchantID, EventReturnCreated, "return", r.ID, r, now)
}

// RefundRequest is the refund that pays for a received return: its
// lines by quantity, less the restocking fee the merchant keeps, under an
// Idempotency-Key of the return's own, so that asking again after a
// crash replays the refund made the first time and never refunds twice.
// Returns EINVALID naming restocking_fee for a negative fee; a fee above
// the refund's amount is refused by DecideRefund (see RestockingFeeError).
func (r *Return) RefundRequest(fee int64) (RefundRequest, error) {
	if r.Status != ReturnReceived {
		return RefundRequest{}, Errorf(ECONFLICT, "Return %s is %s: only a received return is refunded.", r.ID, r.Status)
	}
	if fee < 0 || fee > maxAmount {
		return RefundRequest{}, ParamErrorf(EINVALID, "restocking_fee", "Restocking fee must be between 0 and the refund's amount.")
	}
	lines := make([]LineRequest, len(r.Lines))
	for i, l := range r.Lines {
		lines[i] = LineRequest{LineItemID: l.LineItemID, Quantity: l.Quantity}
	}
	key := ReturnRefundKey(r.ID)
	return RefundRequest{
		MerchantID: r.MerchantID, Target: RefundTarget{SaleID: r.SaleID}, Lines: lines,
		Fee: fee, Reason: r.Reason, Description: r.Description, ReturnID: r.ID,
		// The key's hash names only the return: the retry of a refund
		// whose answer was lost replays it whatever fee the retry names,
		// and the return records the fee the refund kept.
		Idempotency: &Idempotency{Key: key, Hash: key},
	}, nil
}

// CheckReturnRefundable is the check a store makes, in the refund's own
// transaction, that the return a refund pays for (of status, "" if the
// merchant has no such return) is still received: a return canceled
// between the engine's read and the refund is not paid for. Returns
// ENOTFOUND or ECONFLICT.
func CheckReturnRefundable(id, status string) error {
	switch status {
	case "":
		return ParamErrorf(ENOTFOUND, "return", "No such return: %s", id)
	case ReturnReceived:
		return nil
	}
	return Errorf(ECONFLICT, "Return %s is %s: only a received return is refunded.", id, status)
}

// ReturnRefundKey is the Idempotency-Key under which a return's refund is
// made.
func ReturnRefundKey(returnID string) string { return "return:" + returnID + ":refund" }

// RestockingFeeError says err in a return's words: the refund's fee is
// the return's restocking fee.
func RestockingFeeError(err error) error {
	if ErrorParam(err) == "fee" {
		return ParamErrorf(ErrorCode(err), "restocking_fee", "Restocking fee must be between 0 and the refund's amount.")
	}
	return err
}

// Refunded marks r refunded by refunds at now: its refund ids, and the
// restocking fee they kept.
func (r *Return) Refunded(refunds []*Refund, now time.Time) (ReturnTransition, error) {
	t, err := r.Move(ReturnRefunded, now)
	if err != nil {
		return t, err
	}
	r.RefundIDs = make([]string, len(refunds))
	r.RestockingFee = 0
	for i, rf := range refunds {
		r.RefundIDs[i] = rf.ID
		r.RestockingFee += rf.Fee
	}
	return t, nil
}

// Normalize applies the page's defaults and checks the status. Returns
// EINVALID.
func (f *ReturnFilter) Normalize() error {
	if err := f.Page.Normalize(); err != nil {
		return err
	}
	if f.Status != "" && !slices.Contains(ReturnStatuses, f.Status) {
		return ParamErrorf(EINVALID, "status", "Status must be requested, received, refunded or canceled.")
	}
	if f.SaleID != "" && !ValidID(f.SaleID) {
		return ParamErrorf(EINVALID, "sale", "No such sale: %s", truncate(f.SaleID, 64))
	}
	return nil
}

func returnLineOf(s *Sale, id string) *LineItem {
	for _, li := range s.LineItems {
		if li.ID == id {
			return li
		}
	}
	return nil
}

func returnLineParam(i int, f string) string { return "lines[" + strconv.Itoa(i) + "]." + f }
