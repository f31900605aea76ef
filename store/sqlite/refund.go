package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// CreateRefunds reserves and records what DecideRefund decides for req.
func (s *Store) CreateRefunds(ctx context.Context, req refundry.RefundRequest) (*refundry.RefundResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ctx = s.writeContext(ctx)
	var res *refundry.RefundResult
	err := s.groupedKeeping(ctx, func(tx *tx) error {
		ids, err := seenKey(ctx, tx, req.MerchantID, req.Idempotency, resourceRefunds)
		if err != nil {
			return err
		}
		if ids != nil {
			res, err = replayRefunds(ctx, tx, req.MerchantID, req.Idempotency, ids)
			return err
		}
		res, err = createRefunds(ctx, tx, req)
		if err != nil {
			return err
		}
		ids = make([]string, len(res.Refunds))
		for i, r := range res.Refunds {
			ids[i] = r.ID
		}
		voided := make([]string, len(res.Voided))
		for i, v := range res.Voided {
			voided[i] = strconv.FormatInt(v.ID, 10)
		}
		return recordKey(ctx, tx, req.MerchantID, req.Idempotency, resourceRefunds, ids, voided)
	})
	if err != nil {
		return nil, err
	}
	if !res.Replayed {
		// Committed: their settlements may start from them (held).
		pending := make([]*refundry.Refund, 0, len(res.Refunds))
		for _, r := range res.Refunds {
			if !refundry.FinalStatus(r.Status) {
				pending = append(pending, r)
			}
		}
		s.held.put(pending)
	}
	return res, nil
}

