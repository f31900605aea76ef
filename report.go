package refundry

import (
	"slices"
	"time"
)

// Decisions on gateway reports (truth.go): what a gateway's word after
// the call changes in the ledger. As with DecideRefund, stores lock the
// sale, read it, call these and write what they return.

// DisputeOpen reports whether a dispute in status may still take the
// payment back through the card network: while it is, a refund of the
// same payment would pay the customer twice (ECHARGEDISPUTED).
func DisputeOpen(status string) bool {
	switch status {
	case DisputeWarningNeedsResponse, DisputeWarningUnderReview, DisputeNeedsResponse, DisputeUnderReview:
		return true
	}
	return false
}

// DisputeClosed reports whether a dispute in status is decided: it can
// no longer reopen.
func DisputeClosed(status string) bool {
	switch status {
	case DisputeWon, DisputeLost, DisputeWarningClosed, DisputePrevented:
		return true
	}
	return false
}

// DisputeStatuses lists every dispute status, for validating input.
var DisputeStatuses = []string{
	DisputeWarningNeedsResponse, DisputeWarningUnderReview, DisputeWarningClosed,
	DisputeNeedsResponse, DisputeUnderReview, DisputeWon, DisputeLost, DisputePrevented,
}

// ValidateDispute checks a dispute recorded by hand (POST /v1/disputes)
// before any store is asked: a transaction, a known status and an amount
// above zero. Whether the amount fits the transaction is decided by
// DecideDisputeReport, which sees it.
func (r *DisputeReport) ValidateDispute() error {
	if r.TransactionID == "" && r.DisputeID == "" {
		return ParamErrorf(EINVALID, "transaction", "Name the disputed transaction.")
	}
	if !slices.Contains(DisputeStatuses, r.Status) {
		return ParamErrorf(EINVALID, "status", "Status %q is not a dispute status (one of %v).", truncate(r.Status, 64), DisputeStatuses)
	}
	if r.DisputeID == "" && (r.Amount <= 0 || r.Amount > maxAmount) {
		return ParamErrorf(EINVALID, "amount", "Amount must be a positive whole number of minor units.")
	}
	return checkTexts(500, "reason", r.Reason, "gateway_dispute_id", r.GatewayDisputeID)
}

// Matches reports whether the gateway knows the transaction by one of
// chargeIDs: the payment a report of gateway is about.
func (t *Transaction) Matches(gateway string, chargeIDs []string) bool {
	if t.Gateway != gateway {
		return false
	}
	for _, id := range chargeIDs {
		if id != "" && (id == t.GatewayChargeID || id == t.Reference) {
			return true
		}
	}
	return false
}

// ReportDecision is everything a refund report changes. Outcome says
// what kind of change it is; at most one of Adopt and Settle is set, each
// in the shape the store's own writers take, so a report is written
// exactly as a refund request or a settlement is.
type ReportDecision struct {
	Outcome string
	// Detail says why, for a refused or unknown report.
	Detail string
	// Adopt records a refund made at the gateway (OutcomeAdopted). Its
	// moves are Unbounded: the money is gone already, and the ledger must
	// show it even above what was paid.
	Adopt *RefundDecision
	// Settle moves a refund the ledger has (OutcomeSettled,
	// OutcomeCorrected), or only records the gateway's id of it
	// (OutcomeMatched, no moves, no events).
	Settle *SettleDecision
	// Refund is the refund as it is once the decision is written; nil
	// when there is none (ignored, unknown, refused before adoption).
	Refund *Refund
	// Sale is the sale as it is once the decision is written.
	Sale *Sale
}

