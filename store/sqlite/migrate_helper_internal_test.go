package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"sort"
	"testing"
)

// migratedBefore makes a database file with every migration whose name
// sorts before version ("0012") applied, as a server of that time left it,
// and returns its path and a handle to write the old rows with; the test
// closes it before opening the store, which migrates the rest.
func migratedBefore(t *testing.T, ctx context.Context, version string) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "refundry.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names {
		if filepath.Base(name) >= version {
			break
		}
		text, _ := fs.ReadFile(migrations, name)
		if _, err := db.ExecContext(ctx, string(text)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 0)`, filepath.Base(name)); err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}
