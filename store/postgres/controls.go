package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// Refund controls: policies, users, and the refunds waiting for a person.

// FindRefundPolicy returns the merchant's policy; one never set is empty.
func (s *Store) FindRefundPolicy(ctx context.Context, merchantID string) (*refundry.RefundPolicy, error) {
	var doc []byte
	var updated time.Time
	err := s.reads().QueryRow(ctx, `SELECT policy::text, updated FROM refund_policies WHERE merchant_id = $1`, merchantID).Scan(&doc, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return &refundry.RefundPolicy{MerchantID: merchantID}, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	p := &refundry.RefundPolicy{}
	if err := json.Unmarshal(doc, p); err != nil {
		return nil, fmt.Errorf("postgres: refund policy of %s: %w", merchantID, err)
	}
	p.MerchantID, p.Updated = merchantID, updated.UTC()
	return p, nil
}

// PutRefundPolicy stores p as the merchant's whole policy, audited in the
// same transaction. ENOTFOUND if the merchant does not exist.
func (s *Store) PutRefundPolicy(ctx context.Context, p *refundry.RefundPolicy) error {
	stored := *p
	if stored.Updated.IsZero() {
		stored.Updated = s.now()
	}
	stored.Updated = normTime(stored.Updated)
	doc, err := json.Marshal(&stored)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO refund_policies (merchant_id, policy, updated)
			SELECT id, $2::jsonb, $3 FROM merchants WHERE id = $1
			ON CONFLICT (merchant_id) DO UPDATE SET policy = excluded.policy, updated = excluded.updated`,
			p.MerchantID, string(doc), stored.Updated)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refundry.Errorf(refundry.ENOTFOUND, "No such merchant: %s", p.MerchantID)
		}
		return audit(ctx, tx, p.MerchantID, refundry.AuditPolicyUpdate, stored.Updated, "")
	})
	if err != nil {
		return err
	}
	p.Updated = stored.Updated
	return nil
}

const userColumns = `id, merchant_id, name, email, role, password_hash, disabled, created`

// foldUserEmail is the expression of the unique index users_email_idx,
// word for word, so that a lookup by email in any case is that index's.
const foldUserEmail = `lower(email COLLATE "C")`

func scanUser(row pgx.Row) (*refundry.User, error) {
	var u refundry.User
	var role string
	var disabled *time.Time
	if err := row.Scan(&u.ID, &u.MerchantID, &u.Name, &u.Email, &role, &u.PasswordHash, &disabled, &u.Created); err != nil {
		return nil, err
	}
	u.Role, u.Created = refundry.Role(role), u.Created.UTC()
	if disabled != nil {
		u.Disabled = disabled.UTC()
	}
	return &u, nil
}

// CreateUser stores a validated user, audited. ECONFLICT if the merchant
// has a user with that email in any case, ENOTFOUND if the merchant does
// not exist.
func (s *Store) CreateUser(ctx context.Context, u *refundry.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if len(u.PasswordHash) == 0 {
		return refundry.ParamErrorf(refundry.EINVALID, "password", "A user needs a password.")
	}
	in := *u
	if in.ID == "" {
		in.ID = refundry.NewID()
	}
	if in.Created.IsZero() {
		in.Created = s.now()
	}
	in.Created = normTime(in.Created)
	if !in.Disabled.IsZero() {
		in.Disabled = normTime(in.Disabled)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		// ON CONFLICT DO NOTHING on the folded email's unique index: a
		// second user of that email, in any case, inserts no row, and
		// neither does a merchant that does not exist; which it was is
		// asked only then.
		tag, err := tx.Exec(ctx, `INSERT INTO users (id, merchant_id, name, email, role, password_hash, disabled, created)
			SELECT $1, id, $3, $4, $5, $6, $7, $8 FROM merchants WHERE id = $2
			ON CONFLICT (merchant_id, `+foldUserEmail+`) DO NOTHING`,
			in.ID, in.MerchantID, in.Name, in.Email, string(in.Role), in.PasswordHash, optTime(in.Disabled), in.Created)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var merchant bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM merchants WHERE id = $1)`, in.MerchantID).Scan(&merchant); err != nil {
				return err
			}
			if !merchant {
				return refundry.Errorf(refundry.ENOTFOUND, "No such merchant: %s", in.MerchantID)
			}
			return refundry.ParamErrorf(refundry.ECONFLICT, "email", "The merchant has a user with email %s already.", in.Email)
		}
		return audit(ctx, tx, in.MerchantID, refundry.AuditUserCreate, in.Created, in.ID)
	})
	if err != nil {
		return err
	}
	*u = in
	return nil
}

