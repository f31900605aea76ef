package sqlite

import (
	"context"

	"github.com/refundry/refundry"
)

// audit records a successful write in the audit log, in the write's own
// transaction. Under group commit the row is gathered and written at the
// end of the batch (gathered), and dropped if its write fails, so a
// neighbour's failure never takes this row with it, nor leaves a row for
// a write that was rolled back. Without an actor in ctx it writes nothing.
func audit(ctx context.Context, tx *tx, merchantID, action, objectID string) error {
	return auditNote(ctx, tx, merchantID, action, objectID, "")
}

// auditNote is audit with the reason a person gave (AuditEntry.Note).
func auditNote(ctx context.Context, tx *tx, merchantID, action, objectID, note string) error {
	e := refundry.NewAuditEntry(ctx, merchantID, action, objectID, tx.now)
	if e == nil {
		return nil
	}
	e.Note = note
	return insertAudit(ctx, tx, e)
}

// insertAudit is every audit row's way into the table: through Storable,
// so that SQLite keeps the very text PostgreSQL does.
func insertAudit(ctx context.Context, tx *tx, entry *refundry.AuditEntry) error {
	e := entry.Storable()
	if tx.gather != nil {
		tx.gather.audit = append(tx.gather.audit, &e)
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, merchant_id, key_id, user_id, action, object_id, result, remote_addr,
		request_id, method, path, note, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.MerchantID, e.Actor.KeyID, e.Actor.UserID, e.Action, e.ObjectID, e.Result, e.Actor.RemoteAddr, e.Actor.RequestID,
		e.Actor.Method, e.Actor.Path, e.Note, micros(e.Created))
	return err
}

// RecordAudit stores an entry on its own: a refused write, which changed
// nothing.
func (s *Store) RecordAudit(ctx context.Context, e *refundry.AuditEntry) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		if e.ID == "" {
			e.ID = refundry.NewID()
		}
		if e.Created.IsZero() {
			e.Created = tx.now
		}
		e.Created = utc(e.Created)
		return insertAudit(ctx, tx, e)
	})
}

// ListAuditLog returns one page of the merchant's audit log, newest first.
func (s *Store) ListAuditLog(ctx context.Context, merchantID string, f refundry.AuditFilter) ([]*refundry.AuditEntry, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	var q query
	q.add("merchant_id = ?", merchantID)
	if f.KeyID != "" {
		q.add("key_id = ?", f.KeyID)
	}
	if f.Action != "" {
		q.add("action = ?", f.Action)
	}
	if !f.CreatedFrom.IsZero() {
		q.add("created >= ?", micros(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		q.add("created < ?", micros(f.CreatedTo))
	}
	tail := q.page("id", f.Page)
	var out []*refundry.AuditEntry
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, merchant_id, key_id, user_id, action, object_id, result, remote_addr, request_id, method, path,
			note, created FROM audit_log`+q.sql()+tail, q.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e refundry.AuditEntry
			var created int64
			if err := rows.Scan(&e.ID, &e.MerchantID, &e.Actor.KeyID, &e.Actor.UserID, &e.Action, &e.ObjectID, &e.Result,
				&e.Actor.RemoteAddr, &e.Actor.RequestID, &e.Actor.Method, &e.Actor.Path, &e.Note, &created); err != nil {
				return err
			}
			e.Created = fromMicros(created)
			out = append(out, &e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	out, more := trim(out, f.Page)
	return out, more, nil
}
