package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/refundry/refundry"
)

// Refund controls: policies, users, and the refunds waiting for a person.

// FindRefundPolicy returns the merchant's policy; one never set is empty.
func (s *Store) FindRefundPolicy(ctx context.Context, merchantID string) (p *refundry.RefundPolicy, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
		p, err = findRefundPolicy(ctx, tx, merchantID)
		return err
	})
	return p, err
}

func findRefundPolicy(ctx context.Context, tx *tx, merchantID string) (*refundry.RefundPolicy, error) {
	var doc string
	var updated int64
	err := tx.QueryRowContext(ctx, `SELECT policy, updated FROM refund_policies WHERE merchant_id = ?`, merchantID).Scan(&doc, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return &refundry.RefundPolicy{MerchantID: merchantID}, nil
	}
	if err != nil {
		return nil, err
	}
	p := &refundry.RefundPolicy{}
	if err := json.Unmarshal([]byte(doc), p); err != nil {
		return nil, fmt.Errorf("sqlite: refund policy of %s: %w", merchantID, err)
	}
	p.MerchantID, p.Updated = merchantID, fromMicros(updated)
	return p, nil
}

// PutRefundPolicy stores p as the merchant's whole policy, audited in the
// same transaction. ENOTFOUND if the merchant does not exist.
func (s *Store) PutRefundPolicy(ctx context.Context, p *refundry.RefundPolicy) error {
	return s.update(ctx, func(tx *tx) error {
		if _, err := findMerchant(ctx, tx, `id = ?`, p.MerchantID); err != nil {
			return err
		}
		stored := *p
		if stored.Updated.IsZero() {
			stored.Updated = tx.now
		}
		stored.Updated = utc(stored.Updated)
		doc, err := json.Marshal(&stored)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refund_policies (merchant_id, policy, updated) VALUES (?, ?, ?)
			ON CONFLICT (merchant_id) DO UPDATE SET policy = excluded.policy, updated = excluded.updated`,
			p.MerchantID, string(doc), micros(stored.Updated)); err != nil {
			return err
		}
		if err := audit(ctx, tx, p.MerchantID, refundry.AuditPolicyUpdate, ""); err != nil {
			return err
		}
		p.Updated = stored.Updated
		return nil
	})
}

const userColumns = `SELECT id, merchant_id, name, email, role, password_hash, disabled, created FROM users`

func scanUser(row interface{ Scan(...any) error }) (*refundry.User, error) {
	var u refundry.User
	var role string
	var disabled sql.NullInt64
	var created int64
	if err := row.Scan(&u.ID, &u.MerchantID, &u.Name, &u.Email, &role, &u.PasswordHash, &disabled, &created); err != nil {
		return nil, err
	}
	u.Role, u.Created = refundry.Role(role), fromMicros(created)
	if disabled.Valid {
		u.Disabled = fromMicros(disabled.Int64)
	}
	return &u, nil
}

// userByEmail finds the user by email in any case: lower() on both sides,
// as the unique index users_email has it, so the lookup is that index's.
const userByEmail = userColumns + ` WHERE merchant_id = ? AND lower(email) = ?`

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
	err := s.update(ctx, func(tx *tx) error {
		if _, err := findMerchant(ctx, tx, `id = ?`, in.MerchantID); err != nil {
			return err
		}
		if in.Created.IsZero() {
			in.Created = tx.now
		}
		in.Created = utc(in.Created)
		if taken, err := exists(ctx, tx, `SELECT 1 FROM users WHERE merchant_id = ? AND lower(email) = ?`,
			in.MerchantID, refundry.FoldCase(in.Email)); err != nil {
			return err
		} else if taken {
			return refundry.ParamErrorf(refundry.ECONFLICT, "email", "The merchant has a user with email %s already.", in.Email)
		}
		var disabled sql.NullInt64
		if !in.Disabled.IsZero() {
			in.Disabled = utc(in.Disabled)
			disabled = sql.NullInt64{Int64: micros(in.Disabled), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, merchant_id, name, email, role, password_hash, disabled, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, in.ID, in.MerchantID, in.Name, in.Email, string(in.Role), in.PasswordHash,
			disabled, micros(in.Created)); err != nil {
			return err
		}
		return audit(ctx, tx, in.MerchantID, refundry.AuditUserCreate, in.ID)
	})
	if err != nil {
		return err
	}
	*u = in
	return nil
}

// FindUser returns ENOTFOUND if the merchant has no such user.
func (s *Store) FindUser(ctx context.Context, merchantID, id string) (u *refundry.User, err error) {
	err = s.view(ctx, func(tx *tx) error {
		u, err = findUser(ctx, tx, userColumns+` WHERE merchant_id = ? AND id = ?`, id, merchantID, id)
		return err
	})
	return u, err
}

// FindUserByEmail finds the merchant's user by email in any case.
func (s *Store) FindUserByEmail(ctx context.Context, merchantID, email string) (u *refundry.User, err error) {
	err = s.view(ctx, func(tx *tx) error {
		u, err = findUser(ctx, tx, userByEmail, email, merchantID, refundry.FoldCase(email))
		return err
	})
	return u, err
}

func findUser(ctx context.Context, tx *tx, text, what string, args ...any) (*refundry.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, text, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", what)
	}
	return u, err
}

// ListUsers returns one page of the merchant's users, newest first.
func (s *Store) ListUsers(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.User, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	tail := q.page("id", p)
	var users []*refundry.User
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, userColumns+q.sql()+tail, q.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	users, more := trim(users, p)
	if users == nil {
		users = []*refundry.User{}
	}
	return users, more, nil
}

// DisableUser marks the user disabled at now, once: disabling again keeps
// the first time. Audited every time, as every write asked for is.
func (s *Store) DisableUser(ctx context.Context, merchantID, id string, now time.Time) (u *refundry.User, err error) {
	err = s.update(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE merchant_id = ? AND id = ? AND disabled IS NULL`,
			micros(utc(now)), merchantID, id); err != nil {
			return err
		}
		if u, err = findUser(ctx, tx, userColumns+` WHERE merchant_id = ? AND id = ?`, id, merchantID, id); err != nil {
			return err
		}
		return audit(ctx, tx, merchantID, refundry.AuditUserDisable, id)
	})
	return u, err
}

