package refundry

import (
	"encoding/json"
	"slices"
	"time"
)

// Decisions. A rule that changes money or state is decided here, by a pure
// function of what a store read (a sale, a refund), the request and the
// time, and returned as a value describing every change to make. Stores
// lock, read, call the decision and write what it returns; they decide
// nothing, so two stores cannot drift apart.

// HoldKind names the row an amount moves on.
type HoldKind uint8

// Rows an amount moves on.
const (
	OnTransaction HoldKind = iota
	OnLineItem
	OnSale
)

// Move changes the amount refunded on one row of a sale by Delta: positive
// when a refund reserves it, negative when one releases it. A store writes
// it as a conditional update that must change exactly one row and keep
// the row's refunded amount between 0 and its amount, so that a store
// whose rows disagree with the decision fails rather than over-refunds
// (invariant 2, kept a second time).
type Move struct {
	Kind   HoldKind
	ID     string
	SaleID string
	Delta  int64
	// Quantity changes a line item's refunded units (OnLineItem only),
	// kept between 0 and the line's quantity the same way.
	Quantity int64
	// Unbounded lets a positive move take the row's refunded amount above
	// its amount: only for adopting a refund made at the gateway, whose
	// money is gone already whatever the cap says (sale.over_refunded).
	Unbounded bool
}

// AuditRow is one audit log entry a change makes: the store fills in the
// actor from the request's context, which a pure decision cannot see.
type AuditRow struct {
	Action   string
	ObjectID string
	Note     string // AuditEntry.Note
}

// RefundDecision is everything a refund request changes.
type RefundDecision struct {
	// Refunds to insert, in order; the first's id is their group.
	Refunds []*Refund
	// Moves reserve the refunds' amounts, one per row touched.
	Moves []Move
	// Sale is the sale as it is once the moves are made.
	Sale *Sale
	// Events to append, in order.
	Events []*Event
	// Notify are the refunds whose customer is owed an email now.
	Notify []*Refund
	Audit  []AuditRow
}

// DecideRefund decides req against sale, which the store read under the
// lock that keeps every other change to the sale out until it commits:
// this is the one place the over-refund rule of invariant 2 is decided,
// and the decision stays true because nothing can change the sale between
// the read and the write.
//
// The fee is what the merchant keeps of the whole request: it is taken
// from the refunds it creates, in order, never more than each one's
// amount, and a refund the fee covers whole has no money to move, so it
// is recorded succeeded without any gateway call.
//
// Returns PlanRefund's errors, EINVALID for a fee above the refund's
// amount or (with req.ExactRemainder) an amount that is not what remains.
// sale is not changed; the decision's Sale is a copy.
func DecideRefund(sale *Sale, req RefundRequest, now time.Time) (*RefundDecision, error) {
	if err := CheckPolicy(req.Policy, sale, now); err != nil {
		return nil, err
	}
	allocs, lines, err := planLines(sale, req)
	if err != nil {
		return nil, err
	}
	var total int64
	amounts := make([]int64, len(allocs))
	for i, a := range allocs {
		total += a.Amount
		amounts[i] = a.Amount
	}
	perRefund := splitLines(lines, amounts)
	if req.Fee < 0 || req.Fee > total {
		return nil, ParamErrorf(EINVALID, "fee", "Fee must be between 0 and the refund's amount.")
	}
	refundedAt := now
	if !req.RefundedAt.IsZero() {
		refundedAt = req.RefundedAt.UTC().Truncate(time.Microsecond)
	}
	var meta json.RawMessage
	if len(req.Metadata) > 0 {
		meta = slices.Clone(req.Metadata)
	}
	after := cloneSale(sale)
	d := &RefundDecision{Sale: after}
	// The money that leaves is what the customer gets back: the whole
	// request less the fee the merchant keeps.
	approval := req.Policy.NeedsApproval(req.Source, sale.Currency, total-req.Fee)
	fee := req.Fee
	for i, a := range allocs {
		r := &Refund{
			ID: NewID(), MerchantID: req.MerchantID, SaleID: sale.ID,
			TransactionID: a.TransactionID, LineItemID: a.LineItemID,
			Amount: a.Amount, Fee: min(fee, a.Amount), Currency: sale.Currency,
			Reason: req.Reason, Metadata: meta, Offsite: a.Gateway == GatewayOffsite,
			NotifyCustomer: req.NotifyCustomer, Gateway: a.Gateway, Source: req.Source, Name: req.Name,
			ExternalID: req.ExternalID, CreatedSource: req.CreatedSource,
			Description: req.Description, GatewayReason: req.GatewayReason, ReturnID: req.ReturnID, Lines: perRefund[i],
			RefundedAt: refundedAt, Created: now, Updated: now,
		}
		fee -= r.Fee
		r.Group = r.ID
		if i > 0 {
			r.Group = d.Refunds[0].ID
		}
		r.RequestedBy = req.RequestedBy
		r.Status = InitialStatus(r.Offsite, r.Fee == r.Amount)
		if approval {
			r.Status = RefundRequiresApproval
			r.ApprovalExpires = now.Add(req.Policy.ApprovalExpiry())
		}
		t, err := LookupTransition(StatusNew, r.Status, ByClient)
		if err != nil {
			return nil, err
		}
		d.Refunds = append(d.Refunds, r)
		d.hold(t, r)
		for _, typ := range t.Events {
			ev, err := NewEvent(r.MerchantID, typ, "refund", r.ID, r, now)
			if err != nil {
				return nil, err
			}
			d.Events = append(d.Events, ev)
		}
		if notifies(t, r) {
			d.Notify = append(d.Notify, r)
		}
		d.Audit = append(d.Audit, AuditRow{Action: AuditRefundCreate, ObjectID: r.ID})
	}
	d.Moves = mergeMoves(d.Moves)
	// planRefund refuses a sale with nothing left, so a sale refunded in
	// full now became so with this request.
	if after.RefundedAmount >= after.Amount {
		ev, err := NewEvent(after.MerchantID, EventSaleRefunded, "sale", after.ID, after, now)
		if err != nil {
			return nil, err
		}
		d.Events = append(d.Events, ev)
	}
	return d, nil
}

