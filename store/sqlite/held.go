package sqlite

import (
	"slices"
	"sync"

	"github.com/refundry/refundry"
)

// heldCap bounds the refunds held: a few seconds of refunds at full
// speed, far more than are between their creation and their gateway's
// answer at any time. A full set is emptied, not evicted one by one: a
// refund missing from it is read, as if never held.
const heldCap = 4096

// held keeps each refund this store created, as it was committed, until
// its first settlement: the engine settles a refund right after its
// gateway answers, and that settlement then decides on the refund held
// instead of reading it again under the write lock. What is held is only
// a guess about the row: the settlement's UPDATE requires the row's
// status and updated time to be those held, so a refund changed since
// (by another process, or another path of this one) changes nothing and
// is read and decided again.
type held struct {
	mu      sync.Mutex
	refunds map[string]*refundry.Refund
}

// put holds copies of refunds just committed, as a read would return
// them.
func (h *held) put(refunds []*refundry.Refund) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refunds == nil || len(h.refunds)+len(refunds) > heldCap {
		h.refunds = make(map[string]*refundry.Refund, heldCap)
	}
	for _, r := range refunds {
		h.refunds[r.ID] = asStored(r)
	}
}

// take removes and returns the refund held for merchantID and id, or nil.
func (h *held) take(merchantID, id string) *refundry.Refund {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.refunds[id]
	if r == nil || r.MerchantID != merchantID {
		return nil
	}
	delete(h.refunds, id)
	return r
}

// drop forgets a refund: it changed by a path that does not take it.
func (h *held) drop(id string) {
	h.mu.Lock()
	delete(h.refunds, id)
	h.mu.Unlock()
}

// asStored copies r as queryRefunds would read it back: times to the
// microsecond in UTC, an empty list of lines rather than none, metadata
// absent rather than empty; nothing shared with r.
func asStored(r *refundry.Refund) *refundry.Refund {
	c := *r
	c.Lines = slices.Clone(r.Lines)
	if c.Lines == nil {
		c.Lines = []refundry.RefundLine{}
	}
	c.Metadata = nil
	if len(r.Metadata) > 0 {
		c.Metadata = slices.Clone(r.Metadata)
	}
	c.RefundedAt, c.Created, c.Updated = fromMicros(micros(r.RefundedAt)), fromMicros(micros(r.Created)), fromMicros(micros(r.Updated))
	if !r.ApprovalExpires.IsZero() {
		c.ApprovalExpires = fromMicros(micros(utc(r.ApprovalExpires)))
	}
	// Not read by queryRefunds: recovery's count lives beside the row.
	c.Attempts = 0
	return &c
}
