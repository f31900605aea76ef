package postgres

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
)

// changes is a unit of work as data: the rows that decided writes make,
// ready to be written. A write alone applies its own with applyChanges; a
// group-commit batch merges those of all its writes (writeSet) and writes
// them with one set-based statement per table (INSERT ... SELECT FROM
// unnest, UPDATE ... FROM unnest), so a batch of refunds costs a handful
// of statements instead of a dozen per refund.
type changes struct {
	moves   []refundry.Move
	inserts []*refundry.Refund
	settles []settledRefund
	events  []*refundry.Event
	notify  []notification
	audit   []*refundry.AuditEntry
	keys    []finishedKey
}

// settledRefund is a refund's new status, written only if the refund is
// still in from: the step happens once.
type settledRefund struct {
	r    *refundry.Refund
	from string
}

// notification owes an email about a refund, made at now.
type notification struct {
	id, refundID string
	now          time.Time
}

// finishedKey records what an Idempotency-Key's request made.
type finishedKey struct {
	merchantID, key, ids, related string
}

func (c *changes) addEffects(ctx context.Context, merchantID string, now time.Time, evs []*refundry.Event, notify []*refundry.Refund, rows []refundry.AuditRow) {
	c.events = append(c.events, evs...)
	for _, r := range notify {
		c.notify = append(c.notify, notification{id: refundry.NewID(), refundID: r.ID, now: now})
	}
	for _, a := range rows {
		if e := refundry.NewAuditEntry(ctx, merchantID, a.Action, a.ObjectID, now); e != nil {
			e.Note = a.Note
			st := e.Storable()
			c.audit = append(c.audit, &st)
		}
	}
}

// merge adds o's changes to c. Moves on one row are summed, so that each
// row is updated once: an UPDATE ... FROM unnest changes a row once
// however many of its input rows match it.
func (c *changes) merge(o *changes) {
	for _, m := range o.moves {
		i := slices.IndexFunc(c.moves, func(x refundry.Move) bool { return x.Kind == m.Kind && x.ID == m.ID })
		if i < 0 {
			c.moves = append(c.moves, m)
			continue
		}
		c.moves[i].Delta += m.Delta
		c.moves[i].Quantity += m.Quantity
		// The cap is kept unless both waive it.
		c.moves[i].Unbounded = c.moves[i].Unbounded && m.Unbounded
	}
	c.inserts = append(c.inserts, o.inserts...)
	c.settles = append(c.settles, o.settles...)
	c.events = append(c.events, o.events...)
	c.notify = append(c.notify, o.notify...)
	c.audit = append(c.audit, o.audit...)
	c.keys = append(c.keys, o.keys...)
}

// applyChanges writes c in tx, one statement per table.
func applyChanges(ctx context.Context, tx pgx.Tx, c *changes) error {
	b := &pgx.Batch{}
	c.queue(b)
	return tx.SendBatch(ctx, b).Close()
}