// DecideRefundReport decides rep against sale (the sale rep's payment
// belongs to, read under the store's lock) and existing, the refund the
// store found for it (by GatewayRefundID, else RefundID) or nil.
//
//   - No refund and the gateway's is pending or succeeded: adopted, as a
//     refund of source gateway, reserving its amount without the cap.
//   - No refund and the gateway's failed or was canceled: ignored, no
//     money moved.
//   - The same status: matched, nothing written but the gateway's id if
//     the ledger lacked it.
//   - A pending refund: settled through the table, ByReport.
//   - A succeeded refund the gateway reports failed or canceled: failed
//     late (corrected), its amount released and refundable again.
//   - Anything the table refuses, or an amount or currency other than the
//     ledger's: refused, with a Detail, nothing written (reconciliation
//     reports it as a mismatch).
//
// sale and existing are not changed.
func DecideRefundReport(sale *Sale, existing *Refund, rep RefundReport, now time.Time) (*ReportDecision, error) {
	d := &ReportDecision{Sale: sale, Refund: existing}
	if !slices.Contains([]string{RefundPending, RefundSucceeded, RefundFailed, RefundCanceled}, rep.Status) {
		d.Outcome, d.Detail = OutcomeRefused, "unknown refund status "+truncate(rep.Status, 64)
		return d, nil
	}
	if existing == nil {
		return decideAdoption(sale, rep, now)
	}
	if rep.Amount != existing.Amount {
		d.Outcome, d.Detail = OutcomeRefused, "amount differs"
		return d, nil
	}
	if rep.Currency != "" && rep.Currency != existing.Currency {
		d.Outcome, d.Detail = OutcomeRefused, "currency differs"
		return d, nil
	}
	if rep.Status == existing.Status {
		d.Outcome = OutcomeMatched
		if existing.GatewayRefundID == "" && rep.GatewayRefundID != "" {
			// The ledger learns the gateway's id (a refund still pending,
			// whose gateway answered without one): nothing else changes,
			// no event, no money.
			after := *existing
			after.GatewayRefundID, after.Updated = rep.GatewayRefundID, now
			d.Settle, d.Refund = &SettleDecision{Refund: &after, From: existing.Status}, &after
		}
		return d, nil
	}
	to, reason := rep.Status, rep.FailureReason
	d.Outcome = OutcomeSettled
	if existing.Status == RefundSucceeded && (to == RefundFailed || to == RefundCanceled) {
		// A succeeded refund the gateway took back failed, whatever word
		// the gateway uses: canceled names a refund stopped before it
		// moved money, and this one had moved it.
		to, d.Outcome = RefundFailed, OutcomeCorrected
		if reason == "" {
			reason = "The payment gateway reported the refund failed after it had succeeded."
		}
	}
	st, err := DecideSettlement(existing, Settlement{
		Status: to, GatewayRefundID: rep.GatewayRefundID, FailureReason: reason, By: ByReport,
	}, now)
	if err != nil {
		if c := ErrorCode(err); c == ECONFLICT || c == EINVALID {
			d.Outcome, d.Detail = OutcomeRefused, ErrorMessage(err)
			return d, nil
		}
		return nil, err
	}
	if st.Unchanged {
		d.Outcome = OutcomeMatched
		return d, nil
	}
	if d.Outcome == OutcomeCorrected {
		for i := range st.Audit {
			st.Audit[i].Action = AuditRefundCorrect
		}
	}
	after := cloneSale(sale)
	applyMoves(after, st.Moves)
	d.Settle, d.Refund, d.Sale = st, st.Refund, after
	return d, nil
}

// decideAdoption records a refund made at the gateway.
func decideAdoption(sale *Sale, rep RefundReport, now time.Time) (*ReportDecision, error) {
	d := &ReportDecision{Sale: sale}
	if rep.Status == RefundFailed || rep.Status == RefundCanceled {
		d.Outcome, d.Detail = OutcomeIgnored, "a refund the ledger never had moved no money"
		return d, nil
	}
	var txn *Transaction
	for _, t := range sale.Transactions {
		if t.Matches(rep.Gateway, rep.ChargeIDs) {
			txn = t
			break
		}
	}
	switch {
	case txn == nil:
		d.Outcome, d.Detail = OutcomeUnknownCharge, "no transaction of the sale is the payment"
		return d, nil
	case rep.Currency != sale.Currency:
		d.Outcome, d.Detail = OutcomeRefused, "currency "+truncate(rep.Currency, 8)+" is not the sale's "+sale.Currency
		return d, nil
	case rep.Amount <= 0 || rep.Amount > maxAmount:
		d.Outcome, d.Detail = OutcomeRefused, "amount out of range"
		return d, nil
	}
	t, err := LookupTransition(StatusNew, rep.Status, ByReport)
	if err != nil {
		return nil, err
	}
	refundedAt := now
	if !rep.Created.IsZero() && rep.Status == RefundSucceeded {
		refundedAt = rep.Created.UTC().Truncate(time.Microsecond)
	}
	r := &Refund{
		ID: NewID(), MerchantID: sale.MerchantID, SaleID: sale.ID, TransactionID: txn.ID,
		Amount: rep.Amount, Currency: sale.Currency, Status: rep.Status,
		Gateway: rep.Gateway, GatewayRefundID: rep.GatewayRefundID, FailureReason: rep.FailureReason,
		Source: SourceGateway, CreatedSource: rep.Gateway,
		RefundedAt: refundedAt, Created: now, Updated: now,
	}
	r.Group = r.ID
	// The gateway's refund lands on the lines as a sale's refund would;
	// beyond what remains on them (an over-refund) it lands on none, and
	// each line's cap holds.
	r.Lines = AllocateLines(sale.LineItems, r.Amount)
	if r.Lines == nil {
		r.Lines = []RefundLine{} // as a store reads it back
	}
	after := cloneSale(sale)
	rd := &RefundDecision{Refunds: []*Refund{r}, Sale: after}
	ms := moves(r, 1)
	for i := range ms {
		ms[i].Unbounded = ms[i].Kind != OnLineItem
	}
	rd.Moves = ms
	applyMoves(after, ms)
	for _, typ := range t.Events {
		ev, err := NewEvent(r.MerchantID, typ, "refund", r.ID, r, now)
		if err != nil {
			return nil, err
		}
		rd.Events = append(rd.Events, ev)
	}
	if after.RefundedAmount >= after.Amount && sale.RefundedAmount < sale.Amount {
		ev, err := NewEvent(after.MerchantID, EventSaleRefunded, "sale", after.ID, after, now)
		if err != nil {
			return nil, err
		}
		rd.Events = append(rd.Events, ev)
	}
	if after.OverRefunded() && !sale.OverRefunded() {
		ev, err := NewEvent(after.MerchantID, EventSaleOverRefunded, "sale", after.ID, after, now)
		if err != nil {
			return nil, err
		}
		rd.Events = append(rd.Events, ev)
	}
	rd.Audit = []AuditRow{{Action: AuditRefundAdopt, ObjectID: r.ID}}
	d.Outcome, d.Adopt, d.Refund, d.Sale = OutcomeAdopted, rd, r, after
	return d, nil
}

