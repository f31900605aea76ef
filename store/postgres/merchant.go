package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// CreateMerchant stores a merchant and its first API key.
// Returns ECONFLICT if the slug is taken.
func (s *Store) CreateMerchant(ctx context.Context, m *refundry.Merchant, key *refundry.APIKey) error {
	mm := *m
	if mm.ID == "" {
		mm.ID = refundry.NewID()
	}
	if mm.Created.IsZero() {
		mm.Created = s.now()
	}
	mm.Created = normTime(mm.Created)
	var k refundry.APIKey
	if key != nil {
		k = *key
		k.MerchantID = mm.ID
		if k.Created.IsZero() {
			k.Created = mm.Created
		}
		k.Created = normTime(k.Created)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO merchants (id, slug, name, currency, created) VALUES ($1, $2, $3, $4, $5)`,
			mm.ID, mm.Slug, mm.Name, mm.Currency, mm.Created); err != nil {
			return err
		}
		if key == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, merchant_id, hash, created) VALUES ($1, $2, $3, $4)`,
			k.ID, k.MerchantID, k.Hash, k.Created)
		return err
	})
	if err != nil {
		return err
	}
	*m = mm
	if key != nil {
		*key = k
	}
	return nil
}

const merchantColumns = `id, slug, name, currency, created`

func scanMerchant(row pgx.Row) (*refundry.Merchant, error) {
	m := &refundry.Merchant{}
	if err := row.Scan(&m.ID, &m.Slug, &m.Name, &m.Currency, &m.Created); err != nil {
		return nil, err
	}
	m.Created = m.Created.UTC()
	return m, nil
}

// FindMerchant returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchant(ctx context.Context, id string) (*refundry.Merchant, error) {
	m, err := scanMerchant(s.pool.QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "No such merchant: %s", id)
	}
	return m, nil
}

// FindMerchantBySlug returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchantBySlug(ctx context.Context, slug string) (*refundry.Merchant, error) {
	m, err := scanMerchant(s.pool.QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE slug = $1`, slug))
	if err != nil {
		return nil, notFound(err, "No such merchant: %s", slug)
	}
	return m, nil
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO api_keys (id, merchant_id, hash, created)
			SELECT $1, id, $3, $4 FROM merchants WHERE id = $2`, k.ID, k.MerchantID, k.Hash, k.Created)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refundry.Errorf(refundry.ENOTFOUND, "No such merchant: %s", k.MerchantID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*key = k
	return nil
}

// FindAPIKey returns ENOTFOUND if there is no key with that id.
func (s *Store) FindAPIKey(ctx context.Context, id string) (*refundry.APIKey, error) {
	k := &refundry.APIKey{}
	err := s.pool.QueryRow(ctx, `SELECT id, merchant_id, hash, created FROM api_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.MerchantID, &k.Hash, &k.Created)
	if err != nil {
		return nil, notFound(err, "No such API key.")
	}
	k.Created = k.Created.UTC()
	return k, nil
}
