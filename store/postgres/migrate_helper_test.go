package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// migratedBefore makes a fresh database with every migration before
// version applied, as a server of that time left it, and returns its URL
// and a connection to write the old rows with; the test closes it before
// opening the store, which migrates the rest.
func migratedBefore(t *testing.T, ctx context.Context, version int) (string, *pgx.Conn) {
	t.Helper()
	dsn := freshDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TIMESTAMPTZ NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= version {
			break
		}
		if _, err := conn.Exec(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, conn
}