// DisputeDecision is everything a dispute report changes.
type DisputeDecision struct {
	// Outcome is OutcomeDispute when something is written, OutcomeMatched
	// when the ledger already said so, OutcomeRefused (with Detail) when
	// the report cannot apply, OutcomeUnknownCharge when the sale has no
	// such payment.
	Outcome string
	Detail  string
	// Dispute is the dispute as it is once written; Insert says whether
	// it is new.
	Dispute *Dispute
	Insert  bool
	// TransactionID is the disputed transaction; DisputeStatus its new
	// status of its latest dispute, DisputedDelta the change of its
	// DisputedAmount (lost disputes).
	TransactionID string
	DisputeStatus string
	DisputedDelta int64
	Sale          *Sale
	Events        []*Event
	Audit         []AuditRow
}

// DecideDisputeReport decides rep against sale and existing, the dispute
// the store found for it (by DisputeID, else gateway and
// GatewayDisputeID) or nil.
//
// A new dispute is created with its amount between 1 and the
// transaction's; a known one takes the report's status, amount and funds
// state. A closed dispute (won, lost, warning_closed, prevented) cannot
// reopen: refused. A dispute that becomes lost takes its amount off what
// is refundable; one that stops being lost gives it back.
//
// The transaction's DisputeStatus follows the reported dispute (the one
// most recently heard of is its latest), except that a payment stays
// disputed while another of its disputes is open: others are the
// transaction's other disputes as the store read them (Stripe has one
// per charge; by hand there may be several). A store that read none
// passes none, and then a payment whose status another dispute set open
// stays open.
//
// Returns EINVALID for an unknown status, an amount out of range, a
// currency other than the sale's, or a dispute recorded by hand on a
// Stripe payment (Stripe reports its own).
func DecideDisputeReport(sale *Sale, existing *Dispute, rep DisputeReport, now time.Time, others ...*Dispute) (*DisputeDecision, error) {
	d := &DisputeDecision{Sale: sale}
	if !slices.Contains(DisputeStatuses, rep.Status) {
		return nil, ParamErrorf(EINVALID, "status", "Status %q is not a dispute status.", truncate(rep.Status, 64))
	}
	var txn *Transaction
	for _, t := range sale.Transactions {
		switch {
		case existing != nil:
			if t.ID == existing.TransactionID {
				txn = t
			}
		case rep.TransactionID != "":
			if t.ID == rep.TransactionID {
				txn = t
			}
		case t.Matches(rep.Gateway, rep.ChargeIDs):
			txn = t
		}
		if txn != nil {
			break
		}
	}
	if txn == nil {
		d.Outcome, d.Detail = OutcomeUnknownCharge, "no transaction of the sale is the payment"
		return d, nil
	}
	manual := rep.MerchantID != ""
	if manual && existing == nil && txn.Gateway == GatewayStripe {
		return nil, ParamErrorf(EINVALID, "transaction", "Stripe reports its own disputes: a dispute of a Stripe payment is recorded from its events.")
	}
	if rep.Currency != "" && rep.Currency != sale.Currency {
		return nil, ParamErrorf(EINVALID, "currency", "The dispute's currency must be the sale's (%s).", sale.Currency)
	}
	amount := rep.Amount
	if amount == 0 && existing != nil {
		amount = existing.Amount
	}
	if amount <= 0 || amount > txn.Amount {
		return nil, ParamErrorf(EINVALID, "amount", "A dispute's amount must be between 1 and the transaction's amount (%d).", txn.Amount)
	}
	var after Dispute
	if existing == nil {
		gw := rep.Gateway
		if gw == "" {
			gw = txn.Gateway
		}
		created := now
		if !rep.Created.IsZero() {
			created = rep.Created.UTC().Truncate(time.Microsecond)
		}
		after = Dispute{
			ID: NewID(), MerchantID: sale.MerchantID, SaleID: sale.ID, TransactionID: txn.ID,
			Gateway: gw, GatewayDisputeID: rep.GatewayDisputeID, Currency: sale.Currency,
			Created: created,
		}
		d.Insert = true
	} else {
		if DisputeClosed(existing.Status) && !DisputeClosed(rep.Status) {
			d.Outcome = OutcomeRefused
			d.Detail = "the dispute is closed (" + existing.Status + "); it cannot become " + rep.Status
			d.Dispute = existing
			return d, nil
		}
		after = *existing
	}
	after.Amount, after.Status = amount, rep.Status
	if rep.Reason != "" {
		after.Reason = rep.Reason
	}
	if rep.FundsWithdrawn != nil {
		after.FundsWithdrawn = *rep.FundsWithdrawn
	}
	txnStatus := after.Status
	if !DisputeOpen(after.Status) {
		txnStatus = openBeside(txn, existing, after.ID, others, txnStatus)
	}
	if existing != nil && after == *existing && txn.DisputeStatus == txnStatus {
		d.Outcome, d.Dispute = OutcomeMatched, existing
		d.TransactionID, d.DisputeStatus = txn.ID, txn.DisputeStatus
		return d, nil
	}
	after.Updated = now
	var lostBefore, lostAfter int64
	if existing != nil && existing.Status == DisputeLost {
		lostBefore = existing.Amount
	}
	if after.Status == DisputeLost {
		lostAfter = after.Amount
	}
	d.Outcome, d.Dispute = OutcomeDispute, &after
	d.TransactionID, d.DisputeStatus, d.DisputedDelta = txn.ID, txnStatus, lostAfter-lostBefore
	s := cloneSale(sale)
	for _, t := range s.Transactions {
		if t.ID == txn.ID {
			t.DisputeStatus = d.DisputeStatus
			t.DisputedAmount += d.DisputedDelta
		}
	}
	d.Sale = s
	var types []string
	switch {
	case existing == nil:
		types = append(types, EventDisputeCreated)
		if DisputeClosed(after.Status) {
			types = append(types, EventDisputeClosed)
		}
	case DisputeClosed(after.Status) && !DisputeClosed(existing.Status):
		types = append(types, EventDisputeClosed)
	default:
		types = append(types, EventDisputeUpdated)
	}
	for _, typ := range types {
		ev, err := NewEvent(after.MerchantID, typ, "dispute", after.ID, &after, now)
		if err != nil {
			return nil, err
		}
		d.Events = append(d.Events, ev)
	}
	action := AuditDisputeUpdate
	if existing == nil {
		action = AuditDisputeRecord
	}
	d.Audit = []AuditRow{{Action: action, ObjectID: after.ID}}
	return d, nil
}

