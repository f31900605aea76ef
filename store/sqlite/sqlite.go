// Package sqlite implements refundry.Store on SQLite (modernc.org/sqlite,
// pure Go): the embedded default, one file, no server to install.
//
// One connection writes, every write transaction begins IMMEDIATE, and a
// separate pool reads. SQLite allows one writer at a time anyway; holding
// the write lock from the first statement means a transaction never reads,
// then finds the lock taken by another writer and has to fail with
// SQLITE_BUSY half-way. Readers in WAL mode never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/refundry/refundry"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ refundry.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a connection waits for another process's lock
// before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a refundry.Store backed by one SQLite file.
type Store struct {
	// Now is the clock for every timestamp the store assigns; tests
	// replace it. It is read once per transaction.
	Now func() time.Time

	write *sql.DB
	read  *sql.DB
}

// Open opens (creating if need be) the database at path and applies any
// migration not yet applied.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, refundry.Errorf(refundry.EINVALID, "The SQLite database path is empty.")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	s := &Store{Now: time.Now}

	// synchronous=FULL fsyncs the WAL at every commit: a refund answered
	// 2xx survives kill -9 and power loss (invariant 3). NORMAL would lose
	// the last commits on power loss.
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	w := url.Values{"_txlock": {"immediate"}}
	w["_pragma"] = append(append([]string{}, common["_pragma"]...), "journal_mode(WAL)", "synchronous(FULL)")
	var err error
	if s.write, err = sql.Open("sqlite", path+"?"+w.Encode()); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.write.PingContext(ctx); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.write.Close()
		return nil, err
	}

	// query_only makes a write through the read pool an error, not a
	// second writer racing the first.
	r := url.Values{}
	r["_pragma"] = append(append([]string{}, common["_pragma"]...), "query_only(1)")
	if s.read, err = sql.Open("sqlite", path+"?"+r.Encode()); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, runtime.NumCPU())
	s.read.SetMaxOpenConns(n)
	s.read.SetMaxIdleConns(n)
	return s, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	return errors.Join(errs...)
}

// migrate applies, in name order, every embedded migration not yet
// recorded in schema_migrations, each in its own transaction with its
// record, so a crash leaves each one either applied and recorded or
// neither. BEGIN IMMEDIATE serializes two processes opening one file.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name    TEXT PRIMARY KEY,
		applied INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.migrateOne(ctx, name); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

func (s *Store) migrateOne(ctx context.Context, name string) error {
	text, err := fs.ReadFile(migrations, name)
	if err != nil {
		return err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, filepath.Base(name)).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(text)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied) VALUES (?, ?)`,
		filepath.Base(name), micros(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// tx is one database transaction and the time it acts at, so that every
// timestamp written by one request is the same instant.
type tx struct {
	*sql.Tx
	now time.Time
}

// update runs fn in a write transaction and commits it if fn succeeds.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	// A no-op after Commit; otherwise it frees the one write connection,
	// even if fn panics.
	defer t.Rollback()
	if err := fn(&tx{Tx: t, now: utc(s.Now())}); err != nil {
		return translate(err)
	}
	// The commit is the durable acknowledgement: with synchronous=FULL it
	// returns only once the WAL is on disk.
	return translate(t.Commit())
}

// view runs fn in a read transaction, one consistent snapshot.
func (s *Store) view(ctx context.Context, fn func(*tx) error) error {
	t, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return translate(err)
	}
	defer t.Rollback()
	return translate(fn(&tx{Tx: t, now: utc(s.Now())}))
}

// utc is the form of every stored time: UTC, to the microsecond, as
// PostgreSQL keeps it, so both stores answer alike.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }
