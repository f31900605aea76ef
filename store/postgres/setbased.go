package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// setBased reports whether w can be read, decided and written with the
// other writes of its batch (writeSet): a refund request or a
// settlement of a sale named before the batch, without what needs reads
// of its own (voiding referrals, paying for a return, counting the
// sale's refunds for a policy).
func (w *write) setBased() bool {
	if w.sale.saleID == "" {
		return false
	}
	switch {
	case w.settle != nil:
		return true
	case w.refund != nil:
		r := w.refund
		return !r.VoidReferrals && r.ReturnID == "" && (r.Policy == nil || r.Policy.MaxRefundsPerSale == nil)
	}
	return false
}

// idemRef names an Idempotency-Key of a merchant.
type idemRef struct{ merchantID, key string }

// writeSet reads, decides and writes the writes ws[set] together, in two
// round trips whatever their number:
//
//  1. lock the batch's sales in the order of their ids and read them
//     (with their customers), claim the writes' Idempotency-Keys, read
//     the line items and payments of the sales refunded and the refunds
//     to settle, with their lines: one statement each for the batch;
//  2. decide each write in turn, in Go, against the sales and refunds as
//     the writes before it left them (refundry.DecideRefund,
//     refundry.DecideSettlement), then write every change the decisions
//     returned with one set-based statement per table (changes.queue).
//
// Invariant 2: every decision is made on rows read under the sales'
// locks, each seeing the moves of the writes decided before it, so the
// batch decides exactly as its writes would one after another; the
// conditional updates and CHECK constraints then guard it a second and
// third time.
//
// A write whose decision fails gets its own error in own and writes
// nothing (its claimed key is given back). It returns the writes that
// must run alone after it, in a savepoint each (later): a replayed key,
// a key used twice in the batch, a sale or refund not found (their
// errors are the plain path's). A statement that fails returns err: the
// batch is run again, or its writes alone (runBatch).
func writeSet(ctx context.Context, tx pgx.Tx, ws []*write, set []int, sales []saleRef, own []error, now time.Time) (later []int, err error) {
	b := &pgx.Batch{}
	cur := make(map[string]*refundry.Sale, len(sales))
	merchants, ids := make([]string, len(sales)), make([]string, len(sales))
	for i, r := range sales {
		merchants[i], ids[i] = r.merchantID, r.saleID
	}
	// ORDER BY with FOR UPDATE locks the rows as they leave the sort, so
	// in the order of their ids: the order every batch takes its sales in.
	b.Queue(`SELECT `+saleColumns+`, c.id, c.email, c.first_name, c.last_name
		FROM sales s LEFT JOIN customers c ON c.id = s.customer_id
		WHERE (s.merchant_id, s.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY s.id FOR UPDATE OF s`, merchants, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, email, first, last *string
			sale, err := scanSale(extraRow{rows, []any{&id, &email, &first, &last}})
			if err != nil {
				return err
			}
			// A sale whose customer is missing has none, as findSale
			// reads it.
			sale.Customer = refundry.Customer{}
			if id != nil {
				sale.Customer = refundry.Customer{ID: *id, Email: *email, FirstName: *first, LastName: *last}
			}
			cur[sale.ID] = sale
		}
		return rows.Err()
	})

	// Invariant 4: the keys are claimed after the sales' locks, as a
	// write alone claims its key; a key another transaction holds makes
	// this statement wait for it, and then finds it taken.
	owner := map[idemRef]int{}
	var keyMerchants, keys, hashes []string
	var detail []string // the sales refunded, whose lines and payments are read
	var settleIDs []string
	for _, i := range set {
		w := ws[i]
		switch {
		case w.refund != nil:
			detail = append(detail, w.sale.saleID)
			if req := w.refund; usesKey(req.Idempotency) {
				k := idemRef{req.MerchantID, req.Idempotency.Key}
				if _, twice := owner[k]; twice {
					continue
				}
				owner[k] = i
				keyMerchants, keys, hashes = append(keyMerchants, k.merchantID), append(keys, k.key), append(hashes, req.Idempotency.Hash)
			}
		case w.settle != nil:
			settleIDs = append(settleIDs, w.settle.id)
		}
	}
	claimed := map[idemRef]bool{}
	if len(keys) > 0 {
		b.Queue(`INSERT INTO idempotency_keys (merchant_id, idem_key, hash, resource_type, resource_ids, related_ids, created)
			SELECT u.merchant_id, u.idem_key, u.hash, 'refund', '[]', '[]', $4
			FROM unnest($1::text[], $2::text[], $3::text[]) AS u(merchant_id, idem_key, hash)
			ON CONFLICT (merchant_id, idem_key) DO NOTHING RETURNING merchant_id, idem_key`,
			keyMerchants, keys, hashes, now).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k idemRef
				if err := rows.Scan(&k.merchantID, &k.key); err != nil {
					return err
				}
				claimed[k] = true
			}
			return rows.Err()
		})
	}
	if len(detail) > 0 {
		b.Queue(`SELECT `+lineItemColumns+` FROM line_items WHERE sale_id = ANY($1) ORDER BY sale_id, ord`, detail).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				li, err := scanLineItem(rows)
				if err != nil {
					return err
				}
				if sale := cur[li.SaleID]; sale != nil {
					sale.LineItems = append(sale.LineItems, li)
				}
			}
			return rows.Err()
		})
		b.Queue(`SELECT `+transactionColumns+` FROM transactions WHERE sale_id = ANY($1) ORDER BY sale_id, ord`, detail).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				t, err := scanTransaction(rows)
				if err != nil {
					return err
				}
				if sale := cur[t.SaleID]; sale != nil {
					sale.Transactions = append(sale.Transactions, t)
				}
			}
			return rows.Err()
		})
	}
	refunds := make(map[string]*refundry.Refund, len(settleIDs))
	lines := map[string][]refundry.RefundLine{}
	if len(settleIDs) > 0 {
		// The refunds are locked too, as a settlement alone locks its
		// refund; their sales are locked already, so in the same order.
		b.Queue(`SELECT `+refundColumns+`, COALESCE(return_id, '') FROM refunds WHERE id = ANY($1) FOR UPDATE`, settleIDs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var ret string
				r, err := scanRefund(extraRow{rows, []any{&ret}})
				if err != nil {
					return err
				}
				r.ReturnID = ret
				refunds[r.ID] = r
			}
			return rows.Err()
		})
		// A release reverses the refund's lines exactly.
		queueRefundLines(b, settleIDs, lines)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	for _, r := range refunds {
		attachLines([]*refundry.Refund{r}, lines)
	}

	var c changes
	var unclaim []idemRef
	settled := map[string]int{} // refund id → its entry in c.settles
	for _, i := range set {
		w := ws[i]
		switch {
		case w.refund != nil:
			req := *w.refund
			k := idemRef{req.MerchantID, ""}
			if usesKey(req.Idempotency) {
				k.key = req.Idempotency.Key
				if !claimed[k] || owner[k] != i {
					// Seen before, or by an earlier write of this batch:
					// it replays, alone, once what it names is written.
					later = append(later, i)
					continue
				}
			}
			sale := cur[w.sale.saleID]
			if sale == nil {
				if k.key != "" {
					unclaim = append(unclaim, k)
				}
				later = append(later, i)
				continue
			}
			d, err := refundry.DecideRefund(sale, req, now)
			if err != nil {
				if k.key != "" {
					unclaim = append(unclaim, k)
				}
				own[i] = err
				continue
			}
			cur[sale.ID] = d.Sale
			wc := &changes{moves: d.Moves, inserts: d.Refunds}
			wc.addEffects(w.ctx, req.MerchantID, now, d.Events, d.Notify, d.Audit)
			if k.key != "" {
				ids := make([]string, len(d.Refunds))
				for j, r := range d.Refunds {
					ids[j] = r.ID
				}
				wc.keys = append(wc.keys, finishedKey{req.MerchantID, k.key, encodeIDs(ids), encodeIDs(nil)})
			}
			c.merge(wc)
			w.result = &refundry.RefundResult{Refunds: d.Refunds, Sale: d.Sale, Voided: []*refundry.Referral{}}
		case w.settle != nil:
			r := refunds[w.settle.id]
			if r == nil || r.MerchantID != w.settle.merchantID || cur[r.SaleID] == nil {
				later = append(later, i)
				continue
			}
			d, err := refundry.DecideSettlement(r, w.settle.st, now)
			if err != nil {
				own[i] = err
				continue
			}
			w.settled = d.Refund
			if d.Unchanged {
				continue
			}
			// A later write of the batch sees the refund and its sale as
			// this settlement leaves them.
			refunds[r.ID] = d.Refund
			cur[r.SaleID] = withMoves(cur[r.SaleID], d.Moves)
			wc := &changes{moves: d.Moves}
			wc.addEffects(w.ctx, w.settle.merchantID, now, d.Events, d.Notify, d.Audit)
			c.merge(wc)
			// A refund settled twice in one batch is written once, in
			// its last status, on the condition of its first.
			if j, twice := settled[r.ID]; twice {
				c.settles[j].r = d.Refund
			} else {
				settled[r.ID] = len(c.settles)
				c.settles = append(c.settles, settledRefund{d.Refund, d.From})
			}
		}
	}

	b = &pgx.Batch{}
	if len(unclaim) > 0 {
		// What a failed request claimed is given back, as a write alone
		// gives it back by rolling back to its savepoint.
		m, k := make([]string, len(unclaim)), make([]string, len(unclaim))
		for j, u := range unclaim {
			m[j], k[j] = u.merchantID, u.key
		}
		b.Queue(`DELETE FROM idempotency_keys WHERE (merchant_id, idem_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, m, k)
	}
	c.queue(b)
	if len(b.QueuedQueries) > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
	}
	return later, nil
}

// extraRow scans a row's leading columns as the wrapped scan function
// wants them and the rest into extra, so a scan function serves queries
// that read more than it knows of.
type extraRow struct {
	pgx.Row
	extra []any
}

func (r extraRow) Scan(dest ...any) error {
	return r.Row.Scan(append(dest, r.extra...)...)
}

// withMoves returns a copy of sale with the amounts ms move applied, as
// the batch's statements will write them: what a settlement's release
// leaves for the writes decided after it. It mirrors what is written; it
// decides nothing.
func withMoves(sale *refundry.Sale, ms []refundry.Move) *refundry.Sale {
	c := *sale
	c.Transactions = make([]*refundry.Transaction, len(sale.Transactions))
	for i, t := range sale.Transactions {
		tc := *t
		c.Transactions[i] = &tc
	}
	c.LineItems = make([]*refundry.LineItem, len(sale.LineItems))
	for i, li := range sale.LineItems {
		lc := *li
		c.LineItems[i] = &lc
	}
	for _, m := range ms {
		switch m.Kind {
		case refundry.OnSale:
			c.RefundedAmount += m.Delta
			c.Status = refundry.PaymentState(c.Amount, c.RefundedAmount)
		case refundry.OnTransaction:
			for _, t := range c.Transactions {
				if t.ID == m.ID {
					t.RefundedAmount += m.Delta
					t.Status = refundry.PaymentState(t.Amount, t.RefundedAmount)
				}
			}
		case refundry.OnLineItem:
			for _, li := range c.LineItems {
				if li.ID == m.ID {
					li.RefundedAmount += m.Delta
					li.RefundedQuantity += m.Quantity
				}
			}
		}
	}
	return &c
}
