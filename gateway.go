package refundry

import (
	"context"
	"time"
)

// GatewayRefund is what a gateway needs to refund, ask about, or cancel one
// refund. RefundID doubles as the gateway's idempotency key, so asking
// again after a crash never refunds twice (invariant 6).
type GatewayRefund struct {
	RefundID    string
	Transaction *Transaction
	Amount      int64
	Currency    string
	// Reason is what the gateway is told of why: the gateway reason the
	// refund's reason code maps to (RefundReason.StripeReason), never the
	// code itself.
	Reason          string
	GatewayRefundID string    // set once the gateway has named the refund
	Created         time.Time // when the refund was recorded

	// Remainder is true when Amount is everything that remained
	// refundable on Transaction when the refund was made: Payop's
	// refundType 1 ("all transaction amount") rather than 2. The engine
	// fills it when it sends a refund; a gateway that does not need it
	// ignores it.
	Remainder bool
	// GatewayLineID is the gateway's own id of the line item the refund
	// is charged against, for a gateway that refunds line by line
	// (RevCent's product_sale_id); "" when the refund is for a payment
	// as a whole. The engine fills it from the refund's line item.
	GatewayLineID string
	// Offsite is true when the money went back outside the gateway and
	// the gateway is only told so, to keep its books (RevCent's
	// refunded_offsite). The engine fills it from Refund.Offsite.
	Offsite bool
}

// GatewayResult is a gateway's answer. Status pending means the gateway has
// the refund but has not settled it.
type GatewayResult struct {
	Status          string
	GatewayRefundID string
	FailureReason   string
}

// Gateway is a payment processor that holds the money. A returned error
// means the outcome is unknown (timeout, network): the refund stays pending
// and is asked about again; a refusal is a result with Status failed.
// Calls never run inside a database transaction (invariant 6).
type Gateway interface {
	Name() string
	// Refund asks the gateway to refund. Calling it again with the same
	// RefundID returns the first outcome and moves no more money.
	Refund(ctx context.Context, r GatewayRefund) (GatewayResult, error)
	// Cancel cancels a refund the gateway has not taken yet. Returns
	// ECONFLICT if the gateway no longer allows it.
	Cancel(ctx context.Context, r GatewayRefund) (GatewayResult, error)
}

// OneShot is a gateway that offers neither an idempotency key nor a way
// to look a refund up. A call whose outcome is unknown (a timeout, a lost
// answer, a 5xx) must never be sent again blindly: the gateway may have
// refunded already, and a second call would refund twice or, refused
// because nothing remains, would be read as a refusal of money that did
// move. Such a refund waits for a person (manual review) instead of being
// asked about again. Asked again about a refund it has already
// acknowledged (GatewayRefundID set), a one-shot gateway answers from
// what it knows and sends nothing. A gateway that does not implement the
// interface, or answers false, may be asked again with the same RefundID.
type OneShot interface {
	OneShot() bool
}

// RefundChecker is a gateway that can tell from the request alone that
// it would refuse a refund (KeepUp refunds only whole sales), so that the
// refund can be turned away before anything is stored. CheckRefund
// returns EINVALID naming the parameter at fault, or nil. Refund refuses
// the same requests with a failed result and sends nothing.
type RefundChecker interface {
	CheckRefund(r GatewayRefund) error
}

// PaymentMaker is a gateway that can take a test payment itself, for a
// sale created on it without naming an existing payment (Stripe in test
// mode). It returns the gateway's id of the payment.
type PaymentMaker interface {
	CreateTestPayment(ctx context.Context, amount int64, currency string) (string, error)
}

// PaymentWatcher is a gateway that wants to hear of each of its payments
// once the sale that holds it is stored: the simulator, which reports
// what happens to a payment later (a dispute, a refund made at the
// gateway) as events of its own. It must not block; an error is the
// gateway's to log, never the sale's.
type PaymentWatcher interface {
	PaymentRecorded(ctx context.Context, t *Transaction)
}
