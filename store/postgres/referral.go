package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// CreateReferral stores a validated referral, resolving its origin and
// people, and appends referral.created, in one transaction.
func (s *Store) CreateReferral(ctx context.Context, r *refundry.Referral, idem *refundry.Idempotency) (bool, error) {
	in := *r
	var out *refundry.Referral
	var replayed bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		out, replayed = nil, false
		now := s.now()
		if usesKey(idem) {
			rec, err := claimKey(ctx, tx, in.MerchantID, idem, "referral", nil, now)
			if err != nil {
				return err
			}
			if rec != nil {
				if len(rec.resourceIDs) != 1 {
					return fmt.Errorf("postgres: idempotency key names %d referrals", len(rec.resourceIDs))
				}
				id, err := strconv.ParseInt(rec.resourceIDs[0], 10, 64)
				if err != nil {
					return err
				}
				found, err := queryReferrals(ctx, tx, `r.merchant_id = $1 AND r.id = $2`, in.MerchantID, id)
				if err != nil {
					return err
				}
				if len(found) != 1 {
					return fmt.Errorf("postgres: idempotency key names referral %d, which does not exist", id)
				}
				out, replayed = found[0], true
				return nil
			}
		}
		var err error
		out, err = insertReferral(ctx, tx, in, now)
		if err != nil {
			return err
		}
		ev, err := refundry.NewEvent(out.MerchantID, refundry.EventReferralCreated, "referral", strconv.FormatInt(out.ID, 10), out, now)
		if err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, ev); err != nil {
			return err
		}
		if err := audit(ctx, tx, in.MerchantID, refundry.AuditReferralCreate, now, strconv.FormatInt(out.ID, 10)); err != nil {
			return err
		}
		if usesKey(idem) {
			return finishKey(ctx, tx, in.MerchantID, idem, []string{strconv.FormatInt(out.ID, 10)}, nil)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	*r = *out
	return replayed, nil
}

