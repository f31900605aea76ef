package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/refundry/refundry"
)

// CreateAPIKey stores another key for an existing merchant.
func (s *Store) CreateAPIKey(ctx context.Context, key *refundry.APIKey) error {
	return s.update(ctx, func(tx *tx) error {
		if _, err := findMerchant(ctx, tx, `id = ?`, key.MerchantID); err != nil {
			return err
		}
		if err := createAPIKey(ctx, tx, key); err != nil {
			return err
		}
		return audit(ctx, tx, key.MerchantID, refundry.AuditAPIKeyCreate, key.ID)
	})
}

func createAPIKey(ctx context.Context, tx *tx, key *refundry.APIKey) error {
	if key.ID == "" || len(key.Hash) == 0 {
		return refundry.Errorf(refundry.EINVALID, "An API key needs an id and a hash.")
	}
	if key.Name == "" {
		key.Name = refundry.DefaultKeyName
	}
	if key.Scope == "" {
		key.Scope = refundry.ScopeWrite
	}
	if key.Created.IsZero() {
		key.Created = tx.now
	}
	key.Created = utc(key.Created)
	if !key.Expires.IsZero() {
		key.Expires = utc(key.Expires)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, name, scope, hash, created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
		key.ID, key.MerchantID, key.Name, string(key.Scope), key.Hash, micros(key.Created), optMicros(key.Expires))
	return err
}

const apiKeyColumns = `SELECT id, merchant_id, name, scope, hash, created, expires, revoked FROM api_keys`

func scanAPIKey(row interface{ Scan(...any) error }) (*refundry.APIKey, error) {
	var k refundry.APIKey
	var scope string
	var created, expires, revoked int64
	if err := row.Scan(&k.ID, &k.MerchantID, &k.Name, &scope, &k.Hash, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	k.Scope = refundry.Scope(scope)
	k.Created, k.Expires, k.Revoked = fromMicros(created), optTime(expires), optTime(revoked)
	return &k, nil
}

// FindAPIKey returns ENOTFOUND if there is no key with that id.
func (s *Store) FindAPIKey(ctx context.Context, id string) (k *refundry.APIKey, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
		k, err = findAPIKey(ctx, tx, `id = ?`, id)
		return err
	})
	return k, err
}

func findAPIKey(ctx context.Context, tx *tx, where string, args ...any) (*refundry.APIKey, error) {
	k, err := scanAPIKey(tx.QueryRowContext(ctx, apiKeyColumns+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such API key.")
	}
	return k, err
}

// ListAPIKeys returns one page of the merchant's keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.APIKey, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	tail := q.page("id", p)
	var keys []*refundry.APIKey
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, apiKeyColumns+q.sql()+tail, q.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	keys, more := trim(keys, p)
	return keys, more, nil
}

// RevokeAPIKey revokes the key now, unless it was revoked before.
func (s *Store) RevokeAPIKey(ctx context.Context, merchantID, id string) (k *refundry.APIKey, err error) {
	err = s.update(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked = ? WHERE merchant_id = ? AND id = ? AND revoked = 0`,
			micros(tx.now), merchantID, id); err != nil {
			return err
		}
		if k, err = findAPIKey(ctx, tx, `merchant_id = ? AND id = ?`, merchantID, id); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditAPIKeyRevoke, id)
	})
	return k, err
}

// optMicros stores a time that may be absent as 0.
func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func optTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromMicros(n)
}
