package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/refundry/refundry"
)

// ApplyRefundReport finds the payment the report is about, whichever
// merchant has it, and writes what DecideRefundReport decides. The write
// lock is held from BEGIN IMMEDIATE, so two reports of one refund run one
// after the other: the second sees the refund the first adopted.
func (s *Store) ApplyRefundReport(ctx context.Context, rep refundry.RefundReport) (*refundry.ReportResult, error) {
	ctx = s.writeContext(ctx)
	var res *refundry.ReportResult
	// Keeping: it changes a sale only through persistMoves.
	err := s.groupedKeeping(ctx, func(tx *tx) error {
		res = nil
		merchantID, txnID, saleID, err := findReportedTransaction(ctx, tx, rep.Gateway, rep.ChargeIDs)
		if err != nil {
			return err
		}
		if txnID == "" {
			res = &refundry.ReportResult{Outcome: refundry.OutcomeUnknownCharge, Detail: "no transaction of gateway " + rep.Gateway + " is the payment"}
			return nil
		}
		existing, err := findReportedRefund(ctx, tx, merchantID, saleID, txnID, rep)
		if err != nil {
			return err
		}
		sale, err := findSale(ctx, tx, merchantID, refundry.SaleLookup{ID: saleID})
		if err != nil {
			return err
		}
		d, err := refundry.DecideRefundReport(sale, existing, rep, tx.now)
		if err != nil {
			return err
		}
		res = &refundry.ReportResult{Outcome: d.Outcome, MerchantID: merchantID, Refund: d.Refund, Sale: d.Sale, Detail: d.Detail}
		switch {
		case d.Adopt != nil:
			if err := persistMoves(ctx, tx, d.Adopt.Moves); err != nil {
				return err
			}
			for _, r := range d.Adopt.Refunds {
				if err := insertRefund(ctx, tx, r); err != nil {
					return err
				}
			}
			return persistEffects(ctx, tx, merchantID, d.Adopt.Events, d.Adopt.Notify, d.Adopt.Audit)
		case d.Settle != nil:
			s.held.drop(d.Settle.Refund.ID)
			return writeSettlement(ctx, tx, merchantID, d.Settle)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// findReportedTransaction finds the transaction of gateway that one of
// chargeIDs names (its gateway charge id or its reference), of any
// merchant; "" ids when there is none. The conditions repeat the partial
// indexes' so that SQLite uses them.
func findReportedTransaction(ctx context.Context, tx *tx, gateway string, chargeIDs []string) (merchantID, id, saleID string, err error) {
	var ids []string
	for _, c := range chargeIDs {
		if c != "" {
			ids = append(ids, c)
		}
	}
	if gateway == "" || len(ids) == 0 {
		return "", "", "", nil
	}
	var byCharge, byRef query
	byCharge.add("gateway = ?", gateway)
	byCharge.in("gateway_charge_id", ids)
	byCharge.add("gateway_charge_id <> ''")
	byRef.add("gateway = ?", gateway)
	byRef.in("reference", ids)
	byRef.add("reference <> ''")
	err = tx.QueryRowContext(ctx, `SELECT merchant_id, id, sale_id FROM (
		SELECT merchant_id, id, sale_id, number FROM transactions`+byCharge.sql()+`
		UNION SELECT merchant_id, id, sale_id, number FROM transactions`+byRef.sql()+`) ORDER BY number LIMIT 1`,
		append(byCharge.args, byRef.args...)...).Scan(&merchantID, &id, &saleID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", nil
	}
	return merchantID, id, saleID, err
}

const (
	reportedByGatewayID = refundColumns + ` WHERE gateway = ? AND gateway_refund_id = ? AND gateway_refund_id <> ''
		AND merchant_id = ? AND sale_id = ? ORDER BY id LIMIT 1`
	reportedByID = refundColumns + ` WHERE merchant_id = ? AND id = ? AND transaction_id = ?`
)

// findReportedRefund finds the refund a report is about: by the gateway's
// id first, else by Refundry's id on the reported transaction.
func findReportedRefund(ctx context.Context, tx *tx, merchantID, saleID, txnID string, rep refundry.RefundReport) (*refundry.Refund, error) {
	if rep.GatewayRefundID != "" {
		refunds, err := queryRefunds(ctx, tx, reportedByGatewayID, rep.Gateway, rep.GatewayRefundID, merchantID, saleID)
		if err != nil || len(refunds) > 0 {
			return first(refunds), err
		}
	}
	if rep.RefundID == "" {
		return nil, nil
	}
	refunds, err := queryRefunds(ctx, tx, reportedByID, merchantID, rep.RefundID, txnID)
	return first(refunds), err
}

func first[T any](xs []*T) *T {
	if len(xs) == 0 {
		return nil
	}
	return xs[0]
}

// ApplyDisputeReport records or updates a dispute as DecideDisputeReport
// decides, under the write lock like a refund.
func (s *Store) ApplyDisputeReport(ctx context.Context, rep refundry.DisputeReport) (*refundry.ReportResult, error) {
	ctx = s.writeContext(ctx)
	var res *refundry.ReportResult
	err := s.grouped(ctx, func(tx *tx) error {
		res = nil
		existing, err := findReportedDispute(ctx, tx, rep)
		if err != nil {
			return err
		}
		var merchantID, saleID, txnID string
		switch {
		case existing != nil:
			merchantID, saleID, txnID = existing.MerchantID, existing.SaleID, existing.TransactionID
		case rep.DisputeID != "":
			return notFound("dispute", rep.DisputeID)
		case rep.TransactionID != "":
			merchantID, txnID = rep.MerchantID, rep.TransactionID
			err := tx.QueryRowContext(ctx, `SELECT sale_id FROM transactions WHERE merchant_id = ? AND id = ?`, merchantID, rep.TransactionID).Scan(&saleID)
			if errors.Is(err, sql.ErrNoRows) {
				return refundry.ParamErrorf(refundry.ENOTFOUND, "transaction", "No such transaction: %s", rep.TransactionID)
			}
			if err != nil {
				return err
			}
		default:
			if merchantID, txnID, saleID, err = findReportedTransaction(ctx, tx, rep.Gateway, rep.ChargeIDs); err != nil {
				return err
			}
		}
		if saleID == "" {
			res = &refundry.ReportResult{Outcome: refundry.OutcomeUnknownCharge, Detail: "no transaction of gateway " + rep.Gateway + " is the payment"}
			return nil
		}
		sale, err := findSale(ctx, tx, merchantID, refundry.SaleLookup{ID: saleID})
		if err != nil {
			return err
		}
		others, err := queryDisputes(ctx, tx, disputeColumns+` WHERE transaction_id = ?`, txnID)
		if err != nil {
			return err
		}
		d, err := refundry.DecideDisputeReport(sale, existing, rep, tx.now, append([]*refundry.Dispute{}, others...)...)
		if err != nil {
			return err
		}
		res = &refundry.ReportResult{Outcome: d.Outcome, MerchantID: merchantID, Dispute: d.Dispute, Sale: d.Sale, Detail: d.Detail}
		if d.Outcome != refundry.OutcomeDispute {
			return nil
		}
		if err := writeDispute(ctx, tx, d); err != nil {
			return err
		}
		return persistEffects(ctx, tx, merchantID, d.Events, nil, d.Audit)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// findReportedDispute finds the dispute a report is about: by Refundry's
// id for one recorded by hand, else by the gateway's id.
func findReportedDispute(ctx context.Context, tx *tx, rep refundry.DisputeReport) (*refundry.Dispute, error) {
	switch {
	case rep.DisputeID != "":
		ds, err := queryDisputes(ctx, tx, disputeColumns+` WHERE merchant_id = ? AND id = ?`, rep.MerchantID, rep.DisputeID)
		return first(ds), err
	case rep.GatewayDisputeID != "":
		gw := rep.Gateway
		if gw == "" && rep.TransactionID != "" {
			if err := tx.QueryRowContext(ctx, `SELECT gateway FROM transactions WHERE merchant_id = ? AND id = ?`,
				rep.MerchantID, rep.TransactionID).Scan(&gw); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, err
			}
		}
		ds, err := queryDisputes(ctx, tx, disputeColumns+` WHERE gateway = ? AND gateway_dispute_id = ? AND gateway_dispute_id <> ''`,
			gw, rep.GatewayDisputeID)
		return first(ds), err
	}
	return nil, nil
}

// writeDispute writes the dispute and its transaction's dispute state.
// The amount's condition keeps what lost disputes returned from going
// below zero, whatever the decision says.
func writeDispute(ctx context.Context, tx *tx, d *refundry.DisputeDecision) error {
	x := d.Dispute
	if d.Insert {
		if _, err := tx.ExecContext(ctx, `INSERT INTO disputes (id, merchant_id, sale_id, transaction_id, gateway, gateway_dispute_id,
			amount, currency, status, reason, funds_withdrawn, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			x.ID, x.MerchantID, x.SaleID, x.TransactionID, x.Gateway, x.GatewayDisputeID, x.Amount, x.Currency, x.Status,
			x.Reason, x.FundsWithdrawn, micros(x.Created), micros(x.Updated)); err != nil {
			return err
		}
	} else if _, err := tx.ExecContext(ctx, `UPDATE disputes SET amount = ?, status = ?, reason = ?, funds_withdrawn = ?, updated = ? WHERE id = ?`,
		x.Amount, x.Status, x.Reason, x.FundsWithdrawn, micros(x.Updated), x.ID); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE transactions SET dispute_status = ?, disputed_amount = disputed_amount + ?
		WHERE id = ? AND disputed_amount + ? >= 0`, d.DisputeStatus, d.DisputedDelta, d.TransactionID, d.DisputedDelta)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return refundry.Errorf(refundry.EINTERNAL, "The disputed amount of transaction %s would go below zero.", d.TransactionID)
	}
	return nil
}

// FindDispute returns ENOTFOUND if the merchant has no such dispute.
func (s *Store) FindDispute(ctx context.Context, merchantID, id string) (d *refundry.Dispute, err error) {
	err = s.view(ctx, func(tx *tx) error {
		ds, err := queryDisputes(ctx, tx, disputeColumns+` WHERE merchant_id = ? AND id = ?`, merchantID, id)
		if err != nil {
			return err
		}
		if d = first(ds); d == nil {
			return notFound("dispute", id)
		}
		return nil
	})
	return d, err
}

// ListDisputes returns one page, newest first, and whether more follow.
func (s *Store) ListDisputes(ctx context.Context, merchantID string, f refundry.DisputeFilter) ([]*refundry.Dispute, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	for _, c := range []struct{ col, v string }{
		{"sale_id", f.SaleID}, {"transaction_id", f.TransactionID}, {"status", f.Status},
	} {
		if c.v != "" {
			q.add(c.col+" = ?", c.v)
		}
	}
	tail := q.page("id", f.Page)
	var ds []*refundry.Dispute
	err := s.view(ctx, func(tx *tx) (err error) {
		ds, err = queryDisputes(ctx, tx, disputeColumns+q.sql()+tail, q.args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	ds, more := trim(ds, f.Page)
	return ds, more, nil
}

// CountOverRefundedSales counts sales whose refunds exceed what was paid.
func (s *Store) CountOverRefundedSales(ctx context.Context) (n int64, err error) {
	err = s.view(ctx, func(tx *tx) error {
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sales WHERE refunded_amount > amount`).Scan(&n)
	})
	return n, err
}

const disputeColumns = `SELECT id, merchant_id, sale_id, transaction_id, gateway, gateway_dispute_id, amount, currency, status,
	reason, funds_withdrawn, created, updated FROM disputes`

func queryDisputes(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.Dispute, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.Dispute
	for rows.Next() {
		var d refundry.Dispute
		var created, updated int64
		if err := rows.Scan(&d.ID, &d.MerchantID, &d.SaleID, &d.TransactionID, &d.Gateway, &d.GatewayDisputeID, &d.Amount,
			&d.Currency, &d.Status, &d.Reason, &d.FundsWithdrawn, &created, &updated); err != nil {
			return nil, err
		}
		d.Created, d.Updated = fromMicros(created), fromMicros(updated)
		out = append(out, &d)
	}
	return out, rows.Err()
}