// ExpiredApprovals lists the refunds requiring approval whose deadline is
// at or before now, earliest first, from the partial index
// refunds_approval_due ('requires_approval' spelled out for it).
func (s *Store) ExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]*refundry.Refund, error) {
	if limit <= 0 {
		limit = refundry.MaxPageLimit
	}
	var out []*refundry.Refund
	err := s.view(ctx, func(tx *tx) (err error) {
		out, err = queryRefunds(ctx, tx, refundColumns+` WHERE status = 'requires_approval' AND approval_expires_at <= ?
			ORDER BY approval_expires_at, id LIMIT ?`, micros(utc(now)), limit)
		return err
	})
	if out == nil {
		out = []*refundry.Refund{}
	}
	return out, err
}

// queuesQuery counts the refunds of every queue, the merchant's (with
// merchant_id = ? added) or all. Its IN list is the partial index
// refunds_queue's condition word for word: SQLite uses a partial index
// only for a query that repeats its condition, and then reads the index
// alone, never a refund row.
const queuesQuery = `SELECT status, COUNT(*), MIN(updated) FROM refunds
	WHERE status IN ('requires_approval', 'requires_action')`

// RefundQueues counts the refunds waiting for a person, per queue, of
// the merchant or (merchantID "") of every merchant.
func (s *Store) RefundQueues(ctx context.Context, merchantID string) ([]refundry.RefundQueue, error) {
	text, args := queuesQuery+` GROUP BY status`, []any(nil)
	if merchantID != "" {
		text, args = queuesQuery+` AND merchant_id = ? GROUP BY status`, []any{merchantID}
	}
	counted := map[string]refundry.RefundQueue{}
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, text, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q refundry.RefundQueue
			var oldest int64
			if err := rows.Scan(&q.Status, &q.Count, &oldest); err != nil {
				return err
			}
			q.Oldest = fromMicros(oldest)
			counted[q.Status] = q
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]refundry.RefundQueue, len(refundry.QueueStatuses))
	for i, st := range refundry.QueueStatuses {
		out[i] = counted[st]
		out[i].Status = st
	}
	return out, nil
}