func createRefunds(ctx context.Context, tx *tx, req refundry.RefundRequest) (*refundry.RefundResult, error) {
	var by refundry.SaleLookup
	switch {
	case req.Target.SaleID != "":
		by.ID = req.Target.SaleID
	case req.Target.LineItemID != "":
		by.LineItemID = req.Target.LineItemID
	default:
		by.TransactionID = req.Target.TransactionID
	}
	// The write lock is held from BEGIN IMMEDIATE, so the amounts read here
	// are the ones the updates below change: nothing can slip in between.
	// The sale comes from the writer's cache if it holds it, as exact as
	// a read (saleCache).
	sale, err := loadSale(ctx, tx, req.MerchantID, by)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		return nil, notFoundTarget(req.Target)
	}
	if err != nil {
		return nil, err
	}
	if err := checkReturn(ctx, tx, req); err != nil {
		return nil, err
	}
	if req.Policy != nil && req.Policy.MaxRefundsPerSale != nil {
		// Read under the write lock, as the amounts are: two requests
		// cannot both see room for one more.
		if sale.HeldRefunds, err = heldRefunds(ctx, tx, sale.ID); err != nil {
			return nil, err
		}
	}
	d, err := refundry.DecideRefund(sale, req, tx.now)
	if err != nil {
		return nil, err
	}
	if err := persistMoves(ctx, tx, d.Moves); err != nil {
		return nil, err
	}
	for _, r := range d.Refunds {
		if err := insertRefund(ctx, tx, r); err != nil {
			return nil, err
		}
	}
	if err := persistEffects(ctx, tx, req.MerchantID, d.Events, d.Notify, d.Audit); err != nil {
		return nil, err
	}
	res := &refundry.RefundResult{Refunds: d.Refunds, Sale: d.Sale}
	if req.VoidReferrals {
		var originID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM origins WHERE merchant_id = ? AND kind = ? AND sale_id = ?`,
			req.MerchantID, refundry.OriginPurchase, sale.ID).Scan(&originID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			if res.Voided, err = voidReferrals(ctx, tx, req.MerchantID, originID, tx.now); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// heldRefundsQuery counts the refund requests (groups) of a sale whose
// refunds hold money: the statuses are refundry.HoldingStatuses(), the one
// list, spelled out as literals when the package loads.
var heldRefundsQuery = `SELECT COUNT(DISTINCT grp) FROM refunds WHERE sale_id = ? AND status IN (` +
	quoteList(refundry.HoldingStatuses()) + `)`

func heldRefunds(ctx context.Context, tx *tx, saleID string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, heldRefundsQuery, saleID).Scan(&n)
	return n, err
}

// quoteList spells statuses out as SQL string literals. They are the
// package's own constants, never a client's text.
func quoteList(values []string) string {
	out := ""
	for i, v := range values {
		if i > 0 {
			out += ", "
		}
		out += "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return out
}

func notFoundTarget(t refundry.RefundTarget) error {
	switch {
	case t.SaleID != "":
		return refundry.ParamErrorf(refundry.ENOTFOUND, "sale", "No such sale: %s", t.SaleID)
	case t.LineItemID != "":
		return refundry.ParamErrorf(refundry.ENOTFOUND, "line_item", "No such line item: %s", t.LineItemID)
	default:
		return refundry.ParamErrorf(refundry.ENOTFOUND, "transaction", "No such transaction: %s", t.TransactionID)
	}
}

// moveTables are the tables a move's kind changes.
var moveTables = map[refundry.HoldKind]string{
	refundry.OnTransaction: "transactions", refundry.OnLineItem: "line_items", refundry.OnSale: "sales",
}

// moveText names one of moveTexts.
type moveText struct {
	kind      refundry.HoldKind
	unbounded bool
}

// moveTexts are persistMoves' UPDATEs of one row, by kind and bound. A
// batch's gathered moves are written before one of them, which checks
// its bound on the row as it is.
var moveTexts = func() map[moveText]string {
	m := map[moveText]string{}
	for kind, table := range moveTables {
		for _, unbounded := range []bool{false, true} {
			bound := ` BETWEEN 0 AND amount`
			if unbounded {
				// An adopted refund's money is gone already: the row shows it,
				// above what was paid if need be (sale.over_refunded).
				bound = ` >= 0`
			}
			text := `UPDATE ` + table + ` SET refunded_amount = refunded_amount + ?
			WHERE id = ? AND refunded_amount + ?` + bound
			if kind == refundry.OnLineItem {
				// A line's units move with its amount, kept within its count
				// the same way (invariant 2 extended to quantities).
				text = `UPDATE line_items SET refunded_amount = refunded_amount + ?, refunded_quantity = refunded_quantity + ?
				WHERE id = ? AND refunded_amount + ?` + bound + ` AND refunded_quantity + ? BETWEEN 0 AND quantity`
			}
			m[moveText{kind, unbounded}] = text
		}
	}
	return m
}()

// persistMoves writes the amounts a decision moves. This keeps invariant
// 2 twice over: the decision was made on rows read under the write lock,
// and each UPDATE re-checks the bound itself and must change exactly one
// row, so even a wrong decision cannot push a sum past what was paid, or
// below zero (and the schema's CHECKs would stop it a third time).
//
// In a group-commit batch, moves on a sale the writer's cache holds are
// gathered instead (gatherMoves) and written at the batch's end, one
// UPDATE per table (writeMoves), with the same bounds checked on the
// cache at once and on the rows then.
func persistMoves(ctx context.Context, tx *tx, ms []refundry.Move) error {
	if gathered, err := gatherMoves(ctx, tx, ms); gathered || err != nil {
		return err
	}
	for _, m := range ms {
		text, args := moveTexts[moveText{m.Kind, m.Unbounded}], []any{m.Delta, m.ID, m.Delta}
		if m.Kind == refundry.OnLineItem {
			args = []any{m.Delta, m.Quantity, m.ID, m.Delta, m.Quantity}
		}
		res, err := tx.ExecContext(ctx, text, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			// The rows are not what the decision saw: if it saw them in
			// the writer's cache, the cache is wrong.
			tx.forgetSales()
			return moveRefused(m)
		}
		if tx.sales != nil {
			// The row moved by exactly m: so does the sale held.
			tx.sales.apply(m)
			tx.salesChanged++
		}
	}
	return nil
}

// moveRefused is the error of a move whose row would leave its bounds:
// a reservation past what remains is the client's, a release of more
// than was reserved is the store's own fault.
func moveRefused(m refundry.Move) error {
	if m.Delta < 0 {
		return refundry.Errorf(refundry.EINTERNAL, "A release of %d is more than %s %s has refunded.", -m.Delta, moveTables[m.Kind], m.ID)
	}
	return refundry.ParamErrorf(refundry.ETOOLARGE, "amount", "Refund amount is greater than the amount that remains refundable.")
}

// gatherMoves gathers ms to be written at the end of the batch, and
// reports true, if the writer's cache holds the sale they move: the
// cache is as exact as the rows (saleCache), so each move's bounds are
// checked on it as its UPDATE would check them on the row, and it takes
// each move at once, as the row would, for the next decision. A move that
// would break a bound is refused with the UPDATE's error and nothing of
// ms is gathered. Unbounded moves (adoptions, rare) are not gathered:
// their rows may end above their amount, which the batch's bounded
// UPDATE would refuse.
func gatherMoves(ctx context.Context, tx *tx, ms []refundry.Move) (bool, error) {
	if tx.gather == nil || tx.sales == nil || len(ms) == 0 {
		return false, nil
	}
	for _, m := range ms {
		if m.Unbounded {
			return false, nil
		}
	}
	if err := tx.sales.sync(ctx, tx); err != nil {
		return false, err
	}
	for _, m := range ms {
		if !tx.sales.holds(m) {
			return false, nil
		}
	}
	for _, m := range ms {
		tx.salesChanged++
		if !tx.sales.move(m) {
			// The earlier moves of ms are in the cache: it goes, and the
			// batch cuts what this write gathered (runJob).
			tx.forgetSales()
			return true, moveRefused(m)
		}
		tx.gather.moves = append(tx.gather.moves, m)
	}
	return true, nil
}

// moveUpdates are writeMoves' UPDATEs, by kind: each row's refunded
// amount moves by its summed delta if it stays between 0 and the row's
// amount (a line's units likewise within its quantity), as moveTexts'
// bounded ones check.
var moveUpdates = map[refundry.HoldKind]multiInsert{
	refundry.OnSale: newMultiRow(`UPDATE sales SET refunded_amount = refunded_amount + v.column2 FROM (VALUES `, 2,
		`) AS v WHERE sales.id = v.column1 AND sales.refunded_amount + v.column2 BETWEEN 0 AND sales.amount`),
	refundry.OnTransaction: newMultiRow(`UPDATE transactions SET refunded_amount = refunded_amount + v.column2 FROM (VALUES `, 2,
		`) AS v WHERE transactions.id = v.column1 AND transactions.refunded_amount + v.column2 BETWEEN 0 AND transactions.amount`),
	refundry.OnLineItem: newMultiRow(`UPDATE line_items SET refunded_amount = refunded_amount + v.column2,
		refunded_quantity = refunded_quantity + v.column3 FROM (VALUES `, 3,
		`) AS v WHERE line_items.id = v.column1 AND line_items.refunded_amount + v.column2 BETWEEN 0 AND line_items.amount
		AND line_items.refunded_quantity + v.column3 BETWEEN 0 AND line_items.quantity`),
}

// writeMoves writes gathered moves, one UPDATE per table and chunk. The
// moves on one row are summed first: an UPDATE ... FROM changes a row
// once however many of its rows match it. Each was checked on the cache
// in turn, so the sum keeps the row within bounds; the UPDATE checks it
// again (invariant 2, kept a second time) and every row must change, or
// the cache was wrong: it is emptied, and the batch fails and runs each
// write again alone, deciding on the rows.
func writeMoves(ctx context.Context, t *tx, ms []refundry.Move) error {
	if len(ms) == 0 {
		return nil
	}
	type row struct {
		kind refundry.HoldKind
		id   string
	}
	at := make(map[row]int, len(ms))
	var sums []refundry.Move
	for _, m := range ms {
		k := row{m.Kind, m.ID}
		if i, ok := at[k]; ok {
			sums[i].Delta += m.Delta
			sums[i].Quantity += m.Quantity
			continue
		}
		at[k] = len(sums)
		sums = append(sums, m)
	}
	for _, kind := range []refundry.HoldKind{refundry.OnTransaction, refundry.OnLineItem, refundry.OnSale} {
		var of []refundry.Move
		for _, m := range sums {
			if m.Kind == kind {
				of = append(of, m)
			}
		}
		changed, err := execChunks(ctx, t, moveUpdates[kind], len(of), func(args []any, i int) []any {
			if kind == refundry.OnLineItem {
				return append(args, of[i].ID, of[i].Delta, of[i].Quantity)
			}
			return append(args, of[i].ID, of[i].Delta)
		})
		if err != nil {
			return err
		}
		if changed != int64(len(of)) {
			t.forgetSales()
			for _, m := range of {
				if m.Delta > 0 || m.Quantity > 0 {
					return moveRefused(m)
				}
			}
			return moveRefused(of[0])
		}
	}
	return nil
}

// persistEffects writes what a decision appends beside its rows: events,
// owed notifications and audit entries.
func persistEffects(ctx context.Context, tx *tx, merchantID string, evs []*refundry.Event, notify []*refundry.Refund, rows []refundry.AuditRow) error {
	for _, e := range evs {
		if err := insertEvent(ctx, tx, e); err != nil {
			return err
		}
	}
	for _, r := range notify {
		if err := queueNotification(ctx, tx, r); err != nil {
			return err
		}
	}
	for _, a := range rows {
		if err := auditNote(ctx, tx, merchantID, a.Action, a.ObjectID, a.Note); err != nil {
			return err
		}
	}
	return nil
}

// insertRefund writes a new refund and its lines; under group commit
// they are gathered and written with the batch's others (gathered).
func insertRefund(ctx context.Context, tx *tx, r *refundry.Refund) error {
	if tx.gather != nil {
		tx.gather.addRefund(r)
		return nil
	}
	_, err := tx.ExecContext(ctx, refundInserts[1], appendRefundRow(make([]any, 0, refundInsertColumns), r)...)
	if err != nil || len(r.Lines) == 0 {
		return err
	}
	// One statement for all of the refund's lines.
	text := `INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount) VALUES (?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?)`, len(r.Lines)-1)
	args := make([]any, 0, 4*len(r.Lines))
	for _, l := range r.Lines {
		args = append(args, r.ID, l.LineItemID, l.Quantity, l.Amount)
	}
	_, err = tx.ExecContext(ctx, text, args...)
	return err
}

// refundInsertColumns is how many values a refund's row takes.
const refundInsertColumns = 32

// appendRefundRow appends r's values in refundInserts' column order.
func appendRefundRow(args []any, r *refundry.Refund) []any {
	return append(args, r.ID, r.MerchantID, r.Group, r.SaleID, r.TransactionID, nullString(r.LineItemID), r.Amount, r.Fee,
		r.Currency, r.Status, r.Reason, nullBytes(r.Metadata), r.Offsite, r.NotifyCustomer, r.Gateway, r.GatewayRefundID,
		r.FailureReason, r.Source, r.Name, r.ExternalID, r.CreatedSource,
		micros(r.RefundedAt), micros(r.Created), micros(r.Updated), r.Description, r.GatewayReason,
		r.RequestedBy, r.DecidedBy, r.DecisionNote, r.ReviewReason, nullMicros(r.ApprovalExpires), nullString(r.ReturnID))
}

// replayRefunds answers a repeated request with what the first one made
// and the referrals it voided, the sale as it is now, and no new write.
func replayRefunds(ctx context.Context, tx *tx, merchantID string, idem *refundry.Idempotency, ids []string) (*refundry.RefundResult, error) {
	var q query
	q.add("merchant_id = ?", merchantID)
	q.in("id", ids)
	refunds, err := queryRefunds(ctx, tx, refundColumns+q.sql()+" ORDER BY id", q.args...)
	if err != nil {
		return nil, err
	}
	if len(refunds) != len(ids) {
		return nil, refundry.Errorf(refundry.EINTERNAL, "An idempotency record names refunds that are gone.")
	}
	sale, err := findSale(ctx, tx, merchantID, refundry.SaleLookup{ID: refunds[0].SaleID})
	if err != nil {
		return nil, err
	}
	res := &refundry.RefundResult{Refunds: refunds, Sale: sale, Replayed: true}
	voided, err := relatedIDs(ctx, tx, merchantID, idem)
	if err != nil || len(voided) == 0 {
		return res, err
	}
	var q2 query
	q2.add("r.merchant_id = ?", merchantID)
	q2.in("r.id", voided)
	res.Voided, err = queryReferrals(ctx, tx, referralColumns+q2.sql()+" ORDER BY r.id", q2.args...)
	return res, err
}

// SettleRefund records a final word on a refund, as DecideSettlement
// decides it. A refund this store created and holds (held) is decided
// without reading it again; see held for why that stays exact.
func (s *Store) SettleRefund(ctx context.Context, merchantID, id string, st refundry.Settlement) (*refundry.Refund, error) {
	ctx = s.writeContext(ctx)
	guess := s.held.take(merchantID, id)
	var r *refundry.Refund
	err := s.groupedKeeping(ctx, func(tx *tx) error {
		if guess != nil {
			// A copy for each run: a batch may run this write twice.
			d, err := refundry.DecideSettlement(asStored(guess), st, tx.now)
			// Only a step its UPDATE confirms is answered from the guess;
			// a refusal or a repeat is decided on the row as it is.
			if err == nil && !d.Unchanged {
				ok, err := settleRow(ctx, tx, d, guess.Updated)
				if err != nil {
					return err
				}
				if ok {
					r = d.Refund
					return writeSettled(ctx, tx, merchantID, d)
				}
			}
		}
		// The write lock is held from BEGIN IMMEDIATE, so the refund read
		// here is the one the decision changes (invariant 2).
		cur, err := findRefund(ctx, tx, merchantID, id)
		if err != nil {
			return err
		}
		d, err := refundry.DecideSettlement(cur, st, tx.now)
		if err != nil {
			return err
		}
		r = d.Refund
		if d.Unchanged {
			return nil // a repeated settlement, from a retry or a second webhook
		}
		return writeSettlement(ctx, tx, merchantID, d)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// writeSettlement writes what DecideSettlement decided: a settlement and
// a gateway's report take the same step the same way.
func writeSettlement(ctx context.Context, tx *tx, merchantID string, d *refundry.SettleDecision) error {
	ok, err := settleRow(ctx, tx, d, time.Time{})
	if err != nil {
		return err
	}
	if !ok {
		return refundry.Errorf(refundry.ECONFLICT, "The refund changed while it was being settled.")
	}
	return writeSettled(ctx, tx, merchantID, d)
}

// settleText names one of settleTexts.
type settleText struct{ reset, updated bool }

// settleTexts are settleRow's UPDATEs: with the recovery schedule reset
// or not, with the updated time checked or not. They write a refund that
// is not among a batch's gathered ones (settleRow writes those first).
var settleTexts = func() map[settleText]string {
	m := map[settleText]string{}
	for _, reset := range []bool{false, true} {
		for _, updated := range []bool{false, true} {
			text := `UPDATE refunds SET status = ?, gateway_refund_id = ?, failure_reason = ?, refunded_at = ?, updated = ?,
		decided_by = ?, decision_note = ?, review_reason = ?, approval_expires_at = ?`
			if reset {
				text += ", next_attempt_at = NULL, recovery_attempts = 0"
			}
			text += ` WHERE id = ? AND status = ?`
			if updated {
				text += ` AND updated = ?`
			}
			m[settleText{reset, updated}] = keepGathered(text)
		}
	}
	return m
}()

// settleRow updates the refund's row to the decided step if the row is
// still as the decision saw it: status d.From and, unless updated is
// zero, that updated time. The status condition makes the step happen
// once, and with it the moves writeSettled makes. It reports false, having
// written nothing, if the row is not as seen.
func settleRow(ctx context.Context, tx *tx, d *refundry.SettleDecision, updated time.Time) (bool, error) {
	r := d.Refund
	if tx.gather.holdsRefund(r.ID) {
		// Gathered in this batch: it must be in the table to be updated.
		if err := tx.gather.flushRows(ctx, tx); err != nil {
			return false, err
		}
	}
	args := []any{r.Status, r.GatewayRefundID, r.FailureReason, micros(r.RefundedAt), micros(r.Updated),
		r.DecidedBy, r.DecisionNote, r.ReviewReason, nullMicros(r.ApprovalExpires), r.ID, d.From}
	if !updated.IsZero() {
		args = append(args, micros(updated))
	}
	// A refund that moves to pending (approved, or sent back from
	// review) is due for recovery at once: its schedule starts afresh.
	res, err := tx.ExecContext(ctx, settleTexts[settleText{reset: r.Status == refundry.RefundPending, updated: !updated.IsZero()}], args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n != 1 {
		// It changed no row: the batch need not undo it (runJob).
		tx.writes--
		return false, nil
	}
	return true, nil
}

// writeSettled writes the rest of a settlement once its row has moved.
func writeSettled(ctx context.Context, tx *tx, merchantID string, d *refundry.SettleDecision) error {
	if err := persistMoves(ctx, tx, d.Moves); err != nil {
		return err
	}
	return persistEffects(ctx, tx, merchantID, d.Events, d.Notify, d.Audit)
}

// FindRefund returns ENOTFOUND if there is no such refund.
func (s *Store) FindRefund(ctx context.Context, merchantID, id string) (r *refundry.Refund, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
		r, err = findRefund(ctx, tx, merchantID, id)
		return err
	})
	return r, err
}

func findRefund(ctx context.Context, tx *tx, merchantID, id string) (*refundry.Refund, error) {
	refunds, err := queryRefunds(ctx, tx, refundColumns+` WHERE merchant_id = ? AND id = ?`, merchantID, id)
	if err != nil {
		return nil, err
	}
	if len(refunds) == 0 {
		return nil, notFound("refund", id)
	}
	return refunds[0], nil
}

// ListRefunds returns one page, newest first, and whether more follow.
func (s *Store) ListRefunds(ctx context.Context, merchantID string, f refundry.RefundFilter) ([]*refundry.Refund, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	text, args := listRefundsQuery(merchantID, f)
	var refunds []*refundry.Refund
	err := s.view(ctx, func(tx *tx) (err error) {
		refunds, err = queryRefunds(ctx, tx, text, args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	refunds, more := trim(refunds, f.Page)
	return refunds, more, nil
}

// listRefundsQuery is the query of a page of ListRefunds. A payment, a
// line and a group (named by its first refund) each belong to one sale,
// so a filter by one of them also names the sale, found by that key: the
// refunds are read through refunds_sale, the few of one sale, instead of
// walking the merchant's in id order or keeping an index per column that
// every refund would write.
func listRefundsQuery(merchantID string, f refundry.RefundFilter) (string, []any) {
	var q query
	q.add("merchant_id = ?", merchantID)
	if f.SaleID == "" {
		switch {
		case f.TransactionID != "":
			q.add("sale_id = (SELECT sale_id FROM transactions WHERE id = ?)", f.TransactionID)
		case f.LineItemID != "":
			q.add("sale_id = (SELECT sale_id FROM line_items WHERE id = ?)", f.LineItemID)
		case f.Group != "":
			q.add("sale_id = (SELECT sale_id FROM refunds WHERE id = ?)", f.Group)
		}
	}
	for _, c := range []struct{ col, v string }{
		{"sale_id", f.SaleID}, {"transaction_id", f.TransactionID}, {"line_item_id", f.LineItemID},
		{"grp", f.Group}, {"status", f.Status}, {"source", f.Source},
	} {
		if c.v != "" {
			q.add(c.col+" = ?", c.v)
		}
	}
	if !f.CreatedFrom.IsZero() {
		q.add("created >= ?", micros(utc(f.CreatedFrom)))
	}
	if !f.CreatedTo.IsZero() {
		q.add("created < ?", micros(utc(f.CreatedTo)))
	}
	tail := q.page("id", f.Page)
	return refundColumns + q.sql() + tail, q.args
}

// PendingRefunds lists pending refunds of every merchant created before
// the given time, oldest first: the age of the oldest pending refund.
func (s *Store) PendingRefunds(ctx context.Context, createdBefore time.Time, limit int) ([]*refundry.Refund, error) {
	if limit <= 0 {
		limit = refundry.MaxPageLimit
	}
	var refunds []*refundry.Refund
	err := s.view(ctx, func(tx *tx) (err error) {
		refunds, err = queryRefunds(ctx, tx, pendingRefundsQuery, micros(utc(createdBefore)), limit)
		return err
	})
	return refunds, err
}

// pendingRefundsQuery picks the oldest pending refunds from refunds_due
// alone, which carries created for it (a covering scan of what is
// pending), and reads only their rows. 'pending' is spelled out, not
// bound: SQLite uses a partial index only for a literal it can match.
const pendingRefundsQuery = refundColumns + ` WHERE id IN (SELECT id FROM refunds INDEXED BY refunds_due
	WHERE status = 'pending' AND created < ? ORDER BY created, id LIMIT ?) ORDER BY created, id`

const refundColumns = `SELECT id, merchant_id, grp, sale_id, transaction_id, line_item_id, amount, fee, currency, status,
	reason, metadata, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id,
	created_source, refunded_at, created, updated, description, gateway_reason,
	requested_by, decided_by, decision_note, review_reason, approval_expires_at, return_id FROM refunds`

func queryRefunds(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.Refund, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*refundry.Refund
	for rows.Next() {
		var r refundry.Refund
		var lineItem, metadata, returnID sql.NullString
		var refundedAt, created, updated int64
		var expires sql.NullInt64
		if err := rows.Scan(&r.ID, &r.MerchantID, &r.Group, &r.SaleID, &r.TransactionID, &lineItem, &r.Amount, &r.Fee,
			&r.Currency, &r.Status, &r.Reason, &metadata, &r.Offsite, &r.NotifyCustomer, &r.Gateway, &r.GatewayRefundID,
			&r.FailureReason, &r.Source, &r.Name, &r.ExternalID, &r.CreatedSource, &refundedAt, &created, &updated,
			&r.Description, &r.GatewayReason,
			&r.RequestedBy, &r.DecidedBy, &r.DecisionNote, &r.ReviewReason, &expires, &returnID); err != nil {
			return nil, err
		}
		if expires.Valid {
			r.ApprovalExpires = fromMicros(expires.Int64)
		}
		r.LineItemID, r.ReturnID = lineItem.String, returnID.String
		if metadata.Valid {
			r.Metadata = json.RawMessage(metadata.String)
		}
		r.RefundedAt, r.Created, r.Updated = fromMicros(refundedAt), fromMicros(created), fromMicros(updated)
		r.Lines = []refundry.RefundLine{}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, loadRefundLines(ctx, tx, out)
}

// loadRefundLines fills in the lines of refunds with one query, however
// many refunds a page holds; each refund's lines in its sale's line order.
func loadRefundLines(ctx context.Context, tx *tx, refunds []*refundry.Refund) error {
	if len(refunds) == 0 {
		return nil
	}
	byID := make(map[string]*refundry.Refund, len(refunds))
	ids := make([]string, len(refunds))
	for i, r := range refunds {
		byID[r.ID], ids[i] = r, r.ID
	}
	var q query
	q.in("rl.refund_id", ids)
	rows, err := tx.QueryContext(ctx, `SELECT rl.refund_id, rl.line_item_id, rl.quantity, rl.amount
		FROM refund_lines rl JOIN line_items li ON li.id = rl.line_item_id`+q.sql()+` ORDER BY rl.refund_id, li.position`, q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var l refundry.RefundLine
		if err := rows.Scan(&id, &l.LineItemID, &l.Quantity, &l.Amount); err != nil {
			return err
		}
		byID[id].Lines = append(byID[id].Lines, l)
	}
	return rows.Err()
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// nullMicros stores a time that may be absent as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: micros(utc(t)), Valid: !t.IsZero()}
}

func nullBytes(b []byte) sql.NullString { return sql.NullString{String: string(b), Valid: len(b) > 0} }