// planLines decides the refunds req makes of sale (one per transaction
// the money goes back through) and what they return of each line, in
// line order, adding up to their amounts:
//
//   - Lines and Shipping: the units and amounts requested, their total
//     taken from the transactions in order.
//   - A line item's refund by amount: that line alone, no units.
//   - A sale's or a transaction's refund: the amount allocated over the
//     sale's lines (AllocateLines).
func planLines(sale *Sale, req RefundRequest) ([]Allocation, []RefundLine, error) {
	if len(req.Lines) == 0 && req.Shipping == nil {
		allocs, err := planRefund(sale, req.Target, req.Amount, req.Offsite, req.ExactRemainder)
		if err != nil {
			return nil, nil, err
		}
		var total int64
		for _, a := range allocs {
			total += a.Amount
		}
		if req.Target.LineItemID != "" {
			return allocs, []RefundLine{{LineItemID: req.Target.LineItemID, Amount: total}}, nil
		}
		return allocs, AllocateLines(sale.LineItems, total), nil
	}
	if _, err := LookupCurrency(sale.Currency); err != nil {
		return nil, nil, err
	}
	if req.Target.SaleID != "" && req.Target.SaleID != sale.ID {
		return nil, nil, Errorf(ENOTFOUND, "No such sale: %s", req.Target.SaleID)
	}
	lines, err := requestedLines(sale, req)
	if err != nil {
		return nil, nil, err
	}
	total := sumLines(lines)
	param := "lines"
	if len(req.Lines) == 0 {
		param = "shipping"
	}
	// Units whose money a refund by amount already returned can come back
	// with no money; a request of nothing else has nothing to refund.
	if total == 0 {
		return nil, nil, ParamErrorf(EREFUNDED, param, "Nothing remains to refund of these lines: their amounts have already been refunded.")
	}
	if total > sale.Refundable() {
		return nil, nil, ParamErrorf(ETOOLARGE, param, "The lines' amount (%d minor units) is greater than what remains refundable of the sale (%d).",
			total, sale.Refundable())
	}
	allocs, err := takeFromTransactions(sale.Transactions, total, nil, req.Offsite, req.Target)
	if err != nil {
		return nil, nil, err
	}
	return allocs, lines, nil
}

// hold applies t's hold of r to the decision's sale and moves.
func (d *RefundDecision) hold(t Transition, r *Refund) {
	if t.Hold != Reserve {
		return
	}
	d.Moves = append(d.Moves, moves(r, 1)...)
	applyMoves(d.Sale, moves(r, 1))
}

// moves are the rows a refund holds its amount on, each changed by its
// part of the refund times sign (1 reserves, -1 releases): its
// transaction and sale by its amount, each of its lines by the line's
// amount and units. A release reverses exactly what the refund's stored
// Lines reserved. A refund without lines (none is made since lines were
// stored with every refund) holds its amount on its line item, if any.
func moves(r *Refund, sign int64) []Move {
	out := []Move{{Kind: OnTransaction, ID: r.TransactionID, SaleID: r.SaleID, Delta: sign * r.Amount}}
	switch {
	case len(r.Lines) > 0:
		for _, l := range r.Lines {
			out = append(out, Move{Kind: OnLineItem, ID: l.LineItemID, SaleID: r.SaleID, Delta: sign * l.Amount, Quantity: sign * l.Quantity})
		}
	case r.LineItemID != "":
		out = append(out, Move{Kind: OnLineItem, ID: r.LineItemID, SaleID: r.SaleID, Delta: sign * r.Amount})
	}
	return append(out, Move{Kind: OnSale, ID: r.SaleID, SaleID: r.SaleID, Delta: sign * r.Amount})
}

