package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/refundry/refundry"
)

// CreateReferral stores a referral, resolving its origin.
func (s *Store) CreateReferral(ctx context.Context, r *refundry.Referral, idem *refundry.Idempotency) (replayed bool, err error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	out := *r
	err = s.update(ctx, func(tx *tx) error {
		ids, err := seenKey(ctx, tx, r.MerchantID, idem, resourceReferral)
		if err != nil {
			return err
		}
		if ids != nil {
			id, err := strconv.ParseInt(ids[0], 10, 64)
			if err != nil {
				return err
			}
			stored, err := queryReferrals(ctx, tx, referralColumns+` WHERE r.merchant_id = ? AND r.id = ?`, r.MerchantID, id)
			if err != nil {
				return err
			}
			if len(stored) == 0 {
				return refundry.Errorf(refundry.EINTERNAL, "An idempotency record names a referral that is gone.")
			}
			out, replayed = *stored[0], true
			return nil
		}
		if err := createReferral(ctx, tx, &out); err != nil {
			return err
		}
		if err := audit(ctx, tx, r.MerchantID, refundry.AuditReferralCreate, strconv.FormatInt(out.ID, 10)); err != nil {
			return err
		}
		return recordKey(ctx, tx, r.MerchantID, idem, resourceReferral, []string{strconv.FormatInt(out.ID, 10)}, nil)
	})
	if err != nil {
		return false, err
	}
	*r = out
	return replayed, nil
}

func createReferral(ctx context.Context, tx *tx, r *refundry.Referral) error {
	o, err := findOrigin(ctx, tx, r.MerchantID, r.OriginSlug)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		o, err = createOrigin(ctx, tx, r.MerchantID, r.OriginSlug)
	}
	if err != nil {
		return err
	}
	if o.Kind == refundry.OriginPurchase {
		// A purchase's money is its sale's, whatever the request said.
		if err := tx.QueryRowContext(ctx, `SELECT amount, currency FROM sales WHERE id = ?`, o.SaleID).Scan(&r.Subtotal, &r.Currency); err != nil {
			return err
		}
	}
	for _, p := range []*refundry.Person{&r.Advocate, &r.Friend} {
		if err := findOrCreatePerson(ctx, tx, r.MerchantID, p); err != nil {
			return err
		}
	}
	r.OriginID = o.ID
	r.OriginSlug = o.Slug
	r.Created, r.Updated = tx.now, tx.now
	if err := tx.QueryRowContext(ctx, `INSERT INTO referrals (merchant_id, origin_id, campaign_id, offer_id,
		advocate_id, advocate_first_name, advocate_last_name, friend_id, friend_first_name, friend_last_name,
		track_method, status, ad_rewarded, qa_generated, subtotal, currency, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.MerchantID, r.OriginID, r.CampaignID, r.OfferID,
		r.Advocate.ID, r.Advocate.FirstName, r.Advocate.LastName, r.Friend.ID, r.Friend.FirstName, r.Friend.LastName,
		r.TrackMethod, r.Status, r.AdRewarded, r.QAGenerated, r.Subtotal, r.Currency, micros(r.Created), micros(r.Updated)).Scan(&r.ID); err != nil {
		return err
	}
	return appendEvent(ctx, tx, r.MerchantID, refundry.EventReferralCreated, "referral", strconv.FormatInt(r.ID, 10), r)
}

// createOrigin makes the origin a slug names: an event on first use, or a
// purchase, which must be one of the merchant's sales by reference.
func createOrigin(ctx context.Context, tx *tx, merchantID, slug string) (*refundry.Origin, error) {
	o := &refundry.Origin{MerchantID: merchantID, Slug: slug, Kind: refundry.OriginEvent, Created: tx.now}
	if !refundry.IsEventSlug(slug) {
		o.Kind = refundry.OriginPurchase
		err := tx.QueryRowContext(ctx, `SELECT id FROM sales WHERE merchant_id = ? AND reference = ? AND reference <> ''`, merchantID, slug).Scan(&o.SaleID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, refundry.ParamErrorf(refundry.ENOTFOUND, "origin", "No purchase with order number %q.", slug)
		}
		if err != nil {
			return nil, err
		}
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO origins (merchant_id, slug, kind, sale_id, created) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		merchantID, slug, o.Kind, nullString(o.SaleID), micros(o.Created)).Scan(&o.ID)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// findOrCreatePerson gives a person the merchant's id for their email.
func findOrCreatePerson(ctx context.Context, tx *tx, merchantID string, p *refundry.Person) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO people (merchant_id, email) VALUES (?, ?) ON CONFLICT (merchant_id, email) DO NOTHING`,
		merchantID, p.Email); err != nil {
		return err
	}
	return tx.QueryRowContext(ctx, `SELECT id FROM people WHERE merchant_id = ? AND email = ?`, merchantID, p.Email).Scan(&p.ID)
}

