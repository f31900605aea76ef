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
type gathered struct {
	events []*refundry.Event
	audit  []*refundry.AuditEntry
}

// mark is how much was gathered, for cut.
type mark struct{ events, audit int }

func (g *gathered) mark() mark { return mark{len(g.events), len(g.audit)} }

// cut drops what was gathered after m.
func (g *gathered) cut(m mark) {
	clear(g.events[m.events:])
	clear(g.audit[m.audit:])
	g.events, g.audit = g.events[:m.events], g.audit[:m.audit]
}

// flush writes what was gathered and empties g.
func (g *gathered) flush(ctx context.Context, t *tx) error {
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
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", columns), ", ") + ")"
	m := multiInsert{}
	for _, n := range chunkSizes {
		m[n] = head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	}
	return m
}

var (
	eventInserts = newMultiInsert(`INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created)`, 7)
	auditInserts = newMultiInsert(`INSERT INTO audit_log (id, merchant_id, key_id, user_id, action, object_id, result, remote_addr,
		request_id, method, path, note, created)`, 13)
)

// insertChunks inserts n rows, in order, in statements of chunkSizes
// rows; add appends row i's values to args.
func insertChunks(ctx context.Context, t *tx, texts multiInsert, n int, add func(args []any, i int) []any) error {
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
		if _, err := t.ExecContext(ctx, texts[size], args...); err != nil {
			return err
		}
		i += size
	}
	return nil
}