// FindUser returns ENOTFOUND if the merchant has no such user.
func (s *Store) FindUser(ctx context.Context, merchantID, id string) (*refundry.User, error) {
	u, err := scanUser(s.reads().QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE merchant_id = $1 AND id = $2`, merchantID, id))
	if err != nil {
		return nil, notFound(err, "No such user: %s", id)
	}
	return u, nil
}

// FindUserByEmail finds the merchant's user by email in any case.
func (s *Store) FindUserByEmail(ctx context.Context, merchantID, email string) (*refundry.User, error) {
	u, err := scanUser(s.reads().QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE merchant_id = $1 AND `+foldUserEmail+` = $2`,
		merchantID, refundry.FoldCase(email)))
	if err != nil {
		return nil, notFound(err, "No such user: %s", email)
	}
	return u, nil
}

// ListUsers returns one page of the merchant's users, newest first.
func (s *Store) ListUsers(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.User, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	q := `SELECT ` + userColumns + ` FROM users WHERE ` + w.page("id", p)
	rows, err := s.reads().Query(ctx, q, w.args...)
	if err != nil {
		return nil, false, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.User, error) { return scanUser(row) })
	if err != nil {
		return nil, false, translate(err)
	}
	out, more := trimPage(out, p)
	return out, more, nil
}

// DisableUser marks the user disabled at now, once: disabling again keeps
// the first time. Audited every time, as every write asked for is.
func (s *Store) DisableUser(ctx context.Context, merchantID, id string, now time.Time) (*refundry.User, error) {
	now = normTime(now)
	var out *refundry.User
	err := s.write(ctx, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET disabled = COALESCE(disabled, $3)
			WHERE merchant_id = $1 AND id = $2 RETURNING `+userColumns, merchantID, id, now))
		if err != nil {
			return notFound(err, "No such user: %s", id)
		}
		out = u
		return audit(ctx, tx, merchantID, refundry.AuditUserDisable, s.now(), id)
	})
	return out, err
}

const expiredApprovalsQuery = `SELECT ` + refundColumns + ` FROM refunds
	WHERE status = 'requires_approval' AND approval_expires_at <= $1 ORDER BY approval_expires_at, id LIMIT $2`

// ExpiredApprovals lists the refunds requiring approval whose deadline is
// at or before now, earliest first, from the partial index
// refunds_approval_due_idx.
func (s *Store) ExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]*refundry.Refund, error) {
	if limit <= 0 {
		limit = refundry.MaxPageLimit
	}
	rows, err := s.pool.Query(ctx, expiredApprovalsQuery, normTime(now), limit)
	if err != nil {
		return nil, translate(err)
	}
	out, err := collectRefunds(rows)
	if err != nil {
		return nil, translate(err)
	}
	if out == nil {
		out = []*refundry.Refund{}
	}
	if err := loadRefundLines(ctx, s.pool, out); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// queuesQuery counts the refunds of every queue, the merchant's (with
// merchant_id = $1 added) or all, from the partial index
// refunds_queue_idx, whose condition it repeats.
const queuesQuery = `SELECT status, COUNT(*), MIN(updated) FROM refunds
	WHERE status IN ('requires_approval', 'requires_action')`

// RefundQueues counts the refunds waiting for a person, per queue, of
// the merchant or (merchantID "") of every merchant.
func (s *Store) RefundQueues(ctx context.Context, merchantID string) ([]refundry.RefundQueue, error) {
	text, args := queuesQuery+` GROUP BY status`, []any(nil)
	if merchantID != "" {
		text, args = queuesQuery+` AND merchant_id = $1 GROUP BY status`, []any{merchantID}
	}
	rows, err := s.reads().Query(ctx, text, args...)
	if err != nil {
		return nil, translate(err)
	}
	counted := map[string]refundry.RefundQueue{}
	var q refundry.RefundQueue
	_, err = pgx.ForEachRow(rows, []any{&q.Status, &q.Count, &q.Oldest}, func() error {
		q.Oldest = q.Oldest.UTC()
		counted[q.Status] = q
		return nil
	})
	if err != nil {
		return nil, translate(err)
	}
	out := make([]refundry.RefundQueue, len(refundry.QueueStatuses))
	for i, st := range refundry.QueueStatuses {
		out[i] = counted[st]
		out[i].Status = st
	}
	return out, nil
}