// FindOrigin returns ENOTFOUND if the merchant has no such origin.
func (s *Store) FindOrigin(ctx context.Context, merchantID, slug string) (o *refundry.Origin, err error) {
	err = s.view(ctx, func(tx *tx) error {
		o, err = findOrigin(ctx, tx, merchantID, slug)
		return err
	})
	return o, err
}

func findOrigin(ctx context.Context, tx *tx, merchantID, slug string) (*refundry.Origin, error) {
	var o refundry.Origin
	var saleID sql.NullString
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT id, merchant_id, slug, kind, sale_id, created FROM origins WHERE merchant_id = ? AND slug = ?`,
		merchantID, slug).Scan(&o.ID, &o.MerchantID, &o.Slug, &o.Kind, &saleID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refundry.ParamErrorf(refundry.ENOTFOUND, "origin", "No such origin: %s", slug)
	}
	if err != nil {
		return nil, err
	}
	o.SaleID = saleID.String
	o.Created = fromMicros(created)
	return &o, nil
}

// ListReferrals returns an origin's referrals, newest first.
func (s *Store) ListReferrals(ctx context.Context, merchantID string, originID int64) (list []*refundry.Referral, err error) {
	err = s.view(ctx, func(tx *tx) error {
		if err := checkOrigin(ctx, tx, merchantID, originID); err != nil {
			return err
		}
		list, err = queryReferrals(ctx, tx, referralColumns+` WHERE r.merchant_id = ? AND r.origin_id = ? ORDER BY r.id DESC`, merchantID, originID)
		return err
	})
	return list, err
}

// VoidReferrals voids every referral of the origin not voided yet.
func (s *Store) VoidReferrals(ctx context.Context, merchantID string, originID int64, at time.Time) (voided []*refundry.Referral, err error) {
	err = s.update(ctx, func(tx *tx) error {
		if at.IsZero() {
			at = tx.now
		}
		if err := checkOrigin(ctx, tx, merchantID, originID); err != nil {
			return err
		}
		if voided, err = voidReferrals(ctx, tx, merchantID, originID, utc(at)); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditReferralVoid, strconv.FormatInt(originID, 10))
	})
	return voided, err
}

// checkOrigin answers ENOTFOUND for an origin that is not the merchant's,
// exactly as for one that does not exist (invariant 5).
func checkOrigin(ctx context.Context, tx *tx, merchantID string, originID int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM origins WHERE id = ? AND merchant_id = ?`, originID, merchantID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return refundry.Errorf(refundry.ENOTFOUND, "No such origin: %d", originID)
	}
	return err
}

func voidReferrals(ctx context.Context, tx *tx, merchantID string, originID int64, at time.Time) ([]*refundry.Referral, error) {
	list, err := queryReferrals(ctx, tx, referralColumns+` WHERE r.merchant_id = ? AND r.origin_id = ? AND r.status <> ? ORDER BY r.id`,
		merchantID, originID, refundry.ReferralVoided)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		r.Status = refundry.ReferralVoided
		r.Updated = at
		if _, err := tx.ExecContext(ctx, `UPDATE referrals SET status = ?, updated = ? WHERE id = ?`, r.Status, micros(at), r.ID); err != nil {
			return nil, err
		}
		if err := appendEvent(ctx, tx, merchantID, refundry.EventReferralVoided, "referral", strconv.FormatInt(r.ID, 10), r); err != nil {
			return nil, err
		}
	}
	return list, nil
}

const referralColumns = `SELECT r.id, r.merchant_id, r.origin_id, o.slug, r.campaign_id, r.offer_id,
	r.advocate_id, a.email, r.advocate_first_name, r.advocate_last_name,
	r.friend_id, f.email, r.friend_first_name, r.friend_last_name,
	r.track_method, r.status, r.ad_rewarded, r.qa_generated, r.subtotal, r.currency, r.created, r.updated
	FROM referrals r
	JOIN origins o ON o.id = r.origin_id
	JOIN people a ON a.id = r.advocate_id
	JOIN people f ON f.id = r.friend_id`

func queryReferrals(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.Referral, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.Referral
	for rows.Next() {
		var r refundry.Referral
		var created, updated int64
		if err := rows.Scan(&r.ID, &r.MerchantID, &r.OriginID, &r.OriginSlug, &r.CampaignID, &r.OfferID,
			&r.Advocate.ID, &r.Advocate.Email, &r.Advocate.FirstName, &r.Advocate.LastName,
			&r.Friend.ID, &r.Friend.Email, &r.Friend.FirstName, &r.Friend.LastName,
			&r.TrackMethod, &r.Status, &r.AdRewarded, &r.QAGenerated, &r.Subtotal, &r.Currency, &created, &updated); err != nil {
			return nil, err
		}
		r.Created, r.Updated = fromMicros(created), fromMicros(updated)
		out = append(out, &r)
	}
	return out, rows.Err()
}
