package sqlite

import (
	"context"
	"encoding/json"
	"time"

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
	return s.update(ctx, func(tx *tx) error {
		if ok, err := exists(ctx, tx, `SELECT 1 FROM merchants WHERE id = ?`, a.MerchantID); err != nil {
			return err
		} else if !ok {
			return notFound("merchant", a.MerchantID)
		}
		a.Created = tx.now
		if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_accounts (id, merchant_id, kind, base_url, sealed, key_id, hints, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.MerchantID, a.Kind, a.BaseURL, a.Sealed, a.KeyID, string(hints), micros(tx.now)); err != nil {
			return err
		}
		if ep != nil {
			ep.Created, ep.Updated = tx.now, tx.now
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status,
				disabled_reason, failure_streak, failing_since, created, updated, gateway_account)
				VALUES (?, ?, ?, ?, '', ?, '', 0, 0, ?, ?, ?)`,
				ep.ID, ep.MerchantID, ep.URL, string(events), ep.Status, micros(tx.now), micros(tx.now), ep.GatewayAccount); err != nil {
				return err
			}
		}
		return audit(ctx, tx, a.MerchantID, refundry.AuditGatewayAccountCreate, a.ID)
	})
}

const accountColumns = `SELECT id, merchant_id, kind, base_url, sealed, key_id, hints, created, removed FROM gateway_accounts`

func queryAccounts(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.GatewayAccount, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*refundry.GatewayAccount{}
	for rows.Next() {
		var a refundry.GatewayAccount
		var hints string
		var created, removed int64
		if err := rows.Scan(&a.ID, &a.MerchantID, &a.Kind, &a.BaseURL, &a.Sealed, &a.KeyID, &hints, &created, &removed); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(hints), &a.Hints); err != nil {
			return nil, err
		}
		a.Created = fromMicros(created)
		if removed != 0 {
			a.Removed = fromMicros(removed)
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

func findAccount(ctx context.Context, tx *tx, merchantID, id string) (*refundry.GatewayAccount, error) {
	as, err := queryAccounts(ctx, tx, accountColumns+` WHERE merchant_id = ? AND id = ?`, merchantID, id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, notFound("gateway account", id)
	}
	return as[0], nil
}

// FindGatewayAccount returns a merchant's account, removed or not.
func (s *Store) FindGatewayAccount(ctx context.Context, merchantID, id string) (a *refundry.GatewayAccount, err error) {
	err = s.view(ctx, func(tx *tx) error {
		a, err = findAccount(ctx, tx, merchantID, id)
		return err
	})
	return a, err
}

// ListGatewayAccounts returns a merchant's active accounts, oldest first.
func (s *Store) ListGatewayAccounts(ctx context.Context, merchantID string) (as []*refundry.GatewayAccount, err error) {
	err = s.view(ctx, func(tx *tx) error {
		as, err = queryAccounts(ctx, tx, accountColumns+` WHERE merchant_id = ? AND removed = 0 ORDER BY id`, merchantID)
		return err
	})
	return as, err
}

// accountUnsettledQuery counts the unsettled refunds of an account's
// payments (refundry.UnsettledStatuses, spelled out when the package
// loads). A refund is found by its payment's sale as well, through
// refunds_sale: refunds keep no index of their payment.
var accountUnsettledQuery = `SELECT COUNT(*) FROM transactions t JOIN refunds r ON r.sale_id = t.sale_id AND r.transaction_id = t.id
	WHERE t.merchant_id = ? AND t.gateway_account = ? AND t.gateway_account <> '' AND r.status IN (` + quoteList(refundry.UnsettledStatuses()) + `)`

// RemoveGatewayAccount marks an account removed, unless refunds of its
// payments are unsettled.
func (s *Store) RemoveGatewayAccount(ctx context.Context, merchantID, id string, now time.Time) (a *refundry.GatewayAccount, err error) {
	err = s.update(ctx, func(tx *tx) error {
		if a, err = findAccount(ctx, tx, merchantID, id); err != nil {
			return err
		}
		if !a.Active() {
			return notFound("gateway account", id)
		}
		var n int
		if err := tx.QueryRowContext(ctx, accountUnsettledQuery, merchantID, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return refundry.Errorf(refundry.ECONFLICT,
				"Gateway account %s is in use: %d refund(s) of its payments are not settled yet. Remove it once they are.", id, n)
		}
		a.Removed = utc(now)
		if _, err := tx.ExecContext(ctx, `UPDATE gateway_accounts SET removed = ? WHERE id = ?`, micros(a.Removed), id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE endpoint_id IN
				(SELECT id FROM webhook_endpoints WHERE gateway_account = ?))`,
			`DELETE FROM deliveries WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE gateway_account = ?)`,
			`DELETE FROM webhook_endpoints WHERE gateway_account = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, merchantID, refundry.AuditGatewayAccountRemove, id)
	})
	return a, err
}

// SealedGatewayAccounts returns accounts sealed under another key than
// keyID.
func (s *Store) SealedGatewayAccounts(ctx context.Context, keyID string, limit int) (as []*refundry.GatewayAccount, err error) {
	if limit <= 0 {
		return nil, nil
	}
	err = s.view(ctx, func(tx *tx) error {
		as, err = queryAccounts(ctx, tx, accountColumns+` WHERE key_id <> ? ORDER BY id LIMIT ?`, keyID, limit)
		return err
	})
	return as, err
}

// ResealGatewayAccount replaces an account's sealed credentials if they
// are still those of oldKeyID.
func (s *Store) ResealGatewayAccount(ctx context.Context, id, oldKeyID string, sealed []byte, keyID string) (ok bool, err error) {
	err = s.update(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE gateway_accounts SET sealed = ?, key_id = ? WHERE id = ? AND key_id = ?`, sealed, keyID, id, oldKeyID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}
