package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/refundry/refundry"
)

// Resource types an idempotency record points at.
const (
	resourceSale     = "sale"
	resourceRefunds  = "refunds"
	resourceReferral = "referral"
)

// seenKey looks up an Idempotency-Key inside the write transaction that
// will record it, so two requests with one key cannot both miss it
// (invariant 4). It returns the ids the first request made, or nil if the
// key is new; EIDEMPOTENCY if the key came with another request.
func seenKey(ctx context.Context, tx *tx, merchantID string, idem *refundry.Idempotency, resource string) ([]string, error) {
	if idem == nil {
		return nil, nil
	}
	var hash, typ, ids string
	err := tx.QueryRowContext(ctx, `SELECT hash, resource_type, resource_ids FROM idempotency_keys WHERE merchant_id = ? AND key = ?`,
		merchantID, idem.Key).Scan(&hash, &typ, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if hash != idem.Hash || typ != resource {
		return nil, refundry.ParamErrorf(refundry.EIDEMPOTENCY, "Idempotency-Key",
			"This Idempotency-Key was already used with a different request.")
	}
	var out []string
	if err := json.Unmarshal([]byte(ids), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// recordKey stores the key with the ids of what the request made, in the
// same transaction as those objects, and the ids of what it changed on
// the way (the referrals a refund voided), so that a replay answers both.
func recordKey(ctx context.Context, tx *tx, merchantID string, idem *refundry.Idempotency, resource string, ids, related []string) error {
	if idem == nil {
		return nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if related == nil {
		related = []string{}
	}
	r, err := json.Marshal(related)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (merchant_id, key, hash, resource_type, resource_ids, related_ids, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		merchantID, idem.Key, idem.Hash, resource, string(b), string(r), micros(tx.now))
	return err
}

// relatedIDs returns what recordKey stored as the key's related ids.
func relatedIDs(ctx context.Context, tx *tx, merchantID string, idem *refundry.Idempotency) ([]string, error) {
	var related string
	if err := tx.QueryRowContext(ctx, `SELECT related_ids FROM idempotency_keys WHERE merchant_id = ? AND key = ?`,
		merchantID, idem.Key).Scan(&related); err != nil {
		return nil, err
	}
	var out []string
	return out, json.Unmarshal([]byte(related), &out)
}
