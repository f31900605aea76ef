package sqlite

import (
	"context"
	"strings"

	"github.com/refundry/refundry"
)

// gathered holds the rows a group-commit batch appends and nothing can
// refuse once their write was decided: events and audit entries. No write
// reads them back, and their only constraint is their merchant, which the
// write that made them has already found. They are written at the end of
// the batch, a few INSERTs of many rows each instead of one statement per
// row: the driver's cost per statement (bind, step, reset) is most of
// what such a row costs the single writer.
//
// A write that fails drops what it gathered (cut), as its savepoint drops
// what it wrote; so the order of the rows, within their table, is the
// order of the writes that made them, as when each was written at once.
//
// The new refunds of the batch (with their lines) and the idempotency
// keys that name them are gathered too, but they are rows other writes
// may read: any statement of the batch that is not known to leave them
// alone (keepsGathered) writes them first (flushRows), so that every
// statement sees every row written before it, as when each was written
// at once. A refund's id reaches no one before its batch commits, and a
// key is looked up among those gathered before the table (seenKey), so
// in the common batch nothing reads them and they go in at the end.
//
// So are the moves of refunded amounts whose sale the writer's cache
// holds (gatherMoves): the decision was made on the cache, the move's
// bounds are checked on it, and the cache takes the move at once, so
// the next decision of the batch sees it; the rows take all of a
// batch's moves in one UPDATE per table. Any statement that might read
// those rows writes them first, as it writes the refunds.
type gathered struct {
	events []*refundry.Event
	audit  []*refundry.AuditEntry

	refunds []*refundry.Refund
	keys    []keyRow
	moves   []refundry.Move
	// ids are the refunds gathered and not yet written, by id.
	ids map[string]bool
	// flushing is set while the rows are written, whose statements must
	// not write them again.
	flushing bool
	// err is the error of a failed flushRows: the batch must not commit.
	err error
	// flushes counts the flushRows that wrote rows.
	flushes int
}

// keyRow is one idempotency_keys row to write.
type keyRow struct {
	merchantID, key, hash, resource, ids, related string
	created                                       int64
}

// mark is how much was gathered, for cut.
type mark struct{ events, audit, refunds, keys, moves, flushes int }

func (g *gathered) mark() mark {
	return mark{len(g.events), len(g.audit), len(g.refunds), len(g.keys), len(g.moves), g.flushes}
}

// cut drops what was gathered after m.
func (g *gathered) cut(m mark) {
	for _, r := range g.refunds[m.refunds:] {
		delete(g.ids, r.ID)
	}
	clear(g.events[m.events:])
	clear(g.audit[m.audit:])
	clear(g.refunds[m.refunds:])
	clear(g.keys[m.keys:])
	g.events, g.audit = g.events[:m.events], g.audit[:m.audit]
	g.refunds, g.keys, g.moves = g.refunds[:m.refunds], g.keys[:m.keys], g.moves[:m.moves]
}

// addRefund gathers a new refund and its lines.
func (g *gathered) addRefund(r *refundry.Refund) {
	if g.ids == nil {
		g.ids = map[string]bool{}
	}
	g.refunds = append(g.refunds, r)
	g.ids[r.ID] = true
}

// moveSale makes on sale, as read from its rows, the moves gathered on
// them and not yet written.
func (g *gathered) moveSale(sale *refundry.Sale) {
	for _, m := range g.moves {
		if m.Kind != refundry.OnSale || m.ID == sale.ID {
			// A line or payment is found by its id among the sale's.
			moveSale(sale, m, false)
		}
	}
}

// holdsRows reports whether rows that other statements may read wait to
// be written.
func (g *gathered) holdsRows() bool {
	return g != nil && !g.flushing && g.err == nil && (len(g.refunds) > 0 || len(g.keys) > 0 || len(g.moves) > 0)
}

// holdsRefund reports whether the refund id waits to be written.
func (g *gathered) holdsRefund(id string) bool {
	return g.holdsRows() && g.ids[id]
}

// holdsKey reports whether the key of merchantID waits to be written.
func (g *gathered) holdsKey(merchantID, key string) bool {
	for _, k := range g.keys {
		if k.key == key && k.merchantID == merchantID {
			return true
		}
	}
	return false
}

// keepsGathered are the statements of a batch that read nothing of the
// gathered refunds, their lines and keys, nor the rows the gathered
// moves change, nor need them for a foreign key: the sale cache's check,
// the lookup of a key seenKey has first sought among those gathered, and
// the settlement of a refund that is not one of them (settleRow). Every
// other statement writes the gathered rows first.
var keepsGathered = map[string]bool{}

// keepGathered adds text to keepsGathered and returns it.
func keepGathered(text string) string {
	keepsGathered[text] = true
	return text
}

// flushRows writes the gathered refunds, their lines and keys, in the
// order they were gathered, and forgets them.
func (g *gathered) flushRows(ctx context.Context, t *tx) error {
	if !g.holdsRows() {
		return nil
	}
	g.flushing = true
	defer func() { g.flushing = false }()
	if err := g.writeRows(ctx, t); err != nil {
		g.err = err
		return err
	}
	clear(g.refunds)
	clear(g.keys)
	clear(g.ids)
	g.refunds, g.keys, g.moves = g.refunds[:0], g.keys[:0], g.moves[:0]
	g.flushes++
	return nil
}

