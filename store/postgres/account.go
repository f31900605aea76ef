package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

var _ refundry.GatewayAccountStore = (*Store)(nil)

// CreateGatewayAccount stores a sealed account, with the endpoint a
// Talkable account keeps, in one transaction.
func (s *Store) CreateGatewayAccount(ctx context.Context, a *refundry.GatewayAccount) error {
	hints, err := json.Marshal(a.Hints)
	if err != nil {
		return err
	}
	ep := a.Endpoint()
	var events []byte
	if ep != nil {
		if events, err = json.Marshal(ep.EnabledEvents); err != nil {
			return err
		}
	}
	now := s.now()
	err = s.write(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM merchants WHERE id = $1`, a.MerchantID).Scan(&one); err != nil {
			return notFound(err, "No such merchant: %s", a.MerchantID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO gateway_accounts (id, merchant_id, kind, base_url, sealed, key_id, hints, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.ID, a.MerchantID, a.Kind, a.BaseURL, a.Sealed, a.KeyID, string(hints), now); err != nil {
			return err
		}
		if ep != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status,
				disabled_reason, failure_streak, failing_since, created, updated, gateway_account)
				VALUES ($1, $2, $3, $4, '', $5, '', 0, $6, $7, $7, $8)`,
				ep.ID, ep.MerchantID, ep.URL, string(events), ep.Status, never, now, ep.GatewayAccount); err != nil {
				return err
			}
		}
		return audit(ctx, tx, a.MerchantID, refundry.AuditGatewayAccountCreate, now, a.ID)
	})
	if err != nil {
		return err
	}
	a.Created = now
	return nil
}

const accountColumns = `SELECT id, merchant_id, kind, base_url, sealed, key_id, hints, created, removed FROM gateway_accounts`

func queryAccounts(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]*refundry.GatewayAccount, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.GatewayAccount, error) {
		var a refundry.GatewayAccount
		var hints []byte
		var removed *time.Time
		if err := row.Scan(&a.ID, &a.MerchantID, &a.Kind, &a.BaseURL, &a.Sealed, &a.KeyID, &hints, &a.Created, &removed); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(hints, &a.Hints); err != nil {
			return nil, err
		}
		a.Created = a.Created.UTC()
		if removed != nil {
			a.Removed = removed.UTC()
		}
		return &a, nil
	})
	if out == nil && err == nil {
		out = []*refundry.GatewayAccount{}
	}
	return out, err
}

func findAccount(ctx context.Context, tx pgx.Tx, merchantID, id string, lock string) (*refundry.GatewayAccount, error) {
	as, err := queryAccounts(ctx, tx, accountColumns+` WHERE merchant_id = $1 AND id = $2`+lock, merchantID, id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such gateway account: %s", id)
	}
	return as[0], nil
}

// FindGatewayAccount returns a merchant's account, removed or not.
func (s *Store) FindGatewayAccount(ctx context.Context, merchantID, id string) (a *refundry.GatewayAccount, err error) {
	err = s.read(ctx, func(tx pgx.Tx) error {
		a, err = findAccount(ctx, tx, merchantID, id, "")
		return err
	})
	return a, err
}

// ListGatewayAccounts returns a merchant's active accounts, oldest first.
func (s *Store) ListGatewayAccounts(ctx context.Context, merchantID string) (as []*refundry.GatewayAccount, err error) {
	err = s.read(ctx, func(tx pgx.Tx) error {
		as, err = queryAccounts(ctx, tx, accountColumns+` WHERE merchant_id = $1 AND removed IS NULL ORDER BY id`, merchantID)
		return err
	})
	return as, err
}

// accountUnsettledQuery counts the refunds of an account's payments in
// the statuses $3. A refund is found by its payment's sale as well,
// through refunds_sale_idx: refunds keep no index of their payment.
const accountUnsettledQuery = `SELECT COUNT(*) FROM transactions t JOIN refunds r ON r.sale_id = t.sale_id AND r.transaction_id = t.id
	WHERE t.merchant_id = $1 AND t.gateway_account = $2 AND t.gateway_account <> '' AND r.status = ANY($3)`

// RemoveGatewayAccount marks an account removed, unless refunds of its
// payments are unsettled.
func (s *Store) RemoveGatewayAccount(ctx context.Context, merchantID, id string, now time.Time) (a *refundry.GatewayAccount, err error) {
	statuses := refundry.UnsettledStatuses()
	removed := normTime(now)
	err = s.write(ctx, func(tx pgx.Tx) error {
		// Locked, so that two removals of one account do not both pass.
		if a, err = findAccount(ctx, tx, merchantID, id, " FOR UPDATE"); err != nil {
			return err
		}
		if !a.Active() {
			return refundry.Errorf(refundry.ENOTFOUND, "No such gateway account: %s", id)
		}
		var n int
		if err := tx.QueryRow(ctx, accountUnsettledQuery, merchantID, id, statuses).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return refundry.Errorf(refundry.ECONFLICT,
				"Gateway account %s is in use: %d refund(s) of its payments are not settled yet. Remove it once they are.", id, n)
		}
		if _, err := tx.Exec(ctx, `UPDATE gateway_accounts SET removed = $1 WHERE id = $2`, removed, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE endpoint_id IN
				(SELECT id FROM webhook_endpoints WHERE gateway_account = $1))`,
			`DELETE FROM deliveries WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE gateway_account = $1)`,
			`DELETE FROM webhook_endpoints WHERE gateway_account = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, merchantID, refundry.AuditGatewayAccountRemove, s.now(), id)
	})
	if err != nil {
		return nil, err
	}
	a.Removed = removed
	return a, nil
}

// SealedGatewayAccounts returns accounts sealed under another key than
// keyID.
func (s *Store) SealedGatewayAccounts(ctx context.Context, keyID string, limit int) (as []*refundry.GatewayAccount, err error) {
	if limit <= 0 {
		return nil, nil
	}
	err = s.read(ctx, func(tx pgx.Tx) error {
		as, err = queryAccounts(ctx, tx, accountColumns+` WHERE key_id <> $1 ORDER BY id LIMIT $2`, keyID, limit)
		return err
	})
	return as, err
}

// ResealGatewayAccount replaces an account's sealed credentials if they
// are still those of oldKeyID.
func (s *Store) ResealGatewayAccount(ctx context.Context, id, oldKeyID string, sealed []byte, keyID string) (ok bool, err error) {
	err = s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE gateway_accounts SET sealed = $1, key_id = $2 WHERE id = $3 AND key_id = $4`, sealed, keyID, id, oldKeyID)
		ok = tag.RowsAffected() == 1
		return err
	})
	return ok, err
}
