package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationLock is the advisory lock key that serializes migrations of one
// database: any constant shared by every Refundry process will do.
const migrationLock int64 = 0x5265_6675_6e64_7279 // "Refundry"

// migrations returns the embedded files in version order. Names are
// NNNN_name.sql; a duplicate or malformed version is a build mistake.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, path := range names {
		base := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must be NNNN_name.sql", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("postgres: migrations %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFS.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies every migration not yet recorded in schema_migrations,
// each in its own transaction together with its record, so that a crash
// leaves each one either fully applied and recorded or not at all.
//
// Two processes starting at once must not both apply a migration: each
// transaction first takes a transaction-scoped advisory lock, then checks
// the record. The transactions run at READ COMMITTED whatever the
// session's default, because the check must see what the lock's previous
// holder committed, which a snapshot taken before the lock was granted
// would not. This is the one place the store uses an advisory lock; it is
// start-up only, never the hot path.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	opts := pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	// CREATE TABLE IF NOT EXISTS is not safe against itself when run
	// concurrently (both may pass the check, then one fails on the
	// catalog's unique index), so the bootstrap takes the lock too.
	err = pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name    TEXT NOT NULL,
			applied TIMESTAMPTZ NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", translate(err))
	}
	for _, m := range ms {
		err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// Exec without arguments uses the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)`, m.version, m.name, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, translate(err))
		}
	}
	err = pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		return rebaseEventCursor(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("postgres: event cursor: %w", translate(err))
	}
	return nil
}

// runningNow is the snapshot of now with the current transaction, and
// every id given out before it, counted as running: its xmax is one past
// the last transaction to have ended, which may lie below this one.
const runningNow = `(SELECT (LEAST(pg_snapshot_xmin(s)::text::numeric, x)::text || ':' ||
		GREATEST(pg_snapshot_xmax(s)::text::numeric, x + 1)::text || ':' ||
		(SELECT string_agg(v::text, ',' ORDER BY v) FROM (
			SELECT pg_snapshot_xip(s)::text::numeric AS v
			UNION SELECT generate_series(LEAST(pg_snapshot_xmax(s)::text::numeric, x), x)) AS running))::pg_snapshot
	FROM pg_current_snapshot() AS s, CAST(pg_current_xact_id()::text AS numeric) AS x)`

// rebaseEventCursor mends the outbox's cursor (migration 0021) of a
// database restored with pg_restore into another cluster. Its snapshot
// then holds the old cluster's transaction ids, and if those lie beyond
// every id this cluster has given out (which no snapshot of this
// cluster's own can), the events this cluster inserts would seem
// dispatched already, or lie below the cursor, and never be dispatched.
// The events the old cluster had dispatched lose their transaction id,
// the others take this transaction's, which the new cursor counts as
// running, so the next pass dispatches them. Those of a pass cut short
// by its limit are read again; their deliveries exist, and the unique
// (endpoint_id, event_id) makes none twice.
func rebaseEventCursor(ctx context.Context, tx pgx.Tx) error {
	var foreign bool
	if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmax(done) > pg_snapshot_xmax(pg_current_snapshot())
		FROM event_cursor WHERE id = 1`).Scan(&foreign); err != nil || !foreign {
		return err
	}
	for _, q := range []string{
		`UPDATE events SET xid = NULL WHERE pg_visible_in_snapshot(xid, (SELECT done FROM event_cursor WHERE id = 1))`,
		`UPDATE events SET xid = pg_current_xact_id() WHERE xid IS NOT NULL`,
		`UPDATE event_cursor SET pass = pass + 1, done = ` + runningNow + `, upto = NULL,
			xid = '0', created = '-infinity', event_id = '' WHERE id = 1`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
