package refundry

import (
	"math/bits"
	"slices"
	"strconv"
)

// The two rules that land money on lines. Both are largest-remainder
// roundings, so that their parts always add up exactly to the whole and
// the same inputs always give the same lines.
//
// The unit rule. A line's total T (tax included) over its Q units gives
// each unit T/Q, and the first T%Q units one minor unit more: units are
// refunded in order, so N units after R were refunded get
//
//	N*(T/Q) + min(R+N, T%Q) - min(R, T%Q)
//
// and refunding every unit one at a time sums exactly to T. Three units
// of ¥1000 (JPY) are 334, 333, 333; three of 10.00 USD are 3.34, 3.33,
// 3.33; three of 1.000 KWD are 0.334, 0.333, 0.333.
//
// The allocation rule. An amount refunded of a whole sale or of one of its
// transactions, or adopted from its gateway, is spread over the sale's
// lines in proportion to what remains on each (its amount less what was
// refunded of it), each line getting the whole part of its share and the
// minor units left over going one each to the lines with the largest
// remainders, ties to the earlier line. 10.00 over lines remaining 20.00,
// 10.00 and 10.00 is 5.00, 2.50, 2.50; 1.00 over three equal lines is
// 0.34, 0.33, 0.33.

// UnitsAmount is the share of the line's total that n of its units carry
// when r units were refunded by quantity before them (the unit rule),
// capped by what remains on the line: an amount refunded of the line
// without naming units (a sale or transaction refund allocated to it, a
// line refund by amount) has already taken part of it, and the last units
// get what is left, never more. It is 0 for n <= 0 or a bad r.
func (li *LineItem) UnitsAmount(r, n int64) int64 {
	if n <= 0 || r < 0 || li.Quantity <= 0 || r+n > li.Quantity {
		return 0
	}
	base, rem := li.Amount/li.Quantity, li.Amount%li.Quantity
	share := n*base + min(r+n, rem) - min(r, rem)
	return max(min(share, li.Remaining()), 0)
}

// Remaining is what remains of the line's amount: its total less
// everything refunded of it (never below zero). Sale.LineRefundable caps
// it further by what the sale can still give back.
func (li *LineItem) Remaining() int64 { return max(li.Amount-li.RefundedAmount, 0) }

// RemainingQuantity is the units not yet refunded by quantity.
func (li *LineItem) RemainingQuantity() int64 { return max(li.Quantity-li.RefundedQuantity, 0) }

// AllocateLines spreads amount over lines in proportion to what remains
// on each (the allocation rule), returning the lines that get a part, in
// line order, with Quantity 0. An amount above what remains on all of
// them (only a gateway's refund adopted beyond what was paid) gives each
// line all that remains on it and leaves the rest on no line.
func AllocateLines(lines []*LineItem, amount int64) []RefundLine {
	var total int64
	for _, li := range lines {
		total += li.Remaining()
	}
	if amount <= 0 || total <= 0 {
		return nil
	}
	amount = min(amount, total)
	parts := make([]int64, len(lines))
	rems := make([]uint64, len(lines))
	left := amount
	for i, li := range lines {
		// amount*remaining can pass 2^63: the product is taken in 128
		// bits, and amount <= total keeps the quotient in 64.
		hi, lo := bits.Mul64(uint64(amount), uint64(li.Remaining()))
		q, r := bits.Div64(hi, lo, uint64(total))
		parts[i], rems[i] = int64(q), r
		left -= int64(q)
	}
	order := make([]int, len(lines))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rems[a] > rems[b]:
			return -1
		case rems[a] < rems[b]:
			return 1
		}
		return 0
	})
	// left is below the number of lines with a remainder, and a line with
	// one is below its own remaining: the extra unit never overfills it.
	for _, i := range order[:left] {
		parts[i]++
	}
	var out []RefundLine
	for i, li := range lines {
		if parts[i] > 0 {
			out = append(out, RefundLine{LineItemID: li.ID, Amount: parts[i]})
		}
	}
	return out
}

// splitLines divides lines, whose amounts add up to the sum of amounts,
// among refunds of those amounts in order: each refund takes the next
// lines' money until its amount is reached, so a line may be shared by
// two refunds, split at the minor unit. A line's units stay with the
// first refund that takes any of it (a line of no money, units only, goes
// with the refund that reaches it), so each refund's lines add up to its
// amount and the units of the request are counted once.
func splitLines(lines []RefundLine, amounts []int64) [][]RefundLine {
	out := make([][]RefundLine, len(amounts))
	i, left, unitsGiven := 0, int64(0), false
	if len(lines) > 0 {
		left = lines[0].Amount
	}
	for k, a := range amounts {
		for i < len(lines) {
			if a == 0 && left > 0 {
				break
			}
			take := min(a, left)
			var q int64
			if !unitsGiven {
				q, unitsGiven = lines[i].Quantity, true
			}
			out[k] = append(out[k], RefundLine{LineItemID: lines[i].LineItemID, Quantity: q, Amount: take})
			a, left = a-take, left-take
			if left == 0 {
				i++
				unitsGiven = false
				if i < len(lines) {
					left = lines[i].Amount
				}
			}
		}
	}
	return out
}

