package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// CreateRefunds reserves and records the refunds refundry.DecideRefund
// decides for req, with their events, in one transaction.
//
// Invariant 2 (no over-refund) is kept here, in three layers:
//  1. The sale's row is locked (SELECT ... FOR UPDATE) before anything of
//     the sale is read, so refunds and settlements of one sale run one
//     after another, each seeing what the previous one committed. With
//     group commit a batch locks all its sales first, in the order of
//     their ids, so batches of several processes cannot deadlock. At
//     READ COMMITTED the lock wait ends with the newest row; at
//     REPEATABLE READ or SERIALIZABLE it ends in a serialization failure
//     and the whole transaction is retried on a fresh snapshot.
//  2. refundry.DecideRefund decides on the rows read under that lock,
//     and every amount is then added by a conditional UPDATE (... WHERE
//     refunded_amount + delta BETWEEN 0 AND amount, see changes.go) whose
//     row count is checked: if the database disagrees with the decision,
//     the transaction is retried rather than trusted.
//  3. CHECK constraints on refunded_amount reject what slips past both.
func (s *Store) CreateRefunds(ctx context.Context, req refundry.RefundRequest) (*refundry.RefundResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ctx, err := s.refundLane(ctx, req)
	if err != nil {
		return nil, err
	}
	w := &write{refund: &req}
	if err := s.groupedWrite(s.writeContext(ctx), w); err != nil {
		return nil, err
	}
	if s.batch != nil {
		s.refundSales.put(req.MerchantID, w.result.Refunds)
	}
	return w.result, nil
}

// refundSales remembers the sales of the refunds this store made, so that
// the settlement the engine makes right after a refund finds its lane
// without a query (settleLane): a refund never changes sale, so what is
// remembered is never stale. Two generations of at most refundSalesGen
// refunds each bound it; a refund forgotten, or made by another process,
// is looked up.
type refundSales struct {
	mu       sync.Mutex
	cur, old map[refundRef]string
}

// refundRef names a refund of a merchant.
type refundRef struct{ merchantID, id string }

const refundSalesGen = 4096

func (c *refundSales) put(merchantID string, refunds []*refundry.Refund) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || len(c.cur) >= refundSalesGen {
		c.old, c.cur = c.cur, make(map[refundRef]string, refundSalesGen)
	}
	for _, r := range refunds {
		c.cur[refundRef{merchantID, r.ID}] = r.SaleID
	}
}

func (c *refundSales) get(merchantID, id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := refundRef{merchantID, id}
	if sale, ok := c.cur[k]; ok {
		return sale, true
	}
	sale, ok := c.old[k]
	return sale, ok
}