// queue queues c's statements on b, in the order their rows depend on
// each other: amounts, then refunds, then what refers to refunds. A
// statement that does not change every row it names fails: the rows are
// not what the decisions were made on.
func (c *changes) queue(b *pgx.Batch) {
	check := func(n int, fail error) func(pgconn.CommandTag) error {
		return func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(n) {
				return fail
			}
			return nil
		}
	}
	w := &oneStatement{}
	c.queueMoves(w)
	if len(c.inserts) > 0 {
		var a refundArrays
		for _, r := range c.inserts {
			a.add(r)
		}
		w.add(len(c.inserts), errRetry, `INSERT INTO refunds (`+refundColumns+`)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::boolean[], $14::boolean[], $15::text[], $16::text[], $17::text[],
				$18::text[], $19::text[], $20::text[], $21::text[], $22::timestamptz[], $23::timestamptz[], $24::timestamptz[],
				$25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::timestamptz[])`,
			a.args()...)
		var refunds, lineItems []string
		var quantities, amounts []int64
		for _, r := range c.inserts {
			for _, l := range r.Lines {
				refunds, lineItems = append(refunds, r.ID), append(lineItems, l.LineItemID)
				quantities, amounts = append(quantities, l.Quantity), append(amounts, l.Amount)
			}
		}
		if len(refunds) > 0 {
			w.add(len(refunds), errRetry, `INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])`,
				refunds, lineItems, quantities, amounts)
		}
	}
	if len(c.settles) > 0 {
		n := len(c.settles)
		ids, froms, statuses := make([]string, n), make([]string, n), make([]string, n)
		grids, reasons := make([]string, n), make([]string, n)
		decidedBy, notes, reviews := make([]string, n), make([]string, n), make([]string, n)
		at, updated, expires := make([]time.Time, n), make([]time.Time, n), make([]*time.Time, n)
		for i, s := range c.settles {
			ids[i], froms[i], statuses[i] = s.r.ID, s.from, s.r.Status
			grids[i], reasons[i], at[i], updated[i] = s.r.GatewayRefundID, s.r.FailureReason, s.r.RefundedAt, s.r.Updated
			decidedBy[i], notes[i], reviews[i] = s.r.DecidedBy, s.r.DecisionNote, s.r.ReviewReason
			expires[i] = optNormTime(s.r.ApprovalExpires)
		}
		// The status condition makes each step happen once: a refund
		// settled meanwhile is not found, and the write starts over. A
		// refund that moves to pending (approved, or sent back from
		// review) is due for recovery at once: its schedule starts afresh.
		w.add(n, errRetry, `UPDATE refunds r SET status = u.status, gateway_refund_id = u.grid, failure_reason = u.reason,
				refunded_at = u.at, updated = u.updated, decided_by = u.decided_by, decision_note = u.note,
				review_reason = u.review, approval_expires_at = u.expires,
				next_attempt_at = CASE WHEN u.status = 'pending' THEN NULL ELSE r.next_attempt_at END,
				recovery_attempts = CASE WHEN u.status = 'pending' THEN 0 ELSE r.recovery_attempts END
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
				$8::text[], $9::text[], $10::text[], $11::timestamptz[])
				AS u(id, from_status, status, grid, reason, at, updated, decided_by, note, review, expires)
			WHERE r.id = u.id AND r.status = u.from_status`,
			ids, froms, statuses, grids, reasons, at, updated, decidedBy, notes, reviews, expires)
	}
	if len(c.events) > 0 {
		n := len(c.events)
		ids, merchants, types, objTypes, objIDs, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created := make([]time.Time, n)
		for i, e := range c.events {
			ids[i], merchants[i], types[i], objTypes[i], objIDs[i], data[i] = e.ID, e.MerchantID, e.Type, e.ObjectType, e.ObjectID, string(e.Data)
			created[i] = normTime(e.Created)
		}
		w.add(n, errRetry, `INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`,
			ids, merchants, types, objTypes, objIDs, data, created)
	}
	if len(c.audit) > 0 {
		n := len(c.audit)
		cols := make([][]string, 12)
		for i := range cols {
			cols[i] = make([]string, n)
		}
		created := make([]time.Time, n)
		for i, e := range c.audit {
			for j, v := range []string{e.ID, e.MerchantID, e.Actor.KeyID, e.Actor.UserID, e.Action, e.ObjectID, e.Result,
				e.Actor.RemoteAddr, e.Actor.RequestID, e.Actor.Method, e.Actor.Path, e.Note} {
				cols[j][i] = v
			}
			created[i] = normTime(e.Created)
		}
		w.add(n, errRetry, `INSERT INTO audit_log (id, merchant_id, key_id, user_id, action, object_id, result, remote_addr, request_id,
				method, path, note, created)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])`,
			cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9], cols[10], cols[11],
			created)
	}
	if len(c.keys) > 0 {
		n := len(c.keys)
		merchants, keys, ids, related := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, k := range c.keys {
			merchants[i], keys[i], ids[i], related[i] = k.merchantID, k.key, k.ids, k.related
		}
		w.add(-1, nil, `UPDATE idempotency_keys k SET resource_ids = u.ids, related_ids = u.related
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(merchant_id, idem_key, ids, related)
			WHERE k.merchant_id = u.merchant_id AND k.idem_key = u.idem_key`, merchants, keys, ids, related)
	}
	w.queue(b)
	// What reads the rows written above goes after them, in statements
	// of its own: the parts of one statement all see the rows as they
	// were before it.
	queueLinkReturns(b, c.inserts, check)
	if len(c.notify) > 0 {
		n := len(c.notify)
		ids, refunds, nows := make([]string, n), make([]string, n), make([]time.Time, n)
		for i, x := range c.notify {
			ids[i], refunds[i], nows[i] = x.id, x.refundID, x.now
		}
		// The customer's address and names are read as they are now, in
		// the transaction that owes the email; a customer without an
		// address is owed none.
		b.Queue(`INSERT INTO notifications (id, merchant_id, refund_id, sale_id, recipient, customer_name,
			merchant_name, sale_reference, amount, currency, status, attempts, last_error, next_attempt, locked_until, sent_at, created)
			SELECT u.id, r.merchant_id, r.id, r.sale_id, c.email, TRIM(c.first_name || ' ' || c.last_name), m.name, s.reference,
				r.amount - r.fee, r.currency, 'unsent', 0, '', u.now, $4, $4, u.now
			FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(id, refund_id, now)
			JOIN refunds r ON r.id = u.refund_id JOIN sales s ON s.id = r.sale_id
			JOIN customers c ON c.id = s.customer_id JOIN merchants m ON m.id = r.merchant_id
			WHERE c.email <> ''
			ON CONFLICT (refund_id) DO NOTHING`, ids, refunds, nows, never)
	}
}

