package main

import (
	"context"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

const defaultDB = "sqlite:refundry.db"

// dbFlag resolves --db against REFUNDRY_DB and the default.
func dbFlag(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := getenv("REFUNDRY_DB"); v != "" {
		return v
	}
	return defaultDB
}

// openStore opens the store a --db URL names: postgres:// or postgresql://
// for PostgreSQL, sqlite:PATH or a bare path for SQLite.
func openStore(ctx context.Context, url string) (refundry.Store, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return postgres.Open(ctx, url)
	}
	path := strings.TrimPrefix(url, "sqlite:")
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return nil, usageError{"--db sqlite: needs a file path, as in sqlite:refundry.db"}
	}
	return sqlite.Open(ctx, path)
}
