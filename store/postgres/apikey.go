package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// defaultKey names and scopes a key made without either as keys made
// before they had names and scopes: "default", write.
func defaultKey(k *refundry.APIKey) {
	if k.Name == "" {
		k.Name = refundry.DefaultKeyName
	}
	if k.Scope == "" {
		k.Scope = refundry.ScopeWrite
	}
	if !k.Expires.IsZero() {
		k.Expires = normTime(k.Expires)
	}
}

// CreateAPIKey stores another key for an existing merchant.
// Returns ENOTFOUND if the merchant does not exist.
func (s *Store) CreateAPIKey(ctx context.Context, key *refundry.APIKey) error {
	k := *key
	if k.ID == "" {
		k.ID = refundry.NewID()
	}
	if k.Created.IsZero() {
		k.Created = s.now()
	}
	k.Created = normTime(k.Created)
	defaultKey(&k)
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO api_keys (id, merchant_id, name, scope, hash, created, expires)
			SELECT $1, id, $3, $4, $5, $6, $7 FROM merchants WHERE id = $2`,
			k.ID, k.MerchantID, k.Name, string(k.Scope), k.Hash, k.Created, optTime(k.Expires))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refundry.Errorf(refundry.ENOTFOUND, "No such merchant: %s", k.MerchantID)
		}
		return audit(ctx, tx, k.MerchantID, refundry.AuditAPIKeyCreate, k.Created, k.ID)
	})
	if err != nil {
		return err
	}
	*key = k
	return nil
}

const apiKeyColumns = `id, merchant_id, name, scope, hash, created, expires, revoked`

func scanAPIKey(row pgx.Row) (*refundry.APIKey, error) {
	k := &refundry.APIKey{}
	var scope string
	var expires, revoked *time.Time
	if err := row.Scan(&k.ID, &k.MerchantID, &k.Name, &scope, &k.Hash, &k.Created, &expires, &revoked); err != nil {
		return nil, err
	}
	k.Scope = refundry.Scope(scope)
	k.Created = k.Created.UTC()
	if expires != nil {
		k.Expires = expires.UTC()
	}
	if revoked != nil {
		k.Revoked = revoked.UTC()
	}
	return k, nil
}

// FindAPIKey returns ENOTFOUND if there is no key with that id. It reads
// the primary, never a cache, so a revocation by any process counts at once.
func (s *Store) FindAPIKey(ctx context.Context, id string) (*refundry.APIKey, error) {
	k, err := scanAPIKey(s.reads().QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "No such API key.")
	}
	return k, nil
}

// ListAPIKeys returns one page of the merchant's keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.APIKey, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE ` + w.page("id", p)
	var out []*refundry.APIKey
	err := s.read(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, q, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	out, more := trimPage(out, p)
	return out, more, nil
}

// RevokeAPIKey revokes the key now, unless it was revoked before.
func (s *Store) RevokeAPIKey(ctx context.Context, merchantID, id string) (*refundry.APIKey, error) {
	var out *refundry.APIKey
	err := s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		k, err := scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked = COALESCE(revoked, $3)
			WHERE merchant_id = $1 AND id = $2 RETURNING `+apiKeyColumns, merchantID, id, now))
		if err != nil {
			return notFound(err, "No such API key.")
		}
		out = k
		return audit(ctx, tx, merchantID, refundry.AuditAPIKeyRevoke, now, id)
	})
	return out, err
}

// optTime stores a time that may be absent as NULL.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