// openBeside is the status of the newest other open dispute of txn, or
// status when none is open. Without others, a payment whose open status
// was not set by existing was set open by another dispute.
func openBeside(txn *Transaction, existing *Dispute, id string, others []*Dispute, status string) string {
	if others == nil {
		if DisputeOpen(txn.DisputeStatus) && (existing == nil || existing.Status != txn.DisputeStatus) {
			return txn.DisputeStatus
		}
		return status
	}
	var newest *Dispute
	for _, o := range others {
		if o.ID == id || o.TransactionID != txn.ID || !DisputeOpen(o.Status) {
			continue
		}
		if newest == nil || o.Created.After(newest.Created) || o.Created.Equal(newest.Created) && o.ID > newest.ID {
			newest = o
		}
	}
	if newest == nil {
		return status
	}
	return newest.Status
}

// Normalize applies the page's defaults and checks the status filter.
func (f *DisputeFilter) Normalize() error {
	if err := f.Page.Normalize(); err != nil {
		return err
	}
	if f.Status != "" && !slices.Contains(DisputeStatuses, f.Status) {
		return ParamErrorf(EINVALID, "status", "Status %q is not a dispute status.", truncate(f.Status, 64))
	}
	return nil
}

// OpenDisputeStatuses lists the statuses DisputeOpen accepts, for a store
// to count them.
func OpenDisputeStatuses() []string {
	var open []string
	for _, s := range DisputeStatuses {
		if DisputeOpen(s) {
			open = append(open, s)
		}
	}
	return open
}
