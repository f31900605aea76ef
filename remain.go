package refundry

// What remains refundable, and which refunds count against it: the one
// statement of each, which PlanRefund decides by and every edge shows.
// Invariant 2 is these rules kept under the store's lock: the refunds that
// reserve never add up to more than what was paid, on a transaction, a
// line item or a sale.

// RefundReserves reports whether a refund in this status counts against
// what was paid (invariant 2): a pending refund holds its amount until
// the gateway answers, a succeeded one has moved it, and one waiting for
// approval or for manual review holds it until a person decides. Failed
// and canceled refunds released theirs. It is Holds: the transitions
// table is the one statement of it.
func RefundReserves(status string) bool {
	return Holds(status)
}

// Refundable is what remains refundable on the whole sale: what remains on
// its payments, capped by the sale's own total less what was refunded of
// it. Never below zero, even on a sale a gateway over-refunded
// (sale.over_refunded).
func (s *Sale) Refundable() int64 {
	var r int64
	for _, t := range s.Transactions {
		r += t.Refundable()
	}
	return max(min(r, s.Amount-s.RefundedAmount), 0)
}

// LineRefundable is what remains refundable on one of the sale's line
// items: what remains of the line, and never more than the sale itself
// can still give back.
func (s *Sale) LineRefundable(li *LineItem) int64 {
	return max(min(li.Amount-li.RefundedAmount, s.Refundable()), 0)
}

// TransactionRefundable is what remains refundable on one of the sale's
// transactions: what remains of the transaction, and never more than the
// sale itself can still give back (a refund adopted above another
// payment's amount leaves the sale less than its payments add up to).
func (s *Sale) TransactionRefundable(t *Transaction) int64 {
	return max(min(t.Refundable(), s.Refundable()), 0)
}

// Refundable is what remains refundable on the transaction: what it paid
// less what its reserving refunds hold and what lost disputes returned
// through the card network. Never below zero.
func (t *Transaction) Refundable() int64 {
	return max(t.Amount-t.RefundedAmount-t.DisputedAmount, 0)
}

// OverRefunded reports whether the sale's refunds add up to more than was
// paid: only a refund made at the gateway and adopted can do that
// (sale.over_refunded).
func (s *Sale) OverRefunded() bool {
	return s.RefundedAmount > s.Amount
}