// queueMoves queues the amounts the changes move, one statement per
// table. Each row's update is conditional: it must keep the row's
// refunded amount between 0 and its amount (above it only for an
// Unbounded move, an adoption), and every row must change,
// or the write starts over (invariant 2, kept a second time: the
// decision was made on rows read under the sale's lock, and the database
// must agree with it). A release that finds less reserved than it gives
// back is not retried: only a corrupt database shows it.
func (c *changes) queueMoves(w *oneStatement) {
	for _, kind := range []refundry.HoldKind{refundry.OnTransaction, refundry.OnLineItem, refundry.OnSale} {
		var ids, sales []string
		var deltas, quantities []int64
		var unbounded []bool
		reserves := false
		for _, m := range c.moves {
			if m.Kind == kind {
				ids, sales, deltas = append(ids, m.ID), append(sales, m.SaleID), append(deltas, m.Delta)
				quantities = append(quantities, m.Quantity)
				unbounded = append(unbounded, m.Unbounded)
				reserves = reserves || m.Delta > 0 || m.Quantity > 0
			}
		}
		if len(ids) == 0 {
			continue
		}
		fail := errRetry
		if !reserves {
			fail = fmt.Errorf("postgres: a pending refund's amount is not reserved on its rows")
		}
		table := map[refundry.HoldKind]string{refundry.OnTransaction: "transactions", refundry.OnLineItem: "line_items", refundry.OnSale: "sales"}[kind]
		ofSale := `t.sale_id = u.sale_id`
		if kind == refundry.OnSale {
			ofSale = `t.id = u.sale_id`
		}
		if kind == refundry.OnLineItem {
			// A line's units move with its amount and stay within its
			// count (invariant 2 extended to quantities).
			w.add(len(ids), fail, `UPDATE line_items t SET refunded_amount = t.refunded_amount + u.delta,
					refunded_quantity = t.refunded_quantity + u.quantity
				FROM unnest($1::text[], $2::text[], $3::bigint[], $4::boolean[], $5::bigint[]) AS u(id, sale_id, delta, unbounded, quantity)
				WHERE t.id = u.id AND t.sale_id = u.sale_id AND t.refunded_amount + u.delta >= 0
					AND (u.unbounded OR t.refunded_amount + u.delta <= t.amount)
					AND t.refunded_quantity + u.quantity BETWEEN 0 AND t.quantity`,
				ids, sales, deltas, unbounded, quantities)
			continue
		}
		// An unbounded move (an adopted refund: its money is gone already)
		// may take the row above its amount, never below zero.
		w.add(len(ids), fail, `UPDATE `+table+` t SET refunded_amount = t.refunded_amount + u.delta
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::boolean[]) AS u(id, sale_id, delta, unbounded)
			WHERE t.id = u.id AND `+ofSale+` AND t.refunded_amount + u.delta >= 0
				AND (u.unbounded OR t.refunded_amount + u.delta <= t.amount)`,
			ids, sales, deltas, unbounded)
	}
}

// refundArrays holds refunds column by column, for INSERT ... unnest.
type refundArrays struct {
	ids, merchants, groups, sales, txns               []string
	lineItems                                         []*string
	amounts, fees                                     []int64
	currencies, statuses, reasons                     []string
	metadata                                          []*string
	offsite, notify                                   []bool
	gateways, grids, failures, sources, names, extIDs []string
	createdSources                                    []string
	refundedAt, created, updated                      []time.Time
	descriptions, gatewayReasons                      []string
	requestedBy, decidedBy, notes, reviewReasons      []string
	approvalExpires                                   []*time.Time
}