// refundLane names in ctx the sale req refunds, for the choice of a
// group-commit lane and the lock its batch takes first (runBatch). A line
// item or transaction never moves to another sale, so its sale can be read
// before the transaction; one that does not exist goes to the first lane,
// where the refund finds it missing.
func (s *Store) refundLane(ctx context.Context, req refundry.RefundRequest) (context.Context, error) {
	if s.batch == nil {
		return ctx, nil
	}
	var q, arg string
	switch {
	case req.Target.SaleID != "":
		return forSale(ctx, req.MerchantID, req.Target.SaleID), nil
	case req.Target.LineItemID != "":
		q, arg = `SELECT sale_id FROM line_items WHERE id = $1 AND merchant_id = $2`, req.Target.LineItemID
	case req.Target.TransactionID != "":
		q, arg = `SELECT sale_id FROM transactions WHERE id = $1 AND merchant_id = $2`, req.Target.TransactionID
	default:
		return ctx, nil
	}
	var saleID string
	// A read alone is a transaction too: at SERIALIZABLE it may be
	// refused like any other, and is then run again.
	err := s.loop(ctx, func() error {
		err := s.pool.QueryRow(ctx, q, arg, req.MerchantID).Scan(&saleID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return forSale(ctx, req.MerchantID, saleID), nil
}

// createRefunds makes two round trips where nothing goes wrong: one reads
// (claiming the key, locking and reading the sale), one writes. Under group
// commit the writes of a batch run one after another on one connection,
// so each round trip saved here is saved for every refund in the batch.
func createRefunds(ctx context.Context, tx pgx.Tx, req refundry.RefundRequest, now time.Time) (*refundry.RefundResult, error) {
	b := &pgx.Batch{}
	var claimed func(context.Context, pgx.Tx) (*idemRecord, error)
	if usesKey(req.Idempotency) {
		// Invariant 4: the claim is queued first, so it runs (and waits
		// for a concurrent holder of the key) before the sale is locked
		// here. With group commit the batch has locked the sale already
		// (runBatch); a concurrent holder of the key on the same sale
		// then holds the sale too, and this write waits for it there.
		claimed = queueClaimKey(b, req.MerchantID, req.Idempotency, "refund", nil, now)
	}
	by := refundry.SaleLookup{ID: req.Target.SaleID, LineItemID: req.Target.LineItemID, TransactionID: req.Target.TransactionID}
	found, err := queueFindSale(b, req.MerchantID, by, true)
	if err != nil {
		return nil, err
	}
	returned := queueCheckReturn(b, req)
	held := -1
	if req.Policy != nil && req.Policy.MaxRefundsPerSale != nil {
		// Queued after the sale's lock, so it counts what the lock's
		// previous holder committed: two requests cannot both see room
		// for one more. Without the rule, no query.
		queueHeldRefunds(b, req.MerchantID, req.Target, &held)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if claimed != nil {
		rec, err := claimed(ctx, tx)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			// The sale was locked for nothing; the lock is harmless and
			// goes with the transaction.
			return replayRefunds(ctx, tx, req.MerchantID, rec)
		}
	}
	sale, err := found()
	if err != nil {
		return nil, err
	}
	if err := returned(); err != nil {
		return nil, err
	}
	if held >= 0 {
		sale.HeldRefunds = held
	}
	d, err := refundry.DecideRefund(sale, req, now)
	if err != nil {
		return nil, err
	}
	c := &changes{moves: d.Moves, inserts: d.Refunds}
	res := &refundry.RefundResult{Refunds: d.Refunds, Sale: d.Sale, Voided: []*refundry.Referral{}}
	evs := d.Events
	if req.VoidReferrals {
		// Voiding reads what it voids, so the refund's rows go first.
		if err := applyChanges(ctx, tx, c); err != nil {
			return nil, err
		}
		c = &changes{}
		voided, vevs, err := voidReferrals(ctx, tx, req.MerchantID,
			`origin_id IN (SELECT id FROM origins WHERE merchant_id = $1 AND kind = 'purchase' AND sale_id = $2)`, sale.ID, now)
		if err != nil {
			return nil, err
		}
		res.Voided = voided
		evs = append(evs, vevs...)
	}
	c.addEffects(ctx, req.MerchantID, now, evs, d.Notify, d.Audit)
	if usesKey(req.Idempotency) {
		ids := make([]string, len(d.Refunds))
		for i, r := range d.Refunds {
			ids[i] = r.ID
		}
		voided := make([]string, len(res.Voided))
		for i, v := range res.Voided {
			voided[i] = fmt.Sprint(v.ID)
		}
		c.keys = append(c.keys, finishedKey{req.MerchantID, req.Idempotency.Key, encodeIDs(ids), encodeIDs(voided)})
	}
	if err := applyChanges(ctx, tx, c); err != nil {
		return nil, err
	}
	return res, nil
}

// heldStatuses are refundry.HoldingStatuses(), the one list of the
// statuses that hold money.
var heldStatuses = refundry.HoldingStatuses()

// queueHeldRefunds queues the count of the refund requests (groups) of
// the sale t names whose refunds hold money, into n.
func queueHeldRefunds(b *pgx.Batch, merchantID string, t refundry.RefundTarget, n *int) {
	q, arg := heldRefundsQuery(t)
	b.Queue(q, merchantID, arg, heldStatuses).QueryRow(func(row pgx.Row) error { return row.Scan(n) })
}

// heldRefundsQuery is the count queueHeldRefunds runs, and the id its $2
// names. It must find the sale's few refunds through refunds_sale_idx
// alone: a plan that also read refunds_merchant_idx (a bitmap AND) would
// read every refund of the merchant on each refund a policy counts for.
// TestRefundQueryPlans holds both of its plans to that.
func heldRefundsQuery(t refundry.RefundTarget) (string, string) {
	sale, arg := `$2`, t.SaleID
	switch {
	case t.LineItemID != "":
		sale, arg = `(SELECT sale_id FROM line_items WHERE id = $2)`, t.LineItemID
	case t.TransactionID != "":
		sale, arg = `(SELECT sale_id FROM transactions WHERE id = $2)`, t.TransactionID
	}
	return `SELECT COUNT(DISTINCT group_id) FROM refunds WHERE merchant_id = $1 AND sale_id = ` + sale + ` AND status = ANY($3)`, arg
}

const refundColumns = `id, merchant_id, group_id, sale_id, transaction_id, line_item_id, amount, fee, currency, status,
	reason, metadata, offsite, notify_customer, gateway, gateway_refund_id, failure_reason,
	source, name, external_id, created_source, refunded_at, created, updated, description, gateway_reason,
	requested_by, decided_by, decision_note, review_reason, approval_expires_at`

func scanRefund(row pgx.Row) (*refundry.Refund, error) {
	r := &refundry.Refund{}
	var lineItem, meta *string
	var expires *time.Time
	err := row.Scan(&r.ID, &r.MerchantID, &r.Group, &r.SaleID, &r.TransactionID, &lineItem, &r.Amount, &r.Fee, &r.Currency, &r.Status,
		&r.Reason, &meta, &r.Offsite, &r.NotifyCustomer, &r.Gateway, &r.GatewayRefundID, &r.FailureReason,
		&r.Source, &r.Name, &r.ExternalID, &r.CreatedSource, &r.RefundedAt, &r.Created, &r.Updated,
		&r.Description, &r.GatewayReason, &r.RequestedBy, &r.DecidedBy, &r.DecisionNote, &r.ReviewReason, &expires)
	if err != nil {
		return nil, err
	}
	if expires != nil {
		r.ApprovalExpires = expires.UTC()
	}
	if lineItem != nil {
		r.LineItemID = *lineItem
	}
	if meta != nil {
		r.Metadata = json.RawMessage(*meta)
	}
	r.RefundedAt, r.Created, r.Updated = r.RefundedAt.UTC(), r.Created.UTC(), r.Updated.UTC()
	r.Lines = []refundry.RefundLine{}
	return r, nil
}

// refundLinesQuery reads the lines of the refunds $1 names, each refund's
// in its sale's line order: a sale's line ids are made in that order and
// sort by creation. Reading refund_lines alone, by its primary key, keeps
// a SERIALIZABLE reader's predicate locks off line_items, which every
// refund writes.
const refundLinesQuery = `SELECT refund_id, line_item_id, quantity, amount FROM refund_lines
	WHERE refund_id = ANY($1) ORDER BY refund_id, line_item_id`

// queueRefundLines queues the read of the lines of the refunds ids names,
// into lines by refund id: a write reads them in the round trip that
// reads the refund.
func queueRefundLines(b *pgx.Batch, ids []string, lines map[string][]refundry.RefundLine) {
	b.Queue(refundLinesQuery, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var l refundry.RefundLine
			if err := rows.Scan(&id, &l.LineItemID, &l.Quantity, &l.Amount); err != nil {
				return err
			}
			lines[id] = append(lines[id], l)
		}
		return rows.Err()
	})
}

func attachLines(refunds []*refundry.Refund, lines map[string][]refundry.RefundLine) {
	for _, r := range refunds {
		if ls := lines[r.ID]; len(ls) > 0 {
			r.Lines = ls
		}
	}
}

type querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// loadRefundLines fills in the lines of refunds with one query, however
// many refunds a page holds.
func loadRefundLines(ctx context.Context, q querier, refunds []*refundry.Refund) error {
	if len(refunds) == 0 {
		return nil
	}
	ids := make([]string, len(refunds))
	for i, r := range refunds {
		ids[i] = r.ID
	}
	lines := map[string][]refundry.RefundLine{}
	b := &pgx.Batch{}
	queueRefundLines(b, ids, lines)
	queueRefundReturns(b, refunds)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	attachLines(refunds, lines)
	return nil
}

func collectRefunds(rows pgx.Rows) ([]*refundry.Refund, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Refund, error) { return scanRefund(row) })
}

