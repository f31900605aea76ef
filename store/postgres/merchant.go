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
		defaultKey(&k)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO merchants (id, slug, name, currency, created) VALUES ($1, $2, $3, $4, $5)`,
			mm.ID, mm.Slug, mm.Name, mm.Currency, mm.Created); err != nil {
			return err
		}
		if err := seedReasons(ctx, tx, &mm); err != nil {
			return err
		}
		if key != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO api_keys (id, merchant_id, name, scope, hash, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				k.ID, k.MerchantID, k.Name, string(k.Scope), k.Hash, k.Created, optTime(k.Expires)); err != nil {
				return err
			}
		}
		return audit(ctx, tx, mm.ID, refundry.AuditMerchantCreate, mm.Created, mm.ID)
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
	m, err := scanMerchant(s.reads().QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "No such merchant: %s", id)
	}
	return m, nil
}

// FindMerchantBySlug returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchantBySlug(ctx context.Context, slug string) (*refundry.Merchant, error) {
	m, err := scanMerchant(s.reads().QueryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE slug = $1`, slug))
	if err != nil {
		return nil, notFound(err, "No such merchant: %s", slug)
	}
	return m, nil
}