func (a *refundArrays) add(r *refundry.Refund) {
	var lineItem, meta *string
	if r.LineItemID != "" {
		lineItem = &r.LineItemID
	}
	if len(r.Metadata) > 0 {
		m := string(r.Metadata)
		meta = &m
	}
	a.ids, a.merchants, a.groups = append(a.ids, r.ID), append(a.merchants, r.MerchantID), append(a.groups, r.Group)
	a.sales, a.txns, a.lineItems = append(a.sales, r.SaleID), append(a.txns, r.TransactionID), append(a.lineItems, lineItem)
	a.amounts, a.fees = append(a.amounts, r.Amount), append(a.fees, r.Fee)
	a.currencies, a.statuses, a.reasons = append(a.currencies, r.Currency), append(a.statuses, r.Status), append(a.reasons, r.Reason)
	a.metadata, a.offsite, a.notify = append(a.metadata, meta), append(a.offsite, r.Offsite), append(a.notify, r.NotifyCustomer)
	a.gateways, a.grids, a.failures = append(a.gateways, r.Gateway), append(a.grids, r.GatewayRefundID), append(a.failures, r.FailureReason)
	a.sources, a.names, a.extIDs = append(a.sources, r.Source), append(a.names, r.Name), append(a.extIDs, r.ExternalID)
	a.createdSources = append(a.createdSources, r.CreatedSource)
	a.refundedAt = append(a.refundedAt, normTime(r.RefundedAt))
	a.created, a.updated = append(a.created, normTime(r.Created)), append(a.updated, normTime(r.Updated))
	a.descriptions = append(a.descriptions, r.Description)
	a.gatewayReasons = append(a.gatewayReasons, r.GatewayReason)
	a.requestedBy, a.decidedBy = append(a.requestedBy, r.RequestedBy), append(a.decidedBy, r.DecidedBy)
	a.notes, a.reviewReasons = append(a.notes, r.DecisionNote), append(a.reviewReasons, r.ReviewReason)
	a.approvalExpires = append(a.approvalExpires, optNormTime(r.ApprovalExpires))
}

// optNormTime stores a time that may be absent as NULL, to the microsecond.
func optNormTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	n := normTime(t)
	return &n
}

func (a *refundArrays) args() []any {
	return []any{a.ids, a.merchants, a.groups, a.sales, a.txns, a.lineItems, a.amounts, a.fees,
		a.currencies, a.statuses, a.reasons, a.metadata, a.offsite, a.notify, a.gateways, a.grids, a.failures,
		a.sources, a.names, a.extIDs, a.createdSources, a.refundedAt, a.created, a.updated,
		a.descriptions, a.gatewayReasons, a.requestedBy, a.decidedBy, a.notes, a.reviewReasons, a.approvalExpires}
}

// oneStatement gathers the writes of a unit of work and sends them as one
// statement: each write a data-modifying part of a WITH, the statement
// answering how many rows each part changed. PostgreSQL parses, plans and
// runs one statement instead of one per table, and every part still
// checks its row count. The parts see the database as it was before the
// statement, so none may read what another writes; foreign keys are
// checked at its end, once every part has run.
type oneStatement struct {
	parts []stmtPart
}

type stmtPart struct {
	sql  string
	args []any
	n    int   // the rows it must change; -1 for any number
	fail error // what a different number of rows returns
}

// add adds a write of its own numbered parameters ($1, $2, ...).
func (w *oneStatement) add(n int, fail error, sql string, args ...any) {
	w.parts = append(w.parts, stmtPart{sql, args, n, fail})
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// queue queues the statement on b; a single write goes as it is.
func (w *oneStatement) queue(b *pgx.Batch) {
	switch len(w.parts) {
	case 0:
		return
	case 1:
		p := w.parts[0]
		b.Queue(p.sql, p.args...).Exec(func(tag pgconn.CommandTag) error {
			if p.n >= 0 && tag.RowsAffected() != int64(p.n) {
				return p.fail
			}
			return nil
		})
		return
	}
	var sql strings.Builder
	var args []any
	counts := make([]string, len(w.parts))
	for i, p := range w.parts {
		offset := len(args)
		renumbered := placeholder.ReplaceAllStringFunc(p.sql, func(m string) string {
			n, _ := strconv.Atoi(m[1:])
			return "$" + strconv.Itoa(n+offset)
		})
		if i == 0 {
			sql.WriteString("WITH ")
		} else {
			sql.WriteString(",\n")
		}
		fmt.Fprintf(&sql, "w%d AS (%s RETURNING 1)", i, renumbered)
		args = append(args, p.args...)
		counts[i] = fmt.Sprintf("(SELECT count(*) FROM w%d)", i)
	}
	sql.WriteString("\nSELECT " + strings.Join(counts, ", "))
	b.Queue(sql.String(), args...).QueryRow(func(row pgx.Row) error {
		got := make([]int64, len(w.parts))
		dest := make([]any, len(got))
		for i := range got {
			dest[i] = &got[i]
		}
		if err := row.Scan(dest...); err != nil {
			return err
		}
		for i, p := range w.parts {
			if p.n >= 0 && got[i] != int64(p.n) {
				return p.fail
			}
		}
		return nil
	})
}
