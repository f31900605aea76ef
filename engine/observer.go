package engine

import (
	"time"

	"github.com/refundry/refundry"
)

// Observer hears what the engine did, for metrics and health. Every method
// is called synchronously on the path of a request, so it must be quick
// and must not block; it never changes what the engine does.
type Observer interface {
	// RefundCreated is called once per refund newly recorded (never for an
	// Idempotency-Key replay), with its status at creation.
	RefundCreated(r *refundry.Refund)
	// RefundSettled is called when this engine moved a refund to a final
	// status (after the gateway answered, on recovery, or on cancel).
	RefundSettled(r *refundry.Refund)
	// GatewayCall is called after each call to a gateway; op is "refund"
	// or "cancel", err the call's error (nil for any answer, a refusal
	// included).
	GatewayCall(gateway, op string, d time.Duration, err error)
	// RecoveryPass is called after each pass of RunRecovery.
	RecoveryPass(settled int, err error)
	// GatewayReport is called after each report of a gateway was applied
	// (from its inbound events or from reconciliation), with the outcome
	// (refundry.Outcome...).
	GatewayReport(gateway, outcome string)
	// ReconciliationRun is called after each reconciliation run is stored.
	ReconciliationRun(run *refundry.ReconciliationRun)
	// RefundReviewed is called when recovery sent a refund to manual
	// review (refundry.RefundRequiresAction).
	RefundReviewed(r *refundry.Refund)
}

// observe returns the engine's Observer, or one that does nothing, so
// that the use cases need no nil checks.
func (e *Engine) observe() Observer {
	if e.Observer == nil {
		return nopObserver{}
	}
	return e.Observer
}

type nopObserver struct{}

func (nopObserver) RefundCreated(*refundry.Refund)                   {}
func (nopObserver) RefundSettled(*refundry.Refund)                   {}
func (nopObserver) GatewayCall(string, string, time.Duration, error) {}
func (nopObserver) RecoveryPass(int, error)                          {}
func (nopObserver) GatewayReport(string, string)                     {}
func (nopObserver) ReconciliationRun(*refundry.ReconciliationRun)    {}
func (nopObserver) RefundReviewed(*refundry.Refund)                  {}
