package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

const insertAuditSQL = `INSERT INTO audit_log (id, merchant_id, key_id, user_id, action, object_id, result, remote_addr,
	request_id, method, path, note, created)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// auditArgs is every audit row's way into the table: through Storable,
// since text PostgreSQL refuses (a NUL from a path with %00) would lose
// the row, and with it the write.
func auditArgs(entry *refundry.AuditEntry) []any {
	e := entry.Storable()
	return []any{e.ID, e.MerchantID, e.Actor.KeyID, e.Actor.UserID, e.Action, e.ObjectID, e.Result, e.Actor.RemoteAddr,
		e.Actor.RequestID, e.Actor.Method, e.Actor.Path, e.Note, normTime(e.Created)}
}

// audit records successful writes in the audit log, in the writes' own
// transaction (inside its savepoint under group commit, so a neighbour's
// failure never takes these rows with it, nor leaves a row for a write
// that was rolled back). Without an actor in ctx it writes nothing; with
// several objects it is still one round trip.
func audit(ctx context.Context, tx pgx.Tx, merchantID, action string, now time.Time, objectIDs ...string) error {
	if _, ok := refundry.ActorFrom(ctx); !ok {
		return nil
	}
	if len(objectIDs) == 1 {
		e := refundry.NewAuditEntry(ctx, merchantID, action, objectIDs[0], now)
		_, err := tx.Exec(ctx, insertAuditSQL, auditArgs(e)...)
		return err
	}
	b := &pgx.Batch{}
	queueAudit(ctx, b, merchantID, action, now, objectIDs...)
	return tx.SendBatch(ctx, b).Close()
}

// queueAudit is audit for a write that sends its statements as one batch.
func queueAudit(ctx context.Context, b *pgx.Batch, merchantID, action string, now time.Time, objectIDs ...string) {
	for _, id := range objectIDs {
		if e := refundry.NewAuditEntry(ctx, merchantID, action, id, now); e != nil {
			b.Queue(insertAuditSQL, auditArgs(e)...)
		}
	}
}

// RecordAudit stores an entry on its own: a refused write, which changed
// nothing.
func (s *Store) RecordAudit(ctx context.Context, e *refundry.AuditEntry) error {
	if e.ID == "" {
		e.ID = refundry.NewID()
	}
	if e.Created.IsZero() {
		e.Created = s.now()
	}
	e.Created = normTime(e.Created)
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insertAuditSQL, auditArgs(e)...)
		return err
	})
}

// ListAuditLog returns one page of the merchant's audit log, newest first.
func (s *Store) ListAuditLog(ctx context.Context, merchantID string, f refundry.AuditFilter) ([]*refundry.AuditEntry, bool, error) {
	if err := f.Page.Normalize(); err != nil {
		return nil, false, err
	}
	w := newWhere("merchant_id", merchantID)
	if f.KeyID != "" {
		w.add("key_id = $%d", f.KeyID)
	}
	if f.Action != "" {
		w.add("action = $%d", f.Action)
	}
	if !f.CreatedFrom.IsZero() {
		w.add("created >= $%d", normTime(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		w.add("created < $%d", normTime(f.CreatedTo))
	}
	q := `SELECT id, merchant_id, key_id, user_id, action, object_id, result, remote_addr, request_id, method, path, note,
		created FROM audit_log WHERE ` + w.page("id", f.Page)
	var out []*refundry.AuditEntry
	err := s.read(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, q, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e refundry.AuditEntry
			if err := rows.Scan(&e.ID, &e.MerchantID, &e.Actor.KeyID, &e.Actor.UserID, &e.Action, &e.ObjectID, &e.Result,
				&e.Actor.RemoteAddr, &e.Actor.RequestID, &e.Actor.Method, &e.Actor.Path, &e.Note, &e.Created); err != nil {
				return err
			}
			e.Created = e.Created.UTC()
			out = append(out, &e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	out, more := trimPage(out, f.Page)
	return out, more, nil
}
