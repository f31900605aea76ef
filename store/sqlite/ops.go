package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
)

// Ping reports whether both pools can reach the database file; it fails
// once the store is closed. For readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: write pool: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: read pool: %w", err)
	}
	return nil
}

// CheckWritable proves the database accepts writes with a real one: it
// rewrites the one row of heartbeat through the write connection and
// commits. A read-only file, or a disk with no room for the commit, opens,
// pings and reads as usual; only a write tells. It returns the write's
// error, EUNAVAILABLE naming the reason (see translate). For readiness
// checks.
func (s *Store) CheckWritable(ctx context.Context) error {
	return s.updateKeeping(ctx, func(t *tx) error {
		_, err := t.ExecContext(ctx, `UPDATE heartbeat SET beat = ? WHERE id = 1`, micros(t.now))
		return err
	})
}

// CheckMigrations returns an error naming the first embedded migration
// that the database has not recorded as applied. Open applies them all,
// so this fails only if the schema was changed behind the store's back
// (a restore of an older backup into a running server's file, say).
func (s *Store) CheckMigrations(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, filepath.Base(name)).Scan(&n)
		if err != nil {
			return fmt.Errorf("sqlite: read schema_migrations: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: migration %s is not applied", filepath.Base(name))
		}
	}
	return nil
}

// PoolStats returns the statistics of the write and read pools.
func (s *Store) PoolStats() (write, read sql.DBStats) {
	return s.write.Stats(), s.read.Stats()
}

// Backup writes a consistent copy of the database to path with VACUUM
// INTO, safe while the store serves: VACUUM INTO reads in one read
// transaction, a WAL snapshot, so writers go on committing meanwhile and
// the copy holds exactly the transactions committed when it began. The
// copy is written under a temporary name, fsynced, and renamed into
// place, so path never holds half a backup, even after a crash. Returns
// an error if path exists.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("sqlite: backup: %s already exists", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	// VACUUM INTO refuses an existing non-empty file only; the empty one
	// just made reserves the name in the target directory.
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()
	if err := s.vacuumInto(ctx, tmpPath); err != nil {
		return fmt.Errorf("sqlite: backup: VACUUM INTO: %w", err)
	}
	// VACUUM INTO does not fsync what it wrote.
	if err := syncFile(tmpPath); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := os.Link(tmpPath, path); err != nil {
		// Link, not Rename: it fails if path appeared meanwhile instead
		// of replacing it.
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	done = true
	os.Remove(tmpPath)
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// vacuumInto runs VACUUM INTO on a connection of its own: the read pool's
// connections are query_only, which SQLite applies to VACUUM INTO too,
// and the one write connection must stay free for refunds. The database
// file's path is asked of SQLite itself.
func (s *Store) vacuumInto(ctx context.Context, dst string) error {
	var file string
	if err := s.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		return err
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	db, err := sql.Open("sqlite", file+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, dst)
	return err
}