func insertReferral(ctx context.Context, tx pgx.Tx, in refundry.Referral, now time.Time) (*refundry.Referral, error) {
	out := in
	origin, err := resolveOrigin(ctx, tx, in.MerchantID, in.OriginSlug, now)
	if err != nil {
		return nil, err
	}
	out.OriginID, out.OriginSlug = origin.ID, origin.Slug
	switch {
	case origin.SaleID != "":
		// A purchase's money is the sale's, whatever the request said.
		err := tx.QueryRow(ctx, `SELECT amount, currency FROM sales WHERE id = $1`, origin.SaleID).Scan(&out.Subtotal, &out.Currency)
		if err != nil {
			return nil, err
		}
	case out.Currency == "":
		err := tx.QueryRow(ctx, `SELECT currency FROM merchants WHERE id = $1`, in.MerchantID).Scan(&out.Currency)
		if err != nil {
			return nil, notFound(err, "No such merchant: %s", in.MerchantID)
		}
	default:
		c, err := refundry.LookupCurrency(out.Currency)
		if err != nil {
			return nil, err
		}
		out.Currency = c.Code
	}
	if out.Advocate, err = findOrCreatePerson(ctx, tx, in.MerchantID, in.Advocate); err != nil {
		return nil, err
	}
	if out.Friend, err = findOrCreatePerson(ctx, tx, in.MerchantID, in.Friend); err != nil {
		return nil, err
	}
	if out.Created.IsZero() {
		out.Created = now
	}
	out.Created = normTime(out.Created)
	if out.Updated.IsZero() {
		out.Updated = out.Created
	}
	out.Updated = normTime(out.Updated)
	err = tx.QueryRow(ctx, `INSERT INTO referrals (merchant_id, origin_id, campaign_id, offer_id, advocate_id, friend_id,
			track_method, status, ad_rewarded, qa_generated, subtotal, currency, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		out.MerchantID, out.OriginID, out.CampaignID, out.OfferID, out.Advocate.ID, out.Friend.ID,
		out.TrackMethod, out.Status, out.AdRewarded, out.QAGenerated, out.Subtotal, out.Currency, out.Created, out.Updated).Scan(&out.ID)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// resolveOrigin finds the merchant's origin with slug, creating it on first
// use. A purchase origin must name a sale by its reference.
func resolveOrigin(ctx context.Context, tx pgx.Tx, merchantID, slug string, now time.Time) (*refundry.Origin, error) {
	o, err := findOrigin(ctx, tx, merchantID, slug)
	if err == nil || !errors.Is(err, pgx.ErrNoRows) {
		return o, err
	}
	o = &refundry.Origin{MerchantID: merchantID, Slug: slug, Kind: refundry.OriginEvent, Created: now}
	var saleID *string
	if !refundry.IsEventSlug(slug) {
		o.Kind = refundry.OriginPurchase
		err := tx.QueryRow(ctx, `SELECT id FROM sales WHERE merchant_id = $1 AND reference = $2 AND reference <> ''`, merchantID, slug).Scan(&o.SaleID)
		if err != nil {
			return nil, notFound(err, "No purchase with order number %q.", slug)
		}
		saleID = &o.SaleID
	}
	// A concurrent referral may be creating the same origin: ON CONFLICT
	// waits for it, then inserts nothing, and its origin is read back.
	err = tx.QueryRow(ctx, `INSERT INTO origins (merchant_id, slug, kind, sale_id, created) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (merchant_id, slug) DO NOTHING RETURNING id`, merchantID, slug, o.Kind, saleID, o.Created).Scan(&o.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		o, err = findOrigin(ctx, tx, merchantID, slug)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errRetry
		}
	}
	return o, err
}

func findOrigin(ctx context.Context, tx pgx.Tx, merchantID, slug string) (*refundry.Origin, error) {
	o := &refundry.Origin{}
	var saleID *string
	err := tx.QueryRow(ctx, `SELECT id, merchant_id, slug, kind, sale_id, created FROM origins WHERE merchant_id = $1 AND slug = $2`, merchantID, slug).
		Scan(&o.ID, &o.MerchantID, &o.Slug, &o.Kind, &saleID, &o.Created)
	if err != nil {
		return nil, err
	}
	if saleID != nil {
		o.SaleID = *saleID
	}
	o.Created = o.Created.UTC()
	return o, nil
}

// findOrCreatePerson returns the merchant's person with p's email, making
// it if there is none.
func findOrCreatePerson(ctx context.Context, tx pgx.Tx, merchantID string, p refundry.Person) (refundry.Person, error) {
	const find = `SELECT id, email, first_name, last_name FROM people WHERE merchant_id = $1 AND email = $2`
	var found refundry.Person
	err := tx.QueryRow(ctx, find, merchantID, p.Email).Scan(&found.ID, &found.Email, &found.FirstName, &found.LastName)
	if !errors.Is(err, pgx.ErrNoRows) {
		return found, err
	}
	err = tx.QueryRow(ctx, `INSERT INTO people (merchant_id, email, first_name, last_name) VALUES ($1, $2, $3, $4)
		ON CONFLICT (merchant_id, email) DO NOTHING RETURNING id`, merchantID, p.Email, p.FirstName, p.LastName).Scan(&p.ID)
	if !errors.Is(err, pgx.ErrNoRows) {
		return p, err
	}
	err = tx.QueryRow(ctx, find, merchantID, p.Email).Scan(&found.ID, &found.Email, &found.FirstName, &found.LastName)
	if errors.Is(err, pgx.ErrNoRows) {
		return found, errRetry
	}
	return found, err
}

// FindOrigin returns ENOTFOUND if the merchant has no such origin.
func (s *Store) FindOrigin(ctx context.Context, merchantID, slug string) (*refundry.Origin, error) {
	var o *refundry.Origin
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		o, err = findOrigin(ctx, tx, merchantID, slug)
		return notFound(err, "No such origin: %s", slug)
	})
	return o, err
}

// ListReferrals returns an origin's referrals, newest first.
// Returns ENOTFOUND if the merchant has no such origin.
func (s *Store) ListReferrals(ctx context.Context, merchantID string, originID int64) ([]*refundry.Referral, error) {
	var out []*refundry.Referral
	err := s.read(ctx, func(tx pgx.Tx) error {
		if err := checkOrigin(ctx, tx, merchantID, originID); err != nil {
			return err
		}
		var err error
		out, err = queryReferrals(ctx, tx, `r.merchant_id = $1 AND r.origin_id = $2 ORDER BY r.id DESC`, merchantID, originID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VoidReferrals voids every referral of the origin that is not voided yet,
// appends referral.voided for each, and returns those it voided.
func (s *Store) VoidReferrals(ctx context.Context, merchantID string, originID int64, at time.Time) ([]*refundry.Referral, error) {
	var out []*refundry.Referral
	err := s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		if !at.IsZero() {
			now = normTime(at)
		}
		if err := checkOrigin(ctx, tx, merchantID, originID); err != nil {
			return err
		}
		voided, evs, err := voidReferrals(ctx, tx, merchantID, `origin_id = $2`, originID, now)
		if err != nil {
			return err
		}
		out = voided
		if err := insertEvents(ctx, tx, evs...); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditReferralVoid, now, strconv.FormatInt(originID, 10))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func checkOrigin(ctx context.Context, tx pgx.Tx, merchantID string, originID int64) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM origins WHERE id = $1 AND merchant_id = $2`, originID, merchantID).Scan(&one)
	return notFound(err, "No such origin: %d", originID)
}

