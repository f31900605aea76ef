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