// sumLines is the money of lines.
func sumLines(lines []RefundLine) int64 {
	var n int64
	for _, l := range lines {
		n += l.Amount
	}
	return n
}

// requestedLines decides what a request's Lines and Shipping return of
// each line of sale: the units by the unit rule (or the amount named for
// them), shipping all that remains of it or an amount allocated over the
// shipping lines. Every fault names its field; nothing is decided on a
// partly valid request.
func requestedLines(sale *Sale, req RefundRequest) ([]RefundLine, error) {
	if req.Target.SaleID == "" {
		param := "lines"
		if len(req.Lines) == 0 {
			param = "shipping"
		}
		return nil, ParamErrorf(EINVALID, param, "Lines and shipping are refunded of a sale: name the sale, not a line item or a transaction.")
	}
	if req.Amount != nil || req.ExactRemainder {
		return nil, ParamErrorf(EINVALID, "amount", "Name either an amount or lines and shipping, not both.")
	}
	if len(req.Lines) > len(sale.LineItems) {
		return nil, ParamErrorf(EINVALID, "lines", "A refund names each line item at most once.")
	}
	byID := map[string]*LineItem{}
	for _, li := range sale.LineItems {
		byID[li.ID] = li
	}
	named := map[string]bool{}
	var out []RefundLine
	for i, lr := range req.Lines {
		p := "lines[" + strconv.Itoa(i) + "]."
		li := byID[lr.LineItemID]
		if li == nil {
			return nil, ParamErrorf(ENOTFOUND, p+"line_item", "No such line item of sale %s: %s", sale.ID, truncate(lr.LineItemID, 64))
		}
		if named[li.ID] {
			return nil, ParamErrorf(EINVALID, p+"line_item", "Line item %s is named twice.", li.ID)
		}
		named[li.ID] = true
		units := li.RemainingQuantity()
		if lr.Quantity < 0 || lr.Quantity > units || (lr.Quantity == 0 && lr.Amount == nil) {
			return nil, ParamErrorf(EINVALID, p+"quantity", "Quantity must be a whole number between 1 and %d, the units of line item %s not yet refunded.", units, li.ID)
		}
		rl := RefundLine{LineItemID: li.ID, Quantity: lr.Quantity}
		switch {
		case lr.Amount == nil:
			rl.Amount = li.UnitsAmount(li.RefundedQuantity, lr.Quantity)
		case *lr.Amount < 0 || (*lr.Amount == 0 && lr.Quantity == 0):
			return nil, ParamErrorf(EINVALID, p+"amount", "Amount must be a positive whole number of minor units.")
		case *lr.Amount > li.Remaining():
			return nil, ParamErrorf(ETOOLARGE, p+"amount", "Amount is greater than what remains of line item %s (%d minor units).", li.ID, li.Remaining())
		default:
			rl.Amount = *lr.Amount
		}
		out = append(out, rl)
	}
	if sh := req.Shipping; sh != nil {
		var ship []*LineItem
		for _, li := range sale.LineItems {
			if li.Kind == LineShipping {
				ship = append(ship, li)
			}
		}
		if len(ship) == 0 {
			return nil, ParamErrorf(EINVALID, "shipping", "Sale %s has no shipping to refund.", sale.ID)
		}
		var remaining int64
		for _, li := range ship {
			if named[li.ID] {
				return nil, ParamErrorf(EINVALID, "shipping", "Shipping line %s is also named in lines.", li.ID)
			}
			remaining += li.Remaining()
		}
		switch {
		case sh.All:
			if remaining == 0 {
				return nil, ParamErrorf(EREFUNDED, "shipping", "The sale's shipping has already been refunded in full.")
			}
			for _, li := range ship {
				if li.Remaining() > 0 || li.RemainingQuantity() > 0 {
					out = append(out, RefundLine{LineItemID: li.ID, Quantity: li.RemainingQuantity(), Amount: li.Remaining()})
				}
			}
		case sh.Amount <= 0 || sh.Amount > maxAmount:
			return nil, ParamErrorf(EINVALID, "shipping", "Shipping is true or a positive whole number of minor units.")
		case sh.Amount > remaining:
			return nil, ParamErrorf(ETOOLARGE, "shipping", "Shipping amount is greater than the shipping that remains refundable (%d minor units).", remaining)
		default:
			out = append(out, AllocateLines(ship, sh.Amount)...)
		}
	}
	if len(out) == 0 {
		return nil, ParamErrorf(EINVALID, "lines", "Name at least one line or shipping.")
	}
	// A request's lines in the sale's line order, so that the same lines
	// asked for in another order make the same refunds.
	pos := map[string]int{}
	for i, li := range sale.LineItems {
		pos[li.ID] = i
	}
	slices.SortFunc(out, func(a, b RefundLine) int { return pos[a.LineItemID] - pos[b.LineItemID] })
	return out, nil
}
