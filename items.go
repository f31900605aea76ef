package refundry

import (
	"context"
	"time"
)

// Itemized refunds: what a refund returns of each line, returns of goods,
// and each merchant's refund reasons.

// RefundLine is what one refund returns of one line item: every refund's
// amount is spread over the sale's lines (Refund.Lines), so that each
// line's refunded amount is true whichever way the money went back.
type RefundLine struct {
	LineItemID string `json:"line_item"`
	// Quantity is the units refunded by quantity; 0 for an amount that
	// was allocated to the line without naming units.
	Quantity int64 `json:"quantity"`
	Amount   int64 `json:"amount"`
}

// LineRequest asks to refund units of one line item, or an explicit
// amount of it.
type LineRequest struct {
	LineItemID string
	Quantity   int64
	Amount     *int64
}

// ShippingRequest asks to refund shipping: all that remains of it, or an
// amount.
type ShippingRequest struct {
	All    bool
	Amount int64
}

// Return statuses: requested -> received -> refunded, or canceled before
// it is refunded.
const (
	ReturnRequested = "requested"
	ReturnReceived  = "received"
	ReturnRefunded  = "refunded"
	ReturnCanceled  = "canceled"
)

// Return events.
const (
	EventReturnCreated  = "return.created"
	EventReturnReceived = "return.received"
	EventReturnRefunded = "return.refunded"
	EventReturnCanceled = "return.canceled"
)

// ReturnLine is units of one line item a customer sends back.
type ReturnLine struct {
	LineItemID string `json:"line_item"`
	Quantity   int64  `json:"quantity"`
}

// Return is goods a customer sends back, and the refund that pays for
// them once they are received.
type Return struct {
	ID            string       `json:"id"`
	MerchantID    string       `json:"-"`
	SaleID        string       `json:"sale"`
	Status        string       `json:"status"`
	Reason        string       `json:"reason"`
	Description   string       `json:"description"`
	Lines         []ReturnLine `json:"lines"`
	RestockingFee int64        `json:"restocking_fee"`
	// RefundIDs are the refunds made for it (one per transaction the
	// money goes back through).
	RefundIDs  []string  `json:"refunds"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	ReceivedAt time.Time `json:"received_at"`
	RefundedAt time.Time `json:"refunded_at"`
}

// ReturnFilter narrows ListReturns.
type ReturnFilter struct {
	Page
	SaleID string
	Status string
}

// RefundReason is one of a merchant's refund reasons: the code a refund's
// reason must be, a label for people, and the reason Stripe is told.
type RefundReason struct {
	MerchantID   string    `json:"-"`
	Code         string    `json:"code"`
	Label        string    `json:"label"`
	StripeReason string    `json:"stripe_reason"` // duplicate, fraudulent, requested_by_customer or ""
	Created      time.Time `json:"created"`
}

// ReturnStore keeps returns.
type ReturnStore interface {
	CreateReturn(ctx context.Context, r *Return, idem *Idempotency) (replayed bool, err error)
	FindReturn(ctx context.Context, merchantID, id string) (*Return, error)
	ListReturns(ctx context.Context, merchantID string, f ReturnFilter) ([]*Return, bool, error)
	// UpdateReturn writes r's new status (and what came with it), on
	// condition that it is still in status from; ECONFLICT otherwise.
	UpdateReturn(ctx context.Context, r *Return, from string) error
}

// ReasonStore keeps each merchant's refund reasons.
type ReasonStore interface {
	// ListRefundReasons returns the merchant's reasons, in the order they
	// were made (the defaults first).
	ListRefundReasons(ctx context.Context, merchantID string) ([]*RefundReason, error)
	// PutRefundReason creates or replaces the reason with r's code.
	PutRefundReason(ctx context.Context, r *RefundReason) error
	// DeleteRefundReason removes it; refunds keep their code. ENOTFOUND if none.
	DeleteRefundReason(ctx context.Context, merchantID, code string) error
	// CountRefundsByReason sums the merchant's refunds created in
	// [from, to) by reason code, for reports.
	CountRefundsByReason(ctx context.Context, merchantID string, from, to time.Time) ([]ReasonCount, error)
}

// ReasonCount is the refunds of one reason in a period.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
	// Amount sums the refunds that reserve money (pending, succeeded),
	// per currency.
	Amounts map[string]int64 `json:"amounts"`
}
