package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/refundry/refundry"
)

// CreateMerchant stores a merchant and, if given, its first API key. It
// assigns an id and a creation time the caller left empty.
func (s *Store) CreateMerchant(ctx context.Context, m *refundry.Merchant, key *refundry.APIKey) error {
	if err := m.Validate(); err != nil {
		return err
	}
	cur, _ := refundry.LookupCurrency(m.Currency) // Validate checked it
	return s.update(ctx, func(tx *tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants WHERE slug = ?`, m.Slug).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return refundry.ParamErrorf(refundry.ECONFLICT, "slug", "The slug %q is taken.", m.Slug)
		}
		if m.ID == "" {
			m.ID = refundry.NewID()
		}
		if m.Created.IsZero() {
			m.Created = tx.now
		}
		m.Created = utc(m.Created)
		m.Currency = cur.Code
		if _, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, slug, name, currency, created) VALUES (?, ?, ?, ?, ?)`,
			m.ID, m.Slug, m.Name, m.Currency, micros(m.Created)); err != nil {
			return err
		}
		if key == nil {
			return nil
		}
		if key.MerchantID != m.ID {
			return refundry.Errorf(refundry.EINVALID, "The API key belongs to another merchant.")
		}
		return createAPIKey(ctx, tx, key)
	})
}

// CreateAPIKey stores another key for an existing merchant.
func (s *Store) CreateAPIKey(ctx context.Context, key *refundry.APIKey) error {
	return s.update(ctx, func(tx *tx) error {
		if _, err := findMerchant(ctx, tx, `id = ?`, key.MerchantID); err != nil {
			return err
		}
		return createAPIKey(ctx, tx, key)
	})
}

func createAPIKey(ctx context.Context, tx *tx, key *refundry.APIKey) error {
	if key.ID == "" || len(key.Hash) == 0 {
		return refundry.Errorf(refundry.EINVALID, "An API key needs an id and a hash.")
	}
	if key.Created.IsZero() {
		key.Created = tx.now
	}
	key.Created = utc(key.Created)
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, hash, created) VALUES (?, ?, ?, ?)`,
		key.ID, key.MerchantID, key.Hash, micros(key.Created))
	return err
}

// FindMerchant returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchant(ctx context.Context, id string) (m *refundry.Merchant, err error) {
	err = s.view(ctx, func(tx *tx) error {
		m, err = findMerchant(ctx, tx, `id = ?`, id)
		return err
	})
	return m, err
}

// FindMerchantBySlug returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchantBySlug(ctx context.Context, slug string) (m *refundry.Merchant, err error) {
	err = s.view(ctx, func(tx *tx) error {
		m, err = findMerchant(ctx, tx, `slug = ?`, slug)
		return err
	})
	return m, err
}

func findMerchant(ctx context.Context, tx *tx, where string, arg any) (*refundry.Merchant, error) {
	var m refundry.Merchant
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT id, slug, name, currency, created FROM merchants WHERE `+where, arg).
		Scan(&m.ID, &m.Slug, &m.Name, &m.Currency, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such merchant.")
	}
	if err != nil {
		return nil, err
	}
	m.Created = fromMicros(created)
	return &m, nil
}

// FindAPIKey returns ENOTFOUND if there is no key with that id.
func (s *Store) FindAPIKey(ctx context.Context, id string) (*refundry.APIKey, error) {
	var k refundry.APIKey
	err := s.view(ctx, func(tx *tx) error {
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT id, merchant_id, hash, created FROM api_keys WHERE id = ?`, id).
			Scan(&k.ID, &k.MerchantID, &k.Hash, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return refundry.Errorf(refundry.ENOTFOUND, "No such API key.")
		}
		k.Created = fromMicros(created)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}