// replayRefunds answers a request whose Idempotency-Key was seen with what
// the first request made, as the objects are now.
func replayRefunds(ctx context.Context, tx pgx.Tx, merchantID string, rec *idemRecord) (*refundry.RefundResult, error) {
	rows, err := tx.Query(ctx, `SELECT `+refundColumns+` FROM refunds WHERE merchant_id = $1 AND id = ANY($2)`, merchantID, rec.resourceIDs)
	if err != nil {
		return nil, err
	}
	found, err := collectRefunds(rows)
	if err != nil {
		return nil, err
	}
	if len(found) != len(rec.resourceIDs) || len(found) == 0 {
		return nil, fmt.Errorf("postgres: idempotency key names %d refunds, %d exist", len(rec.resourceIDs), len(found))
	}
	if err := loadRefundLines(ctx, tx, found); err != nil {
		return nil, err
	}
	byID := map[string]*refundry.Refund{}
	for _, r := range found {
		byID[r.ID] = r
	}
	res := &refundry.RefundResult{Replayed: true, Voided: []*refundry.Referral{}}
	for _, id := range rec.resourceIDs {
		res.Refunds = append(res.Refunds, byID[id])
	}
	res.Sale, err = findSale(ctx, tx, merchantID, refundry.SaleLookup{ID: res.Refunds[0].SaleID}, false)
	if err != nil {
		return nil, err
	}
	if len(rec.relatedIDs) > 0 {
		ids := make([]int64, 0, len(rec.relatedIDs))
		for _, s := range rec.relatedIDs {
			var id int64
			if _, err := fmt.Sscan(s, &id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		res.Voided, err = queryReferrals(ctx, tx, `r.merchant_id = $1 AND r.id = ANY($2) ORDER BY r.id`, merchantID, ids)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// SettleRefund records a final word on a refund, as DecideSettlement
// decides it.
func (s *Store) SettleRefund(ctx context.Context, merchantID, id string, st refundry.Settlement) (*refundry.Refund, error) {
	ctx, err := s.settleLane(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	w := &write{settle: &settlement{merchantID, id, st}}
	if err := s.groupedWrite(s.writeContext(ctx), w); err != nil {
		return nil, err
	}
	return w.settled, nil
}

// settleRefund is SettleRefund alone in tx, statement after statement.
func settleRefund(ctx context.Context, tx pgx.Tx, merchantID, id string, st refundry.Settlement, now time.Time) (*refundry.Refund, error) {
	// Invariant 2: the sale's lock comes first here too, in the same
	// order as CreateRefunds takes it, so a release never interleaves
	// with a reservation and the two cannot deadlock. A refund never
	// changes sale, so its sale_id can be read in the statement that
	// takes the lock, and the refund in the same round trip.
	b := &pgx.Batch{}
	b.Queue(`SELECT id FROM sales WHERE id = (SELECT sale_id FROM refunds WHERE id = $1 AND merchant_id = $2) FOR UPDATE`, id, merchantID)
	var r *refundry.Refund
	var rerr error
	b.Queue(`SELECT `+refundColumns+` FROM refunds WHERE id = $1 AND merchant_id = $2 FOR UPDATE`, id, merchantID).QueryRow(func(row pgx.Row) error {
		r, rerr = scanRefund(row)
		return nil
	})
	// A release reverses the refund's lines exactly: they are read in
	// the same round trip.
	lines := map[string][]refundry.RefundLine{}
	queueRefundLines(b, []string{id}, lines)
	var returnID string
	queueRefundReturn(b, id, &returnID)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, notFound(rerr, "No such refund: %s", id)
	}
	attachLines([]*refundry.Refund{r}, lines)
	r.ReturnID = returnID
	d, err := refundry.DecideSettlement(r, st, now)
	if err != nil {
		return nil, err
	}
	if d.Unchanged {
		return d.Refund, nil
	}
	c := &changes{moves: d.Moves, settles: []settledRefund{{d.Refund, d.From}}}
	c.addEffects(ctx, merchantID, now, d.Events, d.Notify, d.Audit)
	if err := applyChanges(ctx, tx, c); err != nil {
		return nil, err
	}
	return d.Refund, nil
}

// settleLane names in ctx the sale of the refund to settle, for the choice
// of a group-commit lane and the lock its batch takes first; a refund
// never changes sale.
func (s *Store) settleLane(ctx context.Context, merchantID, id string) (context.Context, error) {
	if s.batch == nil {
		return ctx, nil
	}
	if saleID, ok := s.refundSales.get(merchantID, id); ok {
		return forSale(ctx, merchantID, saleID), nil
	}
	var saleID string
	var scanErr error
	err := s.loop(ctx, func() error {
		scanErr = s.pool.QueryRow(ctx, `SELECT sale_id FROM refunds WHERE id = $1 AND merchant_id = $2`, id, merchantID).Scan(&saleID)
		if errors.Is(scanErr, pgx.ErrNoRows) {
			return nil
		}
		return scanErr
	})
	if err != nil {
		return nil, err
	}
	if scanErr != nil {
		return nil, notFound(scanErr, "No such refund: %s", id)
	}
	return forSale(ctx, merchantID, saleID), nil
}

// FindRefund returns ENOTFOUND if there is no such refund.
func (s *Store) FindRefund(ctx context.Context, merchantID, id string) (*refundry.Refund, error) {
	rp := s.reads()
	r, err := scanRefund(rp.QueryRow(ctx, findRefundQuery, id, merchantID))
	if err != nil {
		return nil, notFound(err, "No such refund: %s", id)
	}
	if err := loadRefundLines(ctx, rp, []*refundry.Refund{r}); err != nil {
		return nil, translate(err)
	}
	return r, nil
}

// ListRefunds returns one page, newest first, and whether more follow.
func (s *Store) ListRefunds(ctx context.Context, merchantID string, f refundry.RefundFilter) ([]*refundry.Refund, bool, error) {
	if err := f.Page.Normalize(); err != nil {
		return nil, false, err
	}
	q, args := listRefundsQuery(merchantID, f)
	var out []*refundry.Refund
	var more bool
	// Reads alone are transactions too: at SERIALIZABLE one may be
	// refused, and is then run again.
	rp := s.reads()
	err := s.loop(ctx, func() error {
		rows, err := rp.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		if out, err = collectRefunds(rows); err != nil {
			return err
		}
		out, more = trimPage(out, f.Page)
		return loadRefundLines(ctx, rp, out)
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

const findRefundQuery = `SELECT ` + refundColumns + ` FROM refunds WHERE id = $1 AND merchant_id = $2`

// pendingRefundsQuery reads the pending refunds from refunds_due_idx,
// which holds them alone: what is in flight, never what was refunded.
// The pending refunds are gathered first (MATERIALIZED), then filtered
// and sorted: asked for the oldest in created order, or by a bound on
// created, the planner would rather read refunds_created_idx, from the
// oldest refund of all or over every refund before the bound, while
// pending refunds are few and the newest.
const pendingRefundsQuery = `WITH pending AS MATERIALIZED (
	SELECT id, created FROM refunds WHERE status = 'pending'
)
SELECT ` + refundColumns + ` FROM refunds
WHERE id IN (SELECT id FROM pending WHERE created < $1 ORDER BY created, id LIMIT $2)
ORDER BY created, id`

// listRefundsQuery is the query of a page of ListRefunds. A payment, a
// line and a group (named by its first refund) each belong to one sale,
// so a filter by one of them also names the sale, found by that key: the
// refunds are read through refunds_sale_idx, the few of one sale, instead
// of walking the merchant's in id order or keeping an index per column
// that every refund would write.
func listRefundsQuery(merchantID string, f refundry.RefundFilter) (string, []any) {
	w := newWhere("merchant_id", merchantID)
	if f.SaleID == "" {
		switch {
		case f.TransactionID != "":
			w.add("sale_id = (SELECT sale_id FROM transactions WHERE id = $%d)", f.TransactionID)
		case f.LineItemID != "":
			w.add("sale_id = (SELECT sale_id FROM line_items WHERE id = $%d)", f.LineItemID)
		case f.Group != "":
			w.add("sale_id = (SELECT sale_id FROM refunds WHERE id = $%d)", f.Group)
		}
	}
	for _, c := range []struct{ col, v string }{
		{"sale_id", f.SaleID}, {"transaction_id", f.TransactionID}, {"line_item_id", f.LineItemID},
		{"group_id", f.Group}, {"status", f.Status}, {"source", f.Source},
	} {
		if c.v != "" {
			w.add(c.col+" = $%d", c.v)
		}
	}
	if !f.CreatedFrom.IsZero() {
		w.add("created >= $%d", normTime(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		w.add("created < $%d", normTime(f.CreatedTo))
	}
	return `SELECT ` + refundColumns + ` FROM refunds WHERE ` + w.page("id", f.Page), w.args
}

// PendingRefunds lists pending refunds of every merchant created before
// the given time, oldest first: the age of the oldest pending refund.
func (s *Store) PendingRefunds(ctx context.Context, createdBefore time.Time, limit int) ([]*refundry.Refund, error) {
	if limit <= 0 {
		limit = refundry.MaxPageLimit
	}
	rows, err := s.pool.Query(ctx, pendingRefundsQuery, normTime(createdBefore), limit)
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
