package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
)

// ApplyRefundReport finds the payment the report is about, whichever
// merchant has it, and writes what DecideRefundReport decides, in one
// transaction that locks the sale first, as CreateRefunds does: two
// reports of one refund run one after the other, and the second sees the
// refund the first adopted. A payment never changes sale, so the sale is
// found before the transaction, for its group-commit lane and its lock.
func (s *Store) ApplyRefundReport(ctx context.Context, rep refundry.RefundReport) (*refundry.ReportResult, error) {
	var merchantID, txnID, saleID string
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		merchantID, txnID, saleID, err = findReportedTransaction(ctx, tx, rep.Gateway, rep.ChargeIDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	if txnID == "" {
		return &refundry.ReportResult{Outcome: refundry.OutcomeUnknownCharge, Detail: "no transaction of gateway " + rep.Gateway + " is the payment"}, nil
	}
	if s.batch != nil {
		ctx = forSale(ctx, merchantID, saleID)
	}
	ctx = s.writeContext(ctx)
	var res *refundry.ReportResult
	err = s.grouped(ctx, func(tx pgx.Tx) error {
		now := s.now()
		b := &pgx.Batch{}
		found, err := queueFindSale(b, merchantID, refundry.SaleLookup{ID: saleID}, true)
		if err != nil {
			return err
		}
		// Both candidates are read after the lock, in the same round
		// trip: the gateway's id first, else Refundry's on the payment.
		var byGateway, byID []*refundry.Refund
		if rep.GatewayRefundID != "" {
			b.Queue(reportedByGatewayID, rep.Gateway, rep.GatewayRefundID, merchantID, saleID).
				Query(func(rows pgx.Rows) (err error) {
					byGateway, err = collectRefunds(rows)
					return err
				})
		}
		if rep.RefundID != "" {
			b.Queue(reportedByID, rep.RefundID, merchantID, txnID).Query(func(rows pgx.Rows) (err error) {
				byID, err = collectRefunds(rows)
				return err
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		sale, err := found()
		if err != nil {
			return err
		}
		existing := firstOf(byGateway)
		if existing == nil {
			existing = firstOf(byID)
		}
		if existing != nil {
			// A settlement that releases reverses the refund's lines.
			if err := loadRefundLines(ctx, tx, []*refundry.Refund{existing}); err != nil {
				return err
			}
		}
		d, err := refundry.DecideRefundReport(sale, existing, rep, now)
		if err != nil {
			return err
		}
		res = &refundry.ReportResult{Outcome: d.Outcome, MerchantID: merchantID, Refund: d.Refund, Sale: d.Sale, Detail: d.Detail}
		var c *changes
		switch {
		case d.Adopt != nil:
			c = &changes{moves: d.Adopt.Moves, inserts: d.Adopt.Refunds}
			c.addEffects(ctx, merchantID, now, d.Adopt.Events, d.Adopt.Notify, d.Adopt.Audit)
		case d.Settle != nil:
			c = &changes{moves: d.Settle.Moves, settles: []settledRefund{{d.Settle.Refund, d.Settle.From}}}
			c.addEffects(ctx, merchantID, now, d.Settle.Events, d.Settle.Notify, d.Settle.Audit)
		default:
			return nil
		}
		return applyChanges(ctx, tx, c)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// The two lookups of the refund a report is about: by the gateway's id
// (its condition repeats refunds_gateway_refund_idx's), else by
// Refundry's id on the reported payment.
const (
	reportedByGatewayID = `SELECT ` + refundColumns + ` FROM refunds WHERE gateway = $1 AND gateway_refund_id = $2 AND gateway_refund_id <> ''
		AND merchant_id = $3 AND sale_id = $4 ORDER BY id LIMIT 1`
	reportedByID = `SELECT ` + refundColumns + ` FROM refunds WHERE id = $1 AND merchant_id = $2 AND transaction_id = $3`
)

func firstOf[T any](xs []*T) *T {
	if len(xs) == 0 {
		return nil
	}
	return xs[0]
}

// findReportedTransaction finds the transaction of gateway that one of
// chargeIDs names (its gateway charge id or its reference), of any
// merchant; "" ids when there is none. The conditions repeat the partial
// indexes' so that a generic plan uses them.
func findReportedTransaction(ctx context.Context, tx pgx.Tx, gateway string, chargeIDs []string) (merchantID, id, saleID string, err error) {
	var ids []string
	for _, c := range chargeIDs {
		if c != "" {
			ids = append(ids, c)
		}
	}
	if gateway == "" || len(ids) == 0 {
		return "", "", "", nil
	}
	err = tx.QueryRow(ctx, `SELECT merchant_id, id, sale_id FROM (
			SELECT merchant_id, id, sale_id, number FROM transactions WHERE gateway = $1 AND gateway_charge_id = ANY($2) AND gateway_charge_id <> ''
			UNION SELECT merchant_id, id, sale_id, number FROM transactions WHERE gateway = $1 AND reference = ANY($2) AND reference <> ''
		) t ORDER BY number LIMIT 1`, gateway, ids).Scan(&merchantID, &id, &saleID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", "", nil
	}
	return merchantID, id, saleID, err
}

// ApplyDisputeReport records or updates a dispute as DecideDisputeReport
// decides, under the sale's lock like a refund.
func (s *Store) ApplyDisputeReport(ctx context.Context, rep refundry.DisputeReport) (*refundry.ReportResult, error) {
	// The dispute, or else its payment, names the sale; neither moves to
	// another sale, so it is found before the transaction.
	var merchantID, saleID, txnID string
	var existing *refundry.Dispute
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		merchantID, saleID, txnID = "", "", ""
		if existing, err = findReportedDispute(ctx, tx, rep); err != nil {
			return err
		}
		switch {
		case existing != nil:
			merchantID, saleID, txnID = existing.MerchantID, existing.SaleID, existing.TransactionID
		case rep.DisputeID != "":
			return refundry.Errorf(refundry.ENOTFOUND, "No such dispute: %s", rep.DisputeID)
		case rep.TransactionID != "":
			merchantID, txnID = rep.MerchantID, rep.TransactionID
			err := tx.QueryRow(ctx, `SELECT sale_id FROM transactions WHERE id = $1 AND merchant_id = $2`, rep.TransactionID, merchantID).Scan(&saleID)
			if err != nil {
				return notFound(err, "No such transaction: %s", rep.TransactionID)
			}
		default:
			merchantID, txnID, saleID, err = findReportedTransaction(ctx, tx, rep.Gateway, rep.ChargeIDs)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if saleID == "" {
		return &refundry.ReportResult{Outcome: refundry.OutcomeUnknownCharge, Detail: "no transaction of gateway " + rep.Gateway + " is the payment"}, nil
	}
	if s.batch != nil {
		ctx = forSale(ctx, merchantID, saleID)
	}
	ctx = s.writeContext(ctx)
	var res *refundry.ReportResult
	err = s.grouped(ctx, func(tx pgx.Tx) error {
		now := s.now()
		b := &pgx.Batch{}
		found, err := queueFindSale(b, merchantID, refundry.SaleLookup{ID: saleID}, true)
		if err != nil {
			return err
		}
		// The dispute again, after the lock: another report may have
		// recorded or changed it meanwhile.
		var current []*refundry.Dispute
		if q, args := disputeIdentity(rep, existing); q != "" {
			b.Queue(`SELECT `+disputeColumns+` FROM disputes WHERE `+q, args...).Query(func(rows pgx.Rows) (err error) {
				current, err = collectDisputes(rows)
				return err
			})
		}
		// The payment's other disputes, which may keep it disputed.
		others := []*refundry.Dispute{}
		b.Queue(`SELECT `+disputeColumns+` FROM disputes WHERE transaction_id = $1`, txnID).Query(func(rows pgx.Rows) error {
			ds, err := collectDisputes(rows)
			others = append(others, ds...)
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		sale, err := found()
		if err != nil {
			return err
		}
		d, err := refundry.DecideDisputeReport(sale, firstOf(current), rep, now, others...)
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
		c := &changes{}
		c.addEffects(ctx, merchantID, now, d.Events, nil, d.Audit)
		return applyChanges(ctx, tx, c)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// disputeIdentity is the condition that finds the dispute rep is about:
// the one found before the transaction, by Refundry's id for one recorded
// by hand, else by the gateway's id; "" when it names none.
func disputeIdentity(rep refundry.DisputeReport, existing *refundry.Dispute) (string, []any) {
	switch {
	case existing != nil:
		return `id = $1`, []any{existing.ID}
	case rep.GatewayDisputeID != "" && rep.Gateway != "":
		return `gateway = $1 AND gateway_dispute_id = $2 AND gateway_dispute_id <> ''`, []any{rep.Gateway, rep.GatewayDisputeID}
	}
	return "", nil
}

// findReportedDispute finds the dispute a report is about: by Refundry's
// id for one recorded by hand, else by the gateway's id.
func findReportedDispute(ctx context.Context, tx pgx.Tx, rep refundry.DisputeReport) (*refundry.Dispute, error) {
	var text string
	var args []any
	switch {
	case rep.DisputeID != "":
		text, args = `merchant_id = $1 AND id = $2`, []any{rep.MerchantID, rep.DisputeID}
	case rep.GatewayDisputeID != "":
		gw := rep.Gateway
		if gw == "" && rep.TransactionID != "" {
			err := tx.QueryRow(ctx, `SELECT gateway FROM transactions WHERE id = $1 AND merchant_id = $2`, rep.TransactionID, rep.MerchantID).Scan(&gw)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
		}
		text, args = `gateway = $1 AND gateway_dispute_id = $2 AND gateway_dispute_id <> ''`, []any{gw, rep.GatewayDisputeID}
	default:
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE `+text, args...)
	if err != nil {
		return nil, err
	}
	ds, err := collectDisputes(rows)
	return firstOf(ds), err
}

// writeDispute writes the dispute and its payment's dispute state in one
// round trip. The amount's condition keeps what lost disputes returned
// from going below zero, whatever the decision says.
func writeDispute(ctx context.Context, tx pgx.Tx, d *refundry.DisputeDecision) error {
	x := d.Dispute
	b := &pgx.Batch{}
	one := func(fail error) func(pgconn.CommandTag) error {
		return func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				return fail
			}
			return nil
		}
	}
	if d.Insert {
		b.Queue(`INSERT INTO disputes (`+disputeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			x.ID, x.MerchantID, x.SaleID, x.TransactionID, x.Gateway, x.GatewayDisputeID, x.Amount, x.Currency, x.Status,
			x.Reason, x.FundsWithdrawn, normTime(x.Created), normTime(x.Updated)).Exec(one(errRetry))
	} else {
		b.Queue(`UPDATE disputes SET amount = $1, status = $2, reason = $3, funds_withdrawn = $4, updated = $5 WHERE id = $6`,
			x.Amount, x.Status, x.Reason, x.FundsWithdrawn, normTime(x.Updated), x.ID).Exec(one(errRetry))
	}
	b.Queue(`UPDATE transactions SET dispute_status = $1, disputed_amount = disputed_amount + $2
		WHERE id = $3 AND disputed_amount + $2 >= 0`, d.DisputeStatus, d.DisputedDelta, d.TransactionID).
		Exec(one(refundry.Errorf(refundry.EINTERNAL, "The disputed amount of transaction %s would go below zero.", d.TransactionID)))
	return tx.SendBatch(ctx, b).Close()
}

// FindDispute returns ENOTFOUND if the merchant has no such dispute.
func (s *Store) FindDispute(ctx context.Context, merchantID, id string) (*refundry.Dispute, error) {
	rows, err := s.reads().Query(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE id = $1 AND merchant_id = $2`, id, merchantID)
	if err != nil {
		return nil, translate(err)
	}
	ds, err := collectDisputes(rows)
	if err != nil {
		return nil, translate(err)
	}
	if len(ds) == 0 {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such dispute: %s", id)
	}
	return ds[0], nil
}

// ListDisputes returns one page, newest first, and whether more follow.
func (s *Store) ListDisputes(ctx context.Context, merchantID string, f refundry.DisputeFilter) ([]*refundry.Dispute, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	for _, c := range []struct{ col, v string }{
		{"sale_id", f.SaleID}, {"transaction_id", f.TransactionID}, {"status", f.Status},
	} {
		if c.v != "" {
			w.add(c.col+" = $%d", c.v)
		}
	}
	rows, err := s.reads().Query(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE `+w.page("id", f.Page), w.args...)
	if err != nil {
		return nil, false, translate(err)
	}
	out, err := collectDisputes(rows)
	if err != nil {
		return nil, false, translate(err)
	}
	out, more := trimPage(out, f.Page)
	return out, more, nil
}

// CountOverRefundedSales counts sales whose refunds exceed what was paid.
func (s *Store) CountOverRefundedSales(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reads().QueryRow(ctx, `SELECT COUNT(*) FROM sales WHERE over_refunded`).Scan(&n); err != nil {
		return 0, translate(err)
	}
	return n, nil
}

const disputeColumns = `id, merchant_id, sale_id, transaction_id, gateway, gateway_dispute_id, amount, currency, status,
	reason, funds_withdrawn, created, updated`

func collectDisputes(rows pgx.Rows) ([]*refundry.Dispute, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Dispute, error) {
		d := &refundry.Dispute{}
		if err := row.Scan(&d.ID, &d.MerchantID, &d.SaleID, &d.TransactionID, &d.Gateway, &d.GatewayDisputeID, &d.Amount,
			&d.Currency, &d.Status, &d.Reason, &d.FundsWithdrawn, &d.Created, &d.Updated); err != nil {
			return nil, err
		}
		d.Created, d.Updated = d.Created.UTC(), d.Updated.UTC()
		return d, nil
	})
}
