package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// CreateSession stores a new session and deletes those expired before it
// began, so that the table holds the sessions live lately and no more.
func (s *Store) CreateSession(ctx context.Context, ds *refundry.DashboardSession) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions WHERE expires <= $1`, normTime(ds.Created)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO dashboard_sessions (hash, merchant_id, key_id, user_id, created, seen, expires)
			SELECT $1, id, $3, $4, $5, $6, $7 FROM merchants WHERE id = $2`, ds.Hash, ds.MerchantID, ds.KeyID, ds.UserID,
			normTime(ds.Created), normTime(ds.Seen), normTime(ds.Expires))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refundry.Errorf(refundry.ENOTFOUND, "No such merchant: %s", ds.MerchantID)
		}
		return nil
	})
}

// FindSession returns the session with that hash unless it expired.
func (s *Store) FindSession(ctx context.Context, hash string, now time.Time) (*refundry.DashboardSession, error) {
	var ds refundry.DashboardSession
	err := s.reads().QueryRow(ctx, `SELECT hash, merchant_id, key_id, user_id, created, seen, expires
		FROM dashboard_sessions WHERE hash = $1 AND expires > $2`, hash, normTime(now)).
		Scan(&ds.Hash, &ds.MerchantID, &ds.KeyID, &ds.UserID, &ds.Created, &ds.Seen, &ds.Expires)
	if err != nil {
		return nil, notFound(err, "No such session.")
	}
	ds.Created, ds.Seen, ds.Expires = ds.Created.UTC(), ds.Seen.UTC(), ds.Expires.UTC()
	return &ds, nil
}

// TouchSession records a use of the session.
func (s *Store) TouchSession(ctx context.Context, ds *refundry.DashboardSession) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE dashboard_sessions SET seen = $2, expires = $3 WHERE hash = $1`,
			ds.Hash, normTime(ds.Seen), normTime(ds.Expires))
		return err
	})
}

// DeleteSession ends the session with that hash.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions WHERE hash = $1`, hash)
		return err
	})
}

// TakeLease gives the lease to holder if it is free at now. The upsert
// is one statement, so two nodes asking at once cannot both get it: the
// second waits for the first's row and then finds it held.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var got bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE leases.until <= $4 OR leases.holder = excluded.holder`, name, holder, normTime(until), normTime(now))
		got = tag.RowsAffected() == 1
		return err
	})
	return got, err
}

// rateKeep is how long a window's count is kept after it starts: far
// longer than any window a limit uses.
const rateKeep = 10 * time.Minute

// CountRequest adds one to key's count in the window starting at start:
// one statement outside any explicit transaction, on an UNLOGGED table,
// so PostgreSQL commits it without flushing WAL or waiting for the
// synchronous standby. Once a minute a node also drops the windows that
// ended long ago.
func (s *Store) CountRequest(ctx context.Context, key string, start time.Time) (int64, error) {
	ms := start.UnixMilli()
	minute := ms / time.Minute.Milliseconds()
	if last := s.ratePruned.Load(); minute > last && s.ratePruned.CompareAndSwap(last, minute) {
		if _, err := s.pool.Exec(ctx, `DELETE FROM rate_windows WHERE window_start < $1`, ms-rateKeep.Milliseconds()); err != nil {
			return 0, translate(err)
		}
	}
	var hits int64
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_windows (key_id, window_start, hits) VALUES ($1, $2, 1)
		ON CONFLICT (key_id, window_start) DO UPDATE SET hits = rate_windows.hits + 1 RETURNING hits`, key, ms).Scan(&hits)
	if err != nil {
		return 0, translate(err)
	}
	return hits, nil
}