// writeRows is flushRows' writing.
func (g *gathered) writeRows(ctx context.Context, t *tx) error {
	err := insertChunks(ctx, t, refundInserts, len(g.refunds), func(args []any, i int) []any {
		return appendRefundRow(args, g.refunds[i])
	})
	if err != nil {
		return err
	}
	var lines []lineRow
	for _, r := range g.refunds {
		for _, l := range r.Lines {
			lines = append(lines, lineRow{r.ID, l})
		}
	}
	err = insertChunks(ctx, t, refundLineInserts, len(lines), func(args []any, i int) []any {
		l := lines[i]
		return append(args, l.refundID, l.LineItemID, l.Quantity, l.Amount)
	})
	if err != nil {
		return err
	}
	err = insertChunks(ctx, t, keyInserts, len(g.keys), func(args []any, i int) []any {
		k := g.keys[i]
		return append(args, k.merchantID, k.key, k.hash, k.resource, k.ids, k.related, k.created)
	})
	if err != nil {
		return err
	}
	return writeMoves(ctx, t, g.moves)
}

// lineRow is one refund_lines row to write.
type lineRow struct {
	refundID string
	refundry.RefundLine
}

// flush writes what was gathered and empties g.
func (g *gathered) flush(ctx context.Context, t *tx) error {
	if g.err != nil {
		return g.err
	}
	if err := g.flushRows(ctx, t); err != nil {
		return err
	}
	err := insertChunks(ctx, t, eventInserts, len(g.events), func(args []any, i int) []any {
		e := g.events[i]
		return append(args, e.ID, e.MerchantID, e.Type, e.ObjectType, e.ObjectID, string(e.Data), micros(e.Created))
	})
	if err != nil {
		return err
	}
	err = insertChunks(ctx, t, auditInserts, len(g.audit), func(args []any, i int) []any {
		e := g.audit[i]
		return append(args, e.ID, e.MerchantID, e.Actor.KeyID, e.Actor.UserID, e.Action, e.ObjectID, e.Result, e.Actor.RemoteAddr,
			e.Actor.RequestID, e.Actor.Method, e.Actor.Path, e.Note, micros(e.Created))
	})
	if err != nil {
		return err
	}
	g.cut(mark{})
	return nil
}

// chunkSizes are the row counts of the multi-row INSERTs, largest first:
// n rows go in at most one statement per size and one per 64 beyond,
// and each table has only these few texts in the statement cache.
var chunkSizes = []int{64, 32, 16, 8, 4, 2, 1}

// multiInsert is one table's INSERT texts, one per chunk size.
type multiInsert map[int]string

func newMultiInsert(head string, columns int) multiInsert {
	return newMultiRow(head+" VALUES ", columns, "")
}

// newMultiRow is the texts of a statement of many rows, one per chunk
// size: head, the rows' placeholders, tail.
func newMultiRow(head string, columns int, tail string) multiInsert {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", columns), ", ") + ")"
	m := multiInsert{}
	for _, n := range chunkSizes {
		m[n] = head + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + tail
	}
	return m
}

var (
	refundInserts = newMultiInsert(`INSERT INTO refunds (id, merchant_id, grp, sale_id, transaction_id, line_item_id, amount, fee,
		currency, status, reason, metadata, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name,
		external_id, created_source, refunded_at, created, updated, description, gateway_reason,
		requested_by, decided_by, decision_note, review_reason, approval_expires_at, return_id)`, refundInsertColumns)
	refundLineInserts = newMultiInsert(`INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount)`, 4)
	keyInserts        = newMultiInsert(`INSERT INTO idempotency_keys (merchant_id, key, hash, resource_type, resource_ids, related_ids, created)`, 7)
	eventInserts      = newMultiInsert(`INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created)`, 7)
	auditInserts      = newMultiInsert(`INSERT INTO audit_log (id, merchant_id, key_id, user_id, action, object_id, result, remote_addr,
		request_id, method, path, note, created)`, 13)
)

// insertChunks inserts n rows, in order, in statements of chunkSizes
// rows; add appends row i's values to args.
func insertChunks(ctx context.Context, t *tx, texts multiInsert, n int, add func(args []any, i int) []any) error {
	_, err := execChunks(ctx, t, texts, n, add)
	return err
}

// execChunks runs texts for n rows as insertChunks does and returns the
// rows the statements changed.
func execChunks(ctx context.Context, t *tx, texts multiInsert, n int, add func(args []any, i int) []any) (int64, error) {
	var changed int64
	var args []any
	for i := 0; i < n; {
		size := chunkSizes[len(chunkSizes)-1]
		for _, c := range chunkSizes {
			if c <= n-i {
				size = c
				break
			}
		}
		args = args[:0]
		for k := i; k < i+size; k++ {
			args = add(args, k)
		}
		res, err := t.ExecContext(ctx, texts[size], args...)
		if err != nil {
			return changed, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return changed, err
		}
		changed += k
		i += size
	}
	return changed, nil
}
