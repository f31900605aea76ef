package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// CreateWebhookEndpoint validates and stores an endpoint for a merchant
// with a new signing secret, which ep.Secret holds this once: the API
// shows it on creation only. Returns EINVALID.
func (e *Engine) CreateWebhookEndpoint(ctx context.Context, ep *refundry.WebhookEndpoint) error {
	if err := ep.Validate(); err != nil {
		return err
	}
	ep.ID = refundry.NewID()
	ep.Secret = refundry.NewWebhookSecret()
	ep.Status = refundry.EndpointEnabled
	return e.Stores.Outbox.CreateWebhookEndpoint(ctx, ep)
}

// ListWebhookEndpoints returns one page of the merchant's endpoints,
// newest first, and whether more follow.
func (e *Engine) ListWebhookEndpoints(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.WebhookEndpoint, bool, error) {
	return e.Stores.Outbox.ListWebhookEndpoints(ctx, merchantID, p)
}

// FindWebhookEndpoint returns ENOTFOUND if the merchant has no such
// endpoint.
func (e *Engine) FindWebhookEndpoint(ctx context.Context, merchantID, id string) (*refundry.WebhookEndpoint, error) {
	ep, err := e.Stores.Outbox.FindWebhookEndpoint(ctx, merchantID, id)
	if err == nil && ep.GatewayAccount != "" {
		// The endpoint a gateway account keeps is the account's: made,
		// shown and removed with it, never one of the merchant's webhooks.
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such webhook endpoint: %s", id)
	}
	return ep, err
}

// DeleteWebhookEndpoint deletes an endpoint with its deliveries.
// Returns ENOTFOUND.
func (e *Engine) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error {
	if _, err := e.FindWebhookEndpoint(ctx, merchantID, id); err != nil {
		return err
	}
	return e.Stores.Outbox.DeleteWebhookEndpoint(ctx, merchantID, id)
}

// EnableWebhookEndpoint enables an endpoint and clears its failure
// streak. Returns ENOTFOUND.
func (e *Engine) EnableWebhookEndpoint(ctx context.Context, merchantID, id string) (*refundry.WebhookEndpoint, error) {
	if _, err := e.FindWebhookEndpoint(ctx, merchantID, id); err != nil {
		return nil, err
	}
	return e.Stores.Outbox.EnableWebhookEndpoint(ctx, merchantID, id)
}

// ListDeliveries returns one page of an endpoint's deliveries, newest
// first. Returns ENOTFOUND for the endpoint.
func (e *Engine) ListDeliveries(ctx context.Context, merchantID, endpointID string, p refundry.Page) ([]*refundry.Delivery, bool, error) {
	if _, err := e.FindWebhookEndpoint(ctx, merchantID, endpointID); err != nil {
		return nil, false, err
	}
	return e.Stores.Outbox.ListDeliveries(ctx, merchantID, endpointID, p)
}

// ReplayDelivery makes a delivery pending and due now. Returns ENOTFOUND,
// or ECONFLICT while an attempt is under way or its endpoint is disabled.
func (e *Engine) ReplayDelivery(ctx context.Context, merchantID, endpointID, deliveryID string) (*refundry.Delivery, error) {
	if _, err := e.FindWebhookEndpoint(ctx, merchantID, endpointID); err != nil {
		return nil, err
	}
	return e.Stores.Outbox.ReplayDelivery(ctx, merchantID, endpointID, deliveryID)
}

// ListNotifications returns one page of the merchant's customer notices,
// newest first.
func (e *Engine) ListNotifications(ctx context.Context, merchantID string, f refundry.NotificationFilter) ([]*refundry.Notification, bool, error) {
	return e.Stores.Outbox.ListNotifications(ctx, merchantID, f)
}
