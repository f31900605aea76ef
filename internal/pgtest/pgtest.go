// Package pgtest gives tests a fresh database on the live PostgreSQL named
// by REFUNDRY_TEST_POSTGRES. Without it a test skips, except under CI,
// where a skipped backend would pass for a tested one: there it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env names the variable that holds the server's URL.
const Env = "REFUNDRY_TEST_POSTGRES"

// ServerURL returns the server's URL, or skips (fails under CI) without one.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, but CI is: PostgreSQL must be tested against a live server in CI", Env)
		}
		t.Skipf("%s is not set", Env)
	}
	return u
}

// NewDatabase creates a database with a random name for one test, drops it
// when the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	name, err := CreateDatabase(context.Background(), server)
	if err != nil {
		t.Fatalf("%s=%s: %v", Env, server, err)
	}
	t.Cleanup(func() {
		if err := DropDatabase(context.Background(), server, name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return DatabaseURL(server, name)
}

// CreateDatabase makes a database with a random name on the server.
func CreateDatabase(ctx context.Context, server string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "refundry_test_" + hex.EncodeToString(b[:])
	return name, exec(ctx, server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// DropDatabase drops a database, closing what is still connected to it.
func DropDatabase(ctx context.Context, server, name string) error {
	return exec(ctx, server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func exec(ctx context.Context, server, sql string) error {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// DatabaseURL is server with its database replaced by name, for both forms
// pgx accepts (URL and key=value).
func DatabaseURL(server, name string) string {
	if u, err := url.Parse(server); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return server + " dbname=" + name
}