// voidReferrals voids the merchant's referrals matching originCond (which
// uses $1 for the merchant and $2 for arg) and returns them with their
// events. The status test is in the UPDATE itself: a concurrent void of the
// same referrals waits for this one, re-reads the rows and skips them, so
// each referral is voided, and announced, exactly once.
func voidReferrals(ctx context.Context, tx pgx.Tx, merchantID, originCond string, arg any, now time.Time) ([]*refundry.Referral, []*refundry.Event, error) {
	rows, err := tx.Query(ctx, `UPDATE referrals SET status = 'voided', updated = $3
		WHERE merchant_id = $1 AND `+originCond+` AND status <> 'voided' RETURNING id`, merchantID, arg, now)
	if err != nil {
		return nil, nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 {
		return []*refundry.Referral{}, nil, nil
	}
	voided, err := queryReferrals(ctx, tx, `r.merchant_id = $1 AND r.id = ANY($2) ORDER BY r.id`, merchantID, ids)
	if err != nil {
		return nil, nil, err
	}
	evs := make([]*refundry.Event, len(voided))
	for i, r := range voided {
		if evs[i], err = refundry.NewEvent(merchantID, refundry.EventReferralVoided, "referral", strconv.FormatInt(r.ID, 10), r, now); err != nil {
			return nil, nil, err
		}
	}
	return voided, evs, nil
}

// queryReferrals loads referrals with their origin's slug and their people.
func queryReferrals(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]*refundry.Referral, error) {
	rows, err := tx.Query(ctx, `SELECT r.id, r.merchant_id, r.origin_id, o.slug, r.campaign_id, r.offer_id,
			a.id, a.email, a.first_name, a.last_name, f.id, f.email, f.first_name, f.last_name,
			r.track_method, r.status, r.ad_rewarded, r.qa_generated, r.subtotal, r.currency, r.created, r.updated
		FROM referrals r
		JOIN origins o ON o.id = r.origin_id
		JOIN people a ON a.id = r.advocate_id
		JOIN people f ON f.id = r.friend_id
		WHERE `+cond, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Referral, error) {
		r := &refundry.Referral{}
		err := row.Scan(&r.ID, &r.MerchantID, &r.OriginID, &r.OriginSlug, &r.CampaignID, &r.OfferID,
			&r.Advocate.ID, &r.Advocate.Email, &r.Advocate.FirstName, &r.Advocate.LastName,
			&r.Friend.ID, &r.Friend.Email, &r.Friend.FirstName, &r.Friend.LastName,
			&r.TrackMethod, &r.Status, &r.AdRewarded, &r.QAGenerated, &r.Subtotal, &r.Currency, &r.Created, &r.Updated)
		r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
		return r, err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []*refundry.Referral{}
	}
	return out, nil
}
