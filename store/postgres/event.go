package postgres

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// insertEvents appends events in the caller's transaction: the outbox
// gains them exactly when the change they describe commits.
func insertEvents(ctx context.Context, tx pgx.Tx, evs ...*refundry.Event) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueEvents(b, evs...)
	return tx.SendBatch(ctx, b).Close()
}

// queueEvents is insertEvents, queued on b with the change the events
// describe.
func queueEvents(b *pgx.Batch, evs ...*refundry.Event) {
	for _, ev := range evs {
		b.Queue(`INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			ev.ID, ev.MerchantID, ev.Type, ev.ObjectType, ev.ObjectID, string(ev.Data), normTime(ev.Created))
	}
}

// ListEvents returns one page, newest first, and whether more follow.
func (s *Store) ListEvents(ctx context.Context, merchantID string, f refundry.EventFilter) ([]*refundry.Event, bool, error) {
	if err := f.Page.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	if len(f.Types) > 0 {
		for _, t := range f.Types {
			if !slices.Contains(refundry.EventTypes, t) {
				return nil, false, refundry.ParamErrorf(refundry.EINVALID, "type", "Unknown event type %q.", t)
			}
		}
		w.add("type = ANY($%d)", f.Types)
	}
	if f.ObjectID != "" {
		w.add("object_id = $%d", f.ObjectID)
	}
	q := `SELECT id, merchant_id, type, object_type, object_id, data, created FROM events WHERE ` + w.page("id", f.Page)
	var out []*refundry.Event
	var more bool
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, w.args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Event, error) {
			ev := &refundry.Event{}
			var data string
			if err := row.Scan(&ev.ID, &ev.MerchantID, &ev.Type, &ev.ObjectType, &ev.ObjectID, &data, &ev.Created); err != nil {
				return nil, err
			}
			ev.Data = json.RawMessage(data)
			ev.Created = ev.Created.UTC()
			return ev, nil
		})
		if err != nil {
			return err
		}
		out, more = trimPage(out, f.Page)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}
