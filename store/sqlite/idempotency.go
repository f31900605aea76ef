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

// seenKeyQuery reads a key; seenKey first writes the key if a batch
// holds it gathered, so the batch's other gathered rows can wait.
var seenKeyQuery = keepGathered(`SELECT hash, resource_type, resource_ids FROM idempotency_keys WHERE merchant_id = ? AND key = ?`)

// seenKey looks up an Idempotency-Key inside the write transaction that
// will record it, so two requests with one key cannot both miss it
// (invariant 4). It returns the ids the first request made, or nil if the
// key is new; EIDEMPOTENCY if the key came with another request.
func seenKey(ctx context.Context, tx *tx, merchantID string, idem *refundry.Idempotency, resource string) ([]string, error) {
	if idem == nil {
		return nil, nil
	}
	if tx.gather.holdsRows() && tx.gather.holdsKey(merchantID, idem.Key) {
		// Recorded earlier in this batch: written now, so that it is
		// found, and what it names.
		if err := tx.gather.flushRows(ctx, tx); err != nil {
			return nil, err
		}
	}
	var hash, typ, ids string
	err := tx.QueryRowContext(ctx, seenKeyQuery, merchantID, idem.Key).Scan(&hash, &typ, &ids)
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
	k := keyRow{merchantID: merchantID, key: idem.Key, hash: idem.Hash, resource: resource, ids: string(b), related: string(r),
		created: micros(tx.now)}
	if tx.gather != nil {
		// Written with the batch's refunds (gathered).
		tx.gather.keys = append(tx.gather.keys, k)
		return nil
	}
	_, err = tx.ExecContext(ctx, keyInserts[1], k.merchantID, k.key, k.hash, k.resource, k.ids, k.related, k.created)
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
