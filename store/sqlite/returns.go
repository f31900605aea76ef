package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/refundry/refundry"
)

const resourceReturn = "return"

// CreateReturn decides and stores a return request: under the write lock,
// so the sale's lines and its open returns read here are what the insert
// is checked against, and two returns can never claim the same unit.
func (s *Store) CreateReturn(ctx context.Context, r *refundry.Return, idem *refundry.Idempotency) (replayed bool, err error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	out := cloneReturn(r)
	err = s.update(ctx, func(tx *tx) error {
		ids, err := seenKey(ctx, tx, r.MerchantID, idem, resourceReturn)
		if err != nil {
			return err
		}
		if ids != nil {
			stored, err := findReturn(ctx, tx, r.MerchantID, ids[0])
			if err != nil {
				return err
			}
			out, replayed = stored, true
			return nil
		}
		sale, err := findSale(ctx, tx, r.MerchantID, refundry.SaleLookup{ID: r.SaleID})
		if refundry.ErrorCode(err) == refundry.ENOTFOUND {
			return refundry.ParamErrorf(refundry.ENOTFOUND, "sale", "No such sale: %s", r.SaleID)
		}
		if err != nil {
			return err
		}
		open, err := queryReturns(ctx, tx, returnColumns+` WHERE merchant_id = ? AND sale_id = ? AND status IN (?, ?)`,
			r.MerchantID, r.SaleID, refundry.ReturnRequested, refundry.ReturnReceived)
		if err != nil {
			return err
		}
		ev, err := refundry.DecideReturn(sale, open, out, tx.now)
		if err != nil {
			return err
		}
		if err := insertReturn(ctx, tx, out); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		if err := audit(ctx, tx, r.MerchantID, refundry.AuditReturnCreate, out.ID); err != nil {
			return err
		}
		return recordKey(ctx, tx, r.MerchantID, idem, resourceReturn, []string{out.ID}, nil)
	})
	if err != nil {
		return false, err
	}
	*r = *out
	return replayed, nil
}

func insertReturn(ctx context.Context, tx *tx, r *refundry.Return) error {
	lines, refunds, err := returnJSON(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO returns (id, merchant_id, sale_id, status, reason, description, lines, restocking_fee,
		refund_ids, created, updated, received_at, refunded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.MerchantID, r.SaleID, r.Status, r.Reason, r.Description, lines, r.RestockingFee,
		refunds, micros(r.Created), micros(r.Updated), optMicros(r.ReceivedAt), optMicros(r.RefundedAt))
	return err
}

// FindReturn returns ENOTFOUND if the merchant has no such return.
func (s *Store) FindReturn(ctx context.Context, merchantID, id string) (r *refundry.Return, err error) {
	err = s.view(ctx, func(tx *tx) error {
		r, err = findReturn(ctx, tx, merchantID, id)
		return err
	})
	return r, err
}

func findReturn(ctx context.Context, tx *tx, merchantID, id string) (*refundry.Return, error) {
	rs, err := queryReturns(ctx, tx, returnColumns+` WHERE merchant_id = ? AND id = ?`, merchantID, id)
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
	var q query
	q.add("merchant_id = ?", merchantID)
	if f.SaleID != "" {
		q.add("sale_id = ?", f.SaleID)
	}
	if f.Status != "" {
		q.add("status = ?", f.Status)
	}
	tail := q.page("id", f.Page)
	var out []*refundry.Return
	err := s.view(ctx, func(tx *tx) (err error) {
		out, err = queryReturns(ctx, tx, returnColumns+q.sql()+tail, q.args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	out, more := trim(out, f.Page)
	if out == nil {
		out = []*refundry.Return{}
	}
	return out, more, nil
}

// UpdateReturn writes r's status and what came with it, if the stored
// return is still in status from, and appends the step's event.
func (s *Store) UpdateReturn(ctx context.Context, r *refundry.Return, from string) error {
	t, err := refundry.LookupReturnTransition(from, r.Status)
	if err != nil {
		return err
	}
	r.Updated, r.ReceivedAt, r.RefundedAt = utcOpt(r.Updated), utcOpt(r.ReceivedAt), utcOpt(r.RefundedAt)
	return s.update(ctx, func(tx *tx) error {
		lines, refunds, err := returnJSON(r)
		if err != nil {
			return err
		}
		if r.Status == refundry.ReturnCanceled {
			// Once the return's refund is recorded (its key is kept in
			// the refund's own transaction) the goods are paid for: the
			// return can only become refunded.
			if paid, err := exists(ctx, tx, `SELECT 1 FROM idempotency_keys WHERE merchant_id = ? AND key = ?`,
				r.MerchantID, refundry.ReturnRefundKey(r.ID)); err != nil {
				return err
			} else if paid {
				return refundry.Errorf(refundry.ECONFLICT, "Return %s is being refunded; it can no longer be canceled.", r.ID)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE returns SET status = ?, lines = ?, restocking_fee = ?, refund_ids = ?, updated = ?,
			received_at = ?, refunded_at = ? WHERE merchant_id = ? AND id = ? AND status = ?`,
			r.Status, lines, r.RestockingFee, refunds, micros(r.Updated), optMicros(r.ReceivedAt), optMicros(r.RefundedAt),
			r.MerchantID, r.ID, from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			if _, err := findReturn(ctx, tx, r.MerchantID, r.ID); err != nil {
				return err
			}
			return refundry.Errorf(refundry.ECONFLICT, "Return %s is no longer %s.", r.ID, from)
		}
		if err := appendEvent(ctx, tx, r.MerchantID, t.Event, "return", r.ID, r); err != nil {
			return err
		}
		return audit(ctx, tx, r.MerchantID, refundry.ReturnAction(r.Status), r.ID)
	})
}

const returnColumns = `SELECT id, merchant_id, sale_id, status, reason, description, lines, restocking_fee, refund_ids,
	created, updated, received_at, refunded_at FROM returns`

func queryReturns(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.Return, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.Return
	for rows.Next() {
		var r refundry.Return
		var lines, refunds string
		var created, updated, received, refunded int64
		if err := rows.Scan(&r.ID, &r.MerchantID, &r.SaleID, &r.Status, &r.Reason, &r.Description, &lines, &r.RestockingFee,
			&refunds, &created, &updated, &received, &refunded); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lines), &r.Lines); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(refunds), &r.RefundIDs); err != nil {
			return nil, err
		}
		r.Created, r.Updated = fromMicros(created), fromMicros(updated)
		r.ReceivedAt, r.RefundedAt = optTime(received), optTime(refunded)
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

func utcOpt(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return utc(t)
}

// checkReturn refuses, in the refund's own transaction, a refund of a
// return that is no longer received (canceled since the engine read it).
func checkReturn(ctx context.Context, tx *tx, req refundry.RefundRequest) error {
	if req.ReturnID == "" {
		return nil
	}
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM returns WHERE merchant_id = ? AND id = ? AND sale_id = ?`,
		req.MerchantID, req.ReturnID, req.Target.SaleID).Scan(&status)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return refundry.CheckReturnRefundable(req.ReturnID, status)
}
