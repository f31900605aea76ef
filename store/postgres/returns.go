package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
)

const resourceReturn = "return"

// CreateReturn decides and stores a return request. The sale's row is
// locked first, as every refund of it locks it, so the lines and open
// returns read here are what the insert is checked against: two returns
// can never claim the same unit, nor a return a unit refunded meanwhile.
func (s *Store) CreateReturn(ctx context.Context, r *refundry.Return, idem *refundry.Idempotency) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	var out *refundry.Return
	var replayed bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		// Each attempt starts again from the caller's return.
		out, replayed = cloneReturn(r), false
		now := s.now()
		if usesKey(idem) {
			rec, err := claimKey(ctx, tx, r.MerchantID, idem, resourceReturn, nil, now)
			if err != nil {
				return err
			}
			if rec != nil {
				if len(rec.resourceIDs) != 1 {
					return fmt.Errorf("postgres: idempotency key names %d returns", len(rec.resourceIDs))
				}
				out, err = findReturn(ctx, tx, r.MerchantID, rec.resourceIDs[0])
				replayed = true
				return err
			}
		}
		sale, err := findSale(ctx, tx, r.MerchantID, refundry.SaleLookup{ID: r.SaleID}, true)
		if refundry.ErrorCode(err) == refundry.ENOTFOUND {
			return refundry.ParamErrorf(refundry.ENOTFOUND, "sale", "No such sale: %s", r.SaleID)
		}
		if err != nil {
			return err
		}
		open, err := queryReturns(ctx, tx, returnColumns+` WHERE merchant_id = $1 AND sale_id = $2 AND status IN ($3, $4)`,
			r.MerchantID, r.SaleID, refundry.ReturnRequested, refundry.ReturnReceived)
		if err != nil {
			return err
		}
		ev, err := refundry.DecideReturn(sale, open, out, now)
		if err != nil {
			return err
		}
		lines, refunds, err := returnJSON(out)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO returns (id, merchant_id, sale_id, status, reason, description, lines, restocking_fee,
			refund_ids, created, updated, received_at, refunded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			out.ID, out.MerchantID, out.SaleID, out.Status, out.Reason, out.Description, lines, out.RestockingFee,
			refunds, out.Created, out.Updated, optTime(out.ReceivedAt), optTime(out.RefundedAt)); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, ev); err != nil {
			return err
		}
		if err := audit(ctx, tx, r.MerchantID, refundry.AuditReturnCreate, now, out.ID); err != nil {
			return err
		}
		if usesKey(idem) {
			return finishKey(ctx, tx, r.MerchantID, idem, []string{out.ID}, nil)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	*r = *out
	return replayed, nil
}

// FindReturn returns ENOTFOUND if the merchant has no such return.
func (s *Store) FindReturn(ctx context.Context, merchantID, id string) (*refundry.Return, error) {
	var out *refundry.Return
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		out, err = findReturn(ctx, tx, merchantID, id)
		return err
	})
	return out, err
}

func findReturn(ctx context.Context, tx pgx.Tx, merchantID, id string) (*refundry.Return, error) {
	rs, err := queryReturns(ctx, tx, returnColumns+` WHERE merchant_id = $1 AND id = $2`, merchantID, id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such return: %s", id)
	}
	return rs[0], nil
}

