package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
)

// idemRecord is what a claimed Idempotency-Key remembers: the request's
// hash and the objects the first request created.
type idemRecord struct {
	hash         string
	resourceType string
	resourceIDs  []string
	relatedIDs   []string
}

// claimKey records idem for the merchant in tx, naming the objects the
// request creates, and returns nil; or, if the key was already used,
// returns the first request's record, or EIDEMPOTENCY if the key came with
// another request.
//
// Invariant 4: the claim comes first in the transaction, before any other
// write. A second request with the same key then waits on the first one's
// uncommitted row (READ COMMITTED) and, once it commits, finds the record
// and replays, instead of racing it to the sale's rows and reporting, say,
// "already refunded". At SERIALIZABLE the same wait ends in a
// serialization failure; the retried transaction finds the record.
func claimKey(ctx context.Context, tx pgx.Tx, merchantID string, idem *refundry.Idempotency, resourceType string, ids []string, now time.Time) (*idemRecord, error) {
	b := &pgx.Batch{}
	claimed := queueClaimKey(b, merchantID, idem, resourceType, ids, now)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return claimed(ctx, tx)
}

// queueClaimKey queues claimKey's claim on b, so that it goes to the
// server with the statements that follow it, and returns the function
// that, once b has run, answers as claimKey does. The claim still runs
// before whatever is queued after it.
func queueClaimKey(b *pgx.Batch, merchantID string, idem *refundry.Idempotency, resourceType string, ids []string, now time.Time) func(context.Context, pgx.Tx) (*idemRecord, error) {
	inserted := false
	b.Queue(`INSERT INTO idempotency_keys (merchant_id, idem_key, hash, resource_type, resource_ids, related_ids, created)
		VALUES ($1, $2, $3, $4, $5, '[]', $6) ON CONFLICT (merchant_id, idem_key) DO NOTHING`,
		merchantID, idem.Key, idem.Hash, resourceType, encodeIDs(ids), now).Exec(func(tag pgconn.CommandTag) error {
		inserted = tag.RowsAffected() == 1
		return nil
	})
	return func(ctx context.Context, tx pgx.Tx) (*idemRecord, error) {
		if inserted {
			return nil, nil
		}
		return findKey(ctx, tx, merchantID, idem, resourceType)
	}
}

// findKey reads the record of a key that was claimed before.
func findKey(ctx context.Context, tx pgx.Tx, merchantID string, idem *refundry.Idempotency, resourceType string) (*idemRecord, error) {
	rec := &idemRecord{}
	var res, rel string
	err := tx.QueryRow(ctx, `SELECT hash, resource_type, resource_ids, related_ids FROM idempotency_keys WHERE merchant_id = $1 AND idem_key = $2`,
		merchantID, idem.Key).Scan(&rec.hash, &rec.resourceType, &res, &rel)
	if errors.Is(err, pgx.ErrNoRows) {
		// The conflicting claim is not visible to this snapshot; a new
		// attempt will see it.
		return nil, errRetry
	}
	if err != nil {
		return nil, err
	}
	if rec.hash != idem.Hash || rec.resourceType != resourceType {
		return nil, refundry.Errorf(refundry.EIDEMPOTENCY, "Keys for idempotent requests can only be used with the same parameters they were first used with.")
	}
	if err := json.Unmarshal([]byte(res), &rec.resourceIDs); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(rel), &rec.relatedIDs); err != nil {
		return nil, err
	}
	return rec, nil
}

// finishKey names the objects of a claimed key once they exist: ids that
// the database assigns, or that depend on what the transaction found.
func finishKey(ctx context.Context, tx pgx.Tx, merchantID string, idem *refundry.Idempotency, ids, related []string) error {
	b := &pgx.Batch{}
	queueFinishKey(b, merchantID, idem, ids, related)
	return tx.SendBatch(ctx, b).Close()
}

// queueFinishKey is finishKey, queued on b.
func queueFinishKey(b *pgx.Batch, merchantID string, idem *refundry.Idempotency, ids, related []string) {
	b.Queue(`UPDATE idempotency_keys SET resource_ids = $3, related_ids = $4 WHERE merchant_id = $1 AND idem_key = $2`,
		merchantID, idem.Key, encodeIDs(ids), encodeIDs(related))
}

func encodeIDs(ids []string) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids) // strings always marshal
	return string(b)
}

func usesKey(idem *refundry.Idempotency) bool { return idem != nil && idem.Key != "" }
