package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

var _ refundry.ReconciliationStore = (*Store)(nil)

const recentChargesQuery = `SELECT t.merchant_id, t.sale_id, t.id, t.gateway, t.gateway_charge_id, t.reference, t.currency
	FROM transactions t
	WHERE t.gateway = $1 AND ($2 = '' OR t.merchant_id = $2) AND t.id > $3
	AND t.id IN (SELECT t2.id FROM sales s JOIN transactions t2 ON t2.sale_id = s.id WHERE s.created >= $4
		UNION SELECT r.transaction_id FROM refunds r WHERE r.updated >= $4
		UNION SELECT d.transaction_id FROM disputes d WHERE d.updated >= $4)
	ORDER BY t.id LIMIT $5`

// RecentCharges lists the payments through gateway with activity at or
// after since: the sale created, a refund or a dispute created or changed
// (updated is never before created). Each source is found by
// its own index and the union is walked by transaction id, so a page
// costs the recent activity, not the whole ledger.
func (s *Store) RecentCharges(ctx context.Context, merchantID, gateway string, since time.Time, afterTransaction string, limit int) ([]refundry.ChargeActivity, error) {
	if limit <= 0 || limit > refundry.MaxPageLimit {
		limit = refundry.MaxPageLimit
	}
	var out []refundry.ChargeActivity
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, recentChargesQuery, gateway, merchantID, afterTransaction, normTime(since), limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (refundry.ChargeActivity, error) {
			var c refundry.ChargeActivity
			err := row.Scan(&c.MerchantID, &c.SaleID, &c.TransactionID, &c.Gateway, &c.GatewayChargeID, &c.Reference, &c.Currency)
			return c, err
		})
		return err
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
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO reconciliation_runs (id, merchant_id, trigger, since, started, finished,
			charges, matched, adopted, corrected, mismatched, mismatches) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			run.ID, run.MerchantID, run.Trigger, normTime(run.Since), normTime(run.Started), normTime(run.Finished),
			run.Charges, run.Matched, run.Adopted, run.Corrected, run.Mismatched, string(text))
		return err
	})
}

// FindReconciliationRun returns ENOTFOUND if the merchant has no such run.
func (s *Store) FindReconciliationRun(ctx context.Context, merchantID, id string) (*refundry.ReconciliationRun, error) {
	var runs []*refundry.ReconciliationRun
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		runs, err = queryRuns(ctx, tx, `SELECT `+runColumns+` FROM reconciliation_runs WHERE merchant_id = $1 AND id = $2`, merchantID, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such reconciliation run: %s", id)
	}
	return runs[0], nil
}

// ListReconciliationRuns returns one page, newest first.
func (s *Store) ListReconciliationRuns(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.ReconciliationRun, bool, error) {
	if err := p.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	q := `SELECT ` + runColumns + ` FROM reconciliation_runs WHERE ` + w.page("id", p)
	var out []*refundry.ReconciliationRun
	var more bool
	err := s.read(ctx, func(tx pgx.Tx) error {
		runs, err := queryRuns(ctx, tx, q, w.args...)
		out, more = trimPage(runs, p)
		return err
	})
	return out, more, err
}

const runColumns = `id, merchant_id, trigger, since, started, finished, charges, matched, adopted, corrected,
	mismatched, mismatches`

func queryRuns(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]*refundry.ReconciliationRun, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.ReconciliationRun, error) {
		var r refundry.ReconciliationRun
		var mm string
		if err := row.Scan(&r.ID, &r.MerchantID, &r.Trigger, &r.Since, &r.Started, &r.Finished, &r.Charges, &r.Matched,
			&r.Adopted, &r.Corrected, &r.Mismatched, &mm); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(mm), &r.Mismatches); err != nil {
			return nil, err
		}
		r.Since, r.Started, r.Finished = r.Since.UTC(), r.Started.UTC(), r.Finished.UTC()
		return &r, nil
	})
}
