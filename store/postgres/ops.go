package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ping reports whether a connection of the pool reaches the server; it
// fails once the store is closed. For readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// CheckWritable proves the database accepts writes with a real one: it
// rewrites the one row of heartbeat and commits. A standby after a
// failover, a database set default_transaction_read_only, or a full disk
// answers ping and reads as usual; only a write tells. It returns the
// write's error, EUNAVAILABLE naming the reason (see translate). For
// readiness checks.
func (s *Store) CheckWritable(ctx context.Context) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE heartbeat SET beat = $1 WHERE id = 1`, s.now())
		return err
	})
}

// CheckMigrations returns an error naming the first embedded migration
// that the database has not recorded as applied. Open applies them all,
// so this fails only if the schema was changed behind the store's back.
// A database migrated further by a newer Refundry passes: during a rolling
// upgrade the older processes keep serving.
func (s *Store) CheckMigrations(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		var done bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
			return fmt.Errorf("postgres: read schema_migrations: %w", err)
		}
		if !done {
			return fmt.Errorf("postgres: migration %s is not applied", m.name)
		}
	}
	return nil
}

// PoolStat returns the connection pool's statistics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }
