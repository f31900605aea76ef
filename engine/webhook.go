package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// Outbox returns the store's outbox of webhook endpoints, deliveries and
// customer notices. Both stores keep one; a store that does not is a
// wiring fault, EINTERNAL.
func (e *Engine) Outbox() (refundry.Outbox, error) {
	o, ok := e.Store.(refundry.Outbox)
	if !ok {
		return nil, refundry.Errorf(refundry.EINTERNAL, "This store keeps no outbox.")
	}
	return o, nil
}

// CreateWebhookEndpoint validates and stores an endpoint for a merchant
// with a new signing secret, which ep.Secret holds this once: the API
// shows it on creation only. Returns EINVALID.
func (e *Engine) CreateWebhookEndpoint(ctx context.Context, ep *refundry.WebhookEndpoint) error {
	o, err := e.Outbox()
	if err != nil {
		return err
	}
	if err := ep.Validate(); err != nil {
		return err
	}
	ep.ID = refundry.NewID()
	ep.Secret = refundry.NewWebhookSecret()
	ep.Status = refundry.EndpointEnabled
	return o.CreateWebhookEndpoint(ctx, ep)
}