// ListReturns returns one page, newest first, and whether more follow.
func (s *Store) ListReturns(ctx context.Context, merchantID string, f refundry.ReturnFilter) ([]*refundry.Return, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	if f.SaleID != "" {
		w.add("sale_id = $%d", f.SaleID)
	}
	if f.Status != "" {
		w.add("status = $%d", f.Status)
	}
	q := returnColumns + ` WHERE ` + w.page("id", f.Page)
	var out []*refundry.Return
	err := s.read(ctx, func(tx pgx.Tx) (err error) {
		out, err = queryReturns(ctx, tx, q, w.args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	out, more := trimPage(out, f.Page)
	return out, more, nil
}

// UpdateReturn writes r's status and what came with it, if the stored
// return is still in status from, and appends the step's event.
func (s *Store) UpdateReturn(ctx context.Context, r *refundry.Return, from string) error {
	t, err := refundry.LookupReturnTransition(from, r.Status)
	if err != nil {
		return err
	}
	r.Updated, r.ReceivedAt, r.RefundedAt = normOpt(r.Updated), normOpt(r.ReceivedAt), normOpt(r.RefundedAt)
	lines, refunds, err := returnJSON(r)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		now := s.now()
		// The sale's row is locked first, as a refund of it locks it, so
		// that a refund of the return committed before is seen by the
		// check below and none can commit between the check and the
		// update; then the return's row, against another update of it.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM sales WHERE id = (SELECT sale_id FROM returns WHERE merchant_id = $1 AND id = $2) FOR UPDATE`,
			r.MerchantID, r.ID); err != nil {
			return err
		}
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM returns WHERE merchant_id = $1 AND id = $2 FOR UPDATE`, r.MerchantID, r.ID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return refundry.Errorf(refundry.ENOTFOUND, "No such return: %s", r.ID)
		}
		if err != nil {
			return err
		}
		if status != from {
			return refundry.Errorf(refundry.ECONFLICT, "Return %s is no longer %s.", r.ID, from)
		}
		if r.Status == refundry.ReturnCanceled {
			// Once the return's refund is recorded (its key is claimed
			// first in the refund's own transaction) the goods are being
			// paid for: the return can only become refunded.
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM idempotency_keys WHERE merchant_id = $1 AND idem_key = $2`,
				r.MerchantID, refundry.ReturnRefundKey(r.ID)).Scan(&one)
			if err == nil {
				return refundry.Errorf(refundry.ECONFLICT, "Return %s is being refunded; it can no longer be canceled.", r.ID)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE returns SET status = $3, lines = $4, restocking_fee = $5, refund_ids = $6, updated = $7,
			received_at = $8, refunded_at = $9 WHERE merchant_id = $1 AND id = $2`,
			r.MerchantID, r.ID, r.Status, lines, r.RestockingFee, refunds, r.Updated, optTime(r.ReceivedAt), optTime(r.RefundedAt)); err != nil {
			return err
		}
		ev, err := refundry.NewEvent(r.MerchantID, t.Event, "return", r.ID, r, now)
		if err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, ev); err != nil {
			return err
		}
		return audit(ctx, tx, r.MerchantID, refundry.ReturnAction(r.Status), now, r.ID)
	})
}

const returnColumns = `SELECT id, merchant_id, sale_id, status, reason, description, lines, restocking_fee, refund_ids,
	created, updated, received_at, refunded_at FROM returns`

func queryReturns(ctx context.Context, tx pgx.Tx, text string, args ...any) ([]*refundry.Return, error) {
	rows, err := tx.Query(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.Return
	for rows.Next() {
		var r refundry.Return
		var lines, refunds string
		var received, refunded *time.Time
		if err := rows.Scan(&r.ID, &r.MerchantID, &r.SaleID, &r.Status, &r.Reason, &r.Description, &lines, &r.RestockingFee,
			&refunds, &r.Created, &r.Updated, &received, &refunded); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lines), &r.Lines); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(refunds), &r.RefundIDs); err != nil {
			return nil, err
		}
		r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
		if received != nil {
			r.ReceivedAt = received.UTC()
		}
		if refunded != nil {
			r.RefundedAt = refunded.UTC()
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

func returnJSON(r *refundry.Return) (lines, refunds string, err error) {
	l, err := json.Marshal(r.Lines)
	if err != nil {
		return "", "", err
	}
	ids := r.RefundIDs
	if ids == nil {
		ids = []string{}
	}
	f, err := json.Marshal(ids)
	return string(l), string(f), err
}

func cloneReturn(r *refundry.Return) *refundry.Return {
	c := *r
	c.Lines = append([]refundry.ReturnLine(nil), r.Lines...)
	c.RefundIDs = append([]string(nil), r.RefundIDs...)
	return &c
}

func normOpt(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return normTime(t)
}

// queueLinkReturns records on the refunds just inserted the returns they
// pay for, in the batch that inserts them.
func queueLinkReturns(b *pgx.Batch, refunds []*refundry.Refund, check func(int, error) func(pgconn.CommandTag) error) {
	var ids, returns []string
	for _, r := range refunds {
		if r.ReturnID != "" {
			ids, returns = append(ids, r.ID), append(returns, r.ReturnID)
		}
	}
	if len(ids) == 0 {
		return
	}
	b.Queue(`UPDATE refunds f SET return_id = u.return_id FROM unnest($1::text[], $2::text[]) AS u(id, return_id) WHERE f.id = u.id`,
		ids, returns).Exec(check(len(ids), errRetry))
}

// queueRefundReturns queues the read of the return each of the refunds
// pays for.
func queueRefundReturns(b *pgx.Batch, refunds []*refundry.Refund) {
	byID := make(map[string]*refundry.Refund, len(refunds))
	ids := make([]string, len(refunds))
	for i, r := range refunds {
		byID[r.ID], ids[i] = r, r.ID
	}
	b.Queue(`SELECT id, return_id FROM refunds WHERE id = ANY($1) AND return_id IS NOT NULL`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, ret string
			if err := rows.Scan(&id, &ret); err != nil {
				return err
			}
			byID[id].ReturnID = ret
		}
		return rows.Err()
	})
}

// queueRefundReturn queues the read of the return one refund pays for
// into out ("" for none).
func queueRefundReturn(b *pgx.Batch, id string, out *string) {
	b.Queue(`SELECT return_id FROM refunds WHERE id = $1 AND return_id IS NOT NULL`, id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(out); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// queueCheckReturn queues, in the refund's own transaction and after the
// sale's lock, the read of the return the refund pays for, and returns
// the check to make once the batch has run: a return canceled since the
// engine read it is not paid for. The cancel locks the sale too, so the
// two cannot both pass.
func queueCheckReturn(b *pgx.Batch, req refundry.RefundRequest) func() error {
	if req.ReturnID == "" {
		return func() error { return nil }
	}
	var status string
	b.Queue(`SELECT status FROM returns WHERE merchant_id = $1 AND id = $2 AND sale_id = $3`,
		req.MerchantID, req.ReturnID, req.Target.SaleID).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&status); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return func() error { return refundry.CheckReturnRefundable(req.ReturnID, status) }
}
