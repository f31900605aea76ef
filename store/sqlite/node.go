package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/refundry/refundry"
)

// CreateSession stores a new session and deletes those expired before it
// began, so that the table holds the sessions live lately and no more.
func (s *Store) CreateSession(ctx context.Context, ds *refundry.DashboardSession) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		if _, err := findMerchant(ctx, tx, `id = ?`, ds.MerchantID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE expires <= ?`, micros(ds.Created)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO dashboard_sessions (hash, merchant_id, key_id, user_id, created, seen, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, ds.Hash, ds.MerchantID, ds.KeyID, ds.UserID,
			micros(ds.Created), micros(ds.Seen), micros(ds.Expires))
		return err
	})
}

// FindSession returns the session with that hash unless it expired.
func (s *Store) FindSession(ctx context.Context, hash string, now time.Time) (*refundry.DashboardSession, error) {
	var out *refundry.DashboardSession
	err := s.view(ctx, func(tx *tx) error {
		var ds refundry.DashboardSession
		var created, seen, expires int64
		err := tx.QueryRowContext(ctx, `SELECT hash, merchant_id, key_id, user_id, created, seen, expires
			FROM dashboard_sessions WHERE hash = ? AND expires > ?`, hash, micros(now)).
			Scan(&ds.Hash, &ds.MerchantID, &ds.KeyID, &ds.UserID, &created, &seen, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return refundry.Errorf(refundry.ENOTFOUND, "No such session.")
		} else if err != nil {
			return err
		}
		ds.Created, ds.Seen, ds.Expires = fromMicros(created), fromMicros(seen), fromMicros(expires)
		out = &ds
		return nil
	})
	return out, err
}

// TouchSession records a use of the session.
func (s *Store) TouchSession(ctx context.Context, ds *refundry.DashboardSession) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE dashboard_sessions SET seen = ?, expires = ? WHERE hash = ?`,
			micros(ds.Seen), micros(ds.Expires), ds.Hash)
		return err
	})
}

// DeleteSession ends the session with that hash.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	return s.updateKeeping(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE hash = ?`, hash)
		return err
	})
}

// TakeLease gives the lease to holder if it is free at now.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var got bool
	err := s.updateKeeping(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE leases.until <= ? OR leases.holder = excluded.holder`, name, holder, micros(until), micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		got = n == 1
		return err
	})
	return got, err
}

// rateCounts are the rate limit's counts of a SQLite database, kept in
// memory: one process serves a SQLite file, and a count written to it
// would take the write lock, and an fsync, from the refunds on every
// request.
type rateCounts struct {
	mu     sync.Mutex
	counts map[rateWindowKey]int64
	// newest is the latest window start counted; windows more than
	// rateKeep older are dropped when it moves.
	newest time.Time
}

type rateWindowKey struct {
	key   string
	start int64
}

// rateKeep is how long a window's count is kept after it starts: far
// longer than any window a limit uses.
const rateKeep = 10 * time.Minute

// CountRequest adds one to key's count in the window starting at start.
func (s *Store) CountRequest(ctx context.Context, key string, start time.Time) (int64, error) {
	r := &s.rates
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[rateWindowKey]int64{}
	}
	if start.After(r.newest) {
		if start.Sub(r.newest) >= time.Second {
			for k := range r.counts {
				if start.UnixMilli()-k.start >= rateKeep.Milliseconds() {
					delete(r.counts, k)
				}
			}
		}
		r.newest = start
	}
	k := rateWindowKey{key, start.UnixMilli()}
	r.counts[k]++
	return r.counts[k], nil
}
