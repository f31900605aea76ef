package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/refundry/refundry/store/sqlite"
)

type backupCommand struct{}

// Run copies a SQLite database to --out while serve may be running on it
// (see sqlite.Store.Backup). PostgreSQL has its own tools for this; the
// command says which rather than doing half a job.
func (c *backupCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refundry backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the backup to; must not exist (required)")
	db := fs.String("db", "", "database: sqlite:PATH (default "+defaultDB+")")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: refundry backup --out FILE [--db sqlite:PATH]\n\nWrites a consistent copy of a SQLite database, safe while serve runs on it.\nFor PostgreSQL, use pg_dump (see docs/operations.md).")
		fs.PrintDefaults()
	}
	if err := parseFlagsEnv(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("backup takes no arguments, got %q", fs.Arg(0))}
	}
	url := dbFlag(*db, getenv)
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return usageError{"refundry backup copies SQLite databases only; back up PostgreSQL with pg_dump, e.g.\n  pg_dump --format=custom --file=refundry.dump \"$REFUNDRY_DB\"\n(see docs/operations.md)"}
	}
	if *out == "" {
		fs.Usage()
		return usageError{"--out is required"}
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	if path == "" {
		return usageError{"--db sqlite: needs a file path, as in sqlite:refundry.db"}
	}
	if _, err := os.Stat(path); err != nil {
		// Opening would create an empty database: a backup of nothing.
		return fmt.Errorf("no database at %s: %w", path, err)
	}
	if same(path, *out) {
		return usageError{"--out names the database itself"}
	}
	if _, err := os.Stat(*out); err == nil {
		return usageError{fmt.Sprintf("--out %s already exists; a backup never overwrites", *out)}
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Backup(ctx, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", path, *out)
	return nil
}

// same reports whether two paths name one file, as far as can be told
// before the second exists.
func same(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
