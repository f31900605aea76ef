package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// Placeholder: the gateway event inbox is being built.

// ReceiveGatewayEvent stores an event a gateway sent, durably, before it
// is acknowledged; a worker applies it. duplicate reports an event id
// stored before: nothing changes.
func (e *Engine) ReceiveGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) (duplicate bool, err error) {
	return e.Stores.Inbox.ReceiveGatewayEvent(ctx, ev)
}

// EventParser reads the payload of one event of a gateway into the reports
// it makes (none for a type Refundry does not act on). It returns EINVALID
// for a payload it cannot read.
type EventParser func(payload []byte) ([]refundry.GatewayReport, error)
