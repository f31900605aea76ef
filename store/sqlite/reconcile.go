package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/refundry/refundry"
)

var _ refundry.ReconciliationStore = (*Store)(nil)

// RecentCharges lists the payments through gateway with activity at or
// after since: the sale created, a refund or a dispute created or changed
// (updated is never before created). Each source is found by
// its own index and the union is walked by transaction id, so a page
// costs the recent activity, not the whole ledger.
func (s *Store) RecentCharges(ctx context.Context, merchantID, gateway string, since time.Time, afterTransaction string, limit int) ([]refundry.ChargeActivity, error) {
	if limit <= 0 || limit > refundry.MaxPageLimit {
		limit = refundry.MaxPageLimit
	}
	text, args := recentChargesQuery(merchantID, gateway, since, afterTransaction, limit)
	var out []refundry.ChargeActivity
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, text, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c refundry.ChargeActivity
			if err := rows.Scan(&c.MerchantID, &c.SaleID, &c.TransactionID, &c.Gateway, &c.GatewayChargeID, &c.Reference, &c.Currency); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// SaveReconciliationRun stores a finished run.
func (s *Store) SaveReconciliationRun(ctx context.Context, run *refundry.ReconciliationRun) error {
	mm := run.Mismatches
	if mm == nil {
		mm = []refundry.Mismatch{}
	}
	text, err := json.Marshal(mm)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reconciliation_runs (id, merchant_id, trigger, since, started, finished,
			charges, matched, adopted, corrected, mismatched, mismatches) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			run.ID, run.MerchantID, run.Trigger, micros(run.Since), micros(run.Started), micros(run.Finished),
			run.Charges, run.Matched, run.Adopted, run.Corrected, run.Mismatched, string(text))
		return err
	})
}

// FindReconciliationRun returns ENOTFOUND if the merchant has no such run.
func (s *Store) FindReconciliationRun(ctx context.Context, merchantID, id string) (*refundry.ReconciliationRun, error) {
	var runs []*refundry.ReconciliationRun
	err := s.view(ctx, func(tx *tx) (err error) {
		runs, err = queryRuns(ctx, tx, runColumns+` WHERE merchant_id = ? AND id = ?`, merchantID, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, notFound("reconciliation run", id)
	}
	return runs[0], nil
}

// ListReconciliationRuns returns one page, newest first.
func (s *Store) ListReconciliationRuns(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.ReconciliationRun, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	tail := q.page("id", p)
	var runs []*refundry.ReconciliationRun
	err := s.view(ctx, func(tx *tx) (err error) {
		runs, err = queryRuns(ctx, tx, runColumns+q.sql()+tail, q.args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	runs, more := trim(runs, p)
	return runs, more, nil
}

const runColumns = `SELECT id, merchant_id, trigger, since, started, finished, charges, matched, adopted, corrected,
	mismatched, mismatches FROM reconciliation_runs`

func queryRuns(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.ReconciliationRun, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.ReconciliationRun
	for rows.Next() {
		var r refundry.ReconciliationRun
		var since, started, finished int64
		var mm string
		if err := rows.Scan(&r.ID, &r.MerchantID, &r.Trigger, &since, &started, &finished, &r.Charges, &r.Matched,
			&r.Adopted, &r.Corrected, &r.Mismatched, &mm); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(mm), &r.Mismatches); err != nil {
			return nil, err
		}
		r.Since, r.Started, r.Finished = fromMicros(since), fromMicros(started), fromMicros(finished)
		out = append(out, &r)
	}
	return out, rows.Err()
}

func recentChargesQuery(merchantID, gateway string, since time.Time, afterTransaction string, limit int) (string, []any) {
	var q query
	q.add("t.gateway = ?", gateway)
	if merchantID != "" {
		q.add("t.merchant_id = ?", merchantID)
	}
	q.add("t.id > ?", afterTransaction)
	at := micros(since)
	q.add(`t.id IN (SELECT t2.id FROM sales s JOIN transactions t2 ON t2.sale_id = s.id WHERE s.created >= ?
		UNION SELECT r.transaction_id FROM refunds r WHERE r.updated >= ?
		UNION SELECT d.transaction_id FROM disputes d WHERE d.updated >= ?)`, at, at, at)
	q.args = append(q.args, limit)
	return `SELECT t.merchant_id, t.sale_id, t.id, t.gateway, t.gateway_charge_id, t.reference, t.currency
			FROM transactions t` + q.sql() + ` ORDER BY t.id LIMIT ?`, q.args
}
