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
		if err := seedReasons(ctx, tx, m); err != nil {
			return err
		}
		if key == nil {
			return nil
		}
		if key.MerchantID != m.ID {
			return refundry.Errorf(refundry.EINVALID, "The API key belongs to another merchant.")
		}
		if err := createAPIKey(ctx, tx, key); err != nil {
			return err
		}
		return audit(ctx, tx, m.ID, refundry.AuditMerchantCreate, m.ID)
	})
}

// FindMerchant returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchant(ctx context.Context, id string) (m *refundry.Merchant, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
		m, err = findMerchant(ctx, tx, `id = ?`, id)
		return err
	})
	return m, err
}

// FindMerchantBySlug returns ENOTFOUND if there is no such merchant.
func (s *Store) FindMerchantBySlug(ctx context.Context, slug string) (m *refundry.Merchant, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
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
