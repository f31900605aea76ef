package sqlite

import (
	"context"
	"slices"

	"github.com/refundry/refundry"
)

// appendEvent records a state change in the transaction that makes it; the
// event's data is the object as it is after the change.
func appendEvent(ctx context.Context, tx *tx, merchantID, typ, objectType, objectID string, object any) error {
	e, err := refundry.NewEvent(merchantID, typ, objectType, objectID, object, tx.now)
	if err != nil {
		return err
	}
	return insertEvent(ctx, tx, e)
}

// insertEvent appends an event made already, by a decision.
func insertEvent(ctx context.Context, tx *tx, e *refundry.Event) error {
	if tx.gather != nil {
		tx.gather.events = append(tx.gather.events, e)
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.MerchantID, e.Type, e.ObjectType, e.ObjectID, string(e.Data), micros(e.Created))
	return err
}

// ListEvents returns one page, newest first, and whether more follow.
func (s *Store) ListEvents(ctx context.Context, merchantID string, f refundry.EventFilter) ([]*refundry.Event, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	if len(f.Types) > 0 {
		for _, t := range f.Types {
			if !slices.Contains(refundry.EventTypes, t) {
				return nil, false, refundry.ParamErrorf(refundry.EINVALID, "types", "Unknown event type %q.", t)
			}
		}
		q.in("type", f.Types)
	}
	if f.ObjectID != "" {
		q.add("object_id = ?", f.ObjectID)
	}
	tail := q.page("id", f.Page)
	var events []*refundry.Event
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, merchant_id, type, object_type, object_id, data, created FROM events`+q.sql()+tail, q.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e refundry.Event
			var data string
			var created int64
			if err := rows.Scan(&e.ID, &e.MerchantID, &e.Type, &e.ObjectType, &e.ObjectID, &data, &created); err != nil {
				return err
			}
			e.Data = []byte(data)
			e.Created = fromMicros(created)
			events = append(events, &e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	events, more := trim(events, f.Page)
	return events, more, nil
}
