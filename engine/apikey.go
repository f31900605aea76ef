package engine

import (
	"context"

	"github.com/refundry/refundry"
)

// ListAPIKeys returns one page of the merchant's keys, newest first.
func (e *Engine) ListAPIKeys(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.APIKey, bool, error) {
	return e.Stores.Merchants.ListAPIKeys(ctx, merchantID, p)
}

// RevokeAPIKey revokes one of the merchant's keys; revoking it again
// changes nothing. The key in use may revoke itself: the request that does
// it is answered, the next one is refused, in this process at once and in
// every other process sharing the database within freshness (1 s).
func (e *Engine) RevokeAPIKey(ctx context.Context, merchantID, id string) (*refundry.APIKey, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such API key.")
	}
	// Forgotten whatever the answer: a revocation that committed but
	// whose answer was lost must still take effect here.
	defer e.keys.forget(id)
	return e.Stores.Merchants.RevokeAPIKey(ctx, merchantID, id)
}

// ListAuditLog returns one page of the merchant's audit log, newest first.
func (e *Engine) ListAuditLog(ctx context.Context, merchantID string, f refundry.AuditFilter) ([]*refundry.AuditEntry, bool, error) {
	return e.Stores.Audit.ListAuditLog(ctx, merchantID, f)
}

// RecordRefusal audits a write the edge refused, which changed nothing and
// so left no row of its own: action and the refusal's error code, by
// ctx's actor. Without an actor it records nothing.
func (e *Engine) RecordRefusal(ctx context.Context, merchantID, action, code string) error {
	entry := refundry.NewAuditEntry(ctx, merchantID, action, "", e.Now().UTC())
	if entry == nil {
		return nil
	}
	entry.Result = code
	return e.Stores.Audit.RecordAudit(ctx, entry)
}