// mergeMoves sums the moves on one row into one, keeping the order in
// which rows first appear, so a store makes one update per row.
func mergeMoves(ms []Move) []Move {
	var out []Move
	for _, m := range ms {
		i := slices.IndexFunc(out, func(o Move) bool { return o.Kind == m.Kind && o.ID == m.ID })
		if i < 0 {
			out = append(out, m)
			continue
		}
		out[i].Delta += m.Delta
		out[i].Quantity += m.Quantity
	}
	return out
}

// applyMoves changes the amounts of sale as ms change its rows.
func applyMoves(sale *Sale, ms []Move) {
	for _, m := range ms {
		switch m.Kind {
		case OnSale:
			sale.RefundedAmount += m.Delta
			sale.Status = PaymentState(sale.Amount, sale.RefundedAmount)
		case OnTransaction:
			for _, t := range sale.Transactions {
				if t.ID == m.ID {
					t.RefundedAmount += m.Delta
					t.Status = PaymentState(t.Amount, t.RefundedAmount)
				}
			}
		case OnLineItem:
			for _, li := range sale.LineItems {
				if li.ID == m.ID {
					li.RefundedAmount += m.Delta
					li.RefundedQuantity += m.Quantity
				}
			}
		}
	}
}

// cloneSale copies sale deep enough that applyMoves on the copy leaves
// sale as it was.
func cloneSale(sale *Sale) *Sale {
	c := *sale
	c.Transactions = make([]*Transaction, len(sale.Transactions))
	for i, t := range sale.Transactions {
		tc := *t
		c.Transactions[i] = &tc
	}
	c.LineItems = make([]*LineItem, len(sale.LineItems))
	for i, li := range sale.LineItems {
		lc := *li
		c.LineItems[i] = &lc
	}
	return &c
}

// notifies reports whether t owes r's customer an email: r asked for one
// and money went back to them. A refund the fee covered whole returned
// nothing, so there is nothing to tell.
func notifies(t Transition, r *Refund) bool {
	return t.Notify && r.NotifyCustomer && r.Amount > r.Fee
}

// SettleDecision is everything a settlement of a refund changes.
type SettleDecision struct {
	// Refund is the refund as it is after the settlement.
	Refund *Refund
	// Unchanged reports a repeated settlement (a retry, a second webhook):
	// the refund is already in the status asked for, and nothing is to be
	// written.
	Unchanged bool
	// From is the status the store must find the refund in when it
	// writes: its update is conditional on it, so the step happens once.
	From   string
	Moves  []Move
	Events []*Event
	Notify []*Refund
	Audit  []AuditRow
}

// DecideSettlement decides st against r, read under the store's lock on
// r's sale and r itself. r is not changed; the decision's Refund is a copy.
// Returns EINVALID for a status no refund settles in, and
// LookupTransition's ECONFLICT when r's status does not allow the step.
func DecideSettlement(r *Refund, st Settlement, now time.Time) (*SettleDecision, error) {
	if !settles(st.Status) {
		return nil, ParamErrorf(EINVALID, "status", "A refund settles as succeeded, failed or canceled.")
	}
	by := st.cause()
	if st.From != "" && r.Status != st.From {
		return nil, ParamErrorf(ECONFLICT, "status", "The refund is %s now, no longer %s: it was decided meanwhile.", r.Status, st.From)
	}
	// A gateway's answer repeated (a retry, a second webhook) changes
	// nothing. A person's decision, or an expiry, is never a repeat: the
	// second of two approvals must be refused, or the refund would be
	// sent to its gateway twice.
	if r.Status == st.Status && by&(ByApprover|ByExpiry) == 0 {
		return &SettleDecision{Refund: r, Unchanged: true}, nil
	}
	t, err := LookupTransition(r.Status, st.Status, by)
	if err != nil {
		return nil, err
	}
	if by == ByApprover && r.Status == RefundRequiresApproval && st.Status != RefundCanceled {
		if err := CheckApprover(r, st.Actor); err != nil {
			return nil, err
		}
		// The deadline is exact, not as late as the expiry sweep runs.
		if !r.ApprovalExpires.IsZero() && !now.Before(r.ApprovalExpires) {
			return nil, ParamErrorf(ECONFLICT, "status", "Refund %s waited for approval until %s and nobody approved it in time; it is released. Ask for it again if it is still due.",
				r.ID, r.ApprovalExpires.UTC().Format(time.RFC3339))
		}
	}
	after := *r
	after.Settle(st, now)
	d := &SettleDecision{Refund: &after, From: r.Status}
	switch t.Hold {
	case Release:
		d.Moves = moves(&after, -1)
	case Reserve:
		d.Moves = moves(&after, 1)
	}
	for _, typ := range t.Events {
		ev, err := NewEvent(after.MerchantID, typ, "refund", after.ID, &after, now)
		if err != nil {
			return nil, err
		}
		d.Events = append(d.Events, ev)
	}
	if notifies(t, &after) {
		d.Notify = []*Refund{&after}
	}
	d.Audit = SettleAudit(r, st)
	return d, nil
}

// settles reports whether a refund already recorded can move to status.
func settles(status string) bool {
	for _, t := range Transitions {
		if t.From != StatusNew && t.To == status {
			return true
		}
	}
	return false
}
