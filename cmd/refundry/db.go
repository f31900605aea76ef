package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"

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
// for PostgreSQL, sqlite:PATH or a bare path for SQLite. The commands
// other than serve take REFUNDRY_ALLOW_ASYNC_COMMIT from the environment
// alone.
func openStore(ctx context.Context, url string, getenv func(string) string) (*database, error) {
	o := storeOptions{groupCommit: true}
	if v := getenv(allowAsyncCommitEnv); v != "" {
		allow, err := strconv.ParseBool(v)
		if err != nil {
			return nil, usageError{fmt.Sprintf("%s=%q: want true or false", allowAsyncCommitEnv, v)}
		}
		o.allowAsyncCommit = allow
	}
	return openStoreWith(ctx, url, o)
}

// allowAsyncCommitEnv is the environment twin of serve --allow-async-commit.
const allowAsyncCommitEnv = envPrefix + "ALLOW_ASYNC_COMMIT"

// storeOptions are the store settings serve exposes as flags.
type storeOptions struct {
	// groupCommit gathers concurrent refunds into shared durable
	// transactions (serve --group-commit).
	groupCommit bool
	// onBatch hears each group-commit batch's size (metrics); may be nil.
	onBatch func(size int)
	// allowAsyncCommit opens a PostgreSQL database whose commits are not
	// durable when they return (serve --allow-async-commit), which is
	// refused otherwise; onAsyncCommit, if set, then hears why they are
	// not.
	allowAsyncCommit bool
	onAsyncCommit    func(risk error)
}

// dbScheme is the scheme a --db value starts with ("mysql" in mysql://x),
// or "" for a bare path. One letter is a Windows drive (C:\r.db), not a
// scheme.
var dbScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// openStoreWith is openStore with settings.
func openStoreWith(ctx context.Context, url string, o storeOptions) (*database, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		opts := []postgres.Option{postgres.WithGroupCommit(o.groupCommit), postgres.WithBatchObserver(o.onBatch)}
		if o.allowAsyncCommit {
			opts = append(opts, postgres.WithAsyncCommitAllowed(o.onAsyncCommit))
		}
		s, err := postgres.Open(ctx, url, opts...)
		if errors.Is(err, postgres.ErrAsyncCommit) {
			// Invariant 3: refuse, unless the operator accepts the risk
			// in so many words.
			return nil, fmt.Errorf("%w; to run on it anyway, accepting that risk, pass serve --allow-async-commit or set %s=true", err, allowAsyncCommitEnv)
		}
		if err != nil {
			return nil, err
		}
		return postgresDatabase(s), nil
	}
	// A scheme we do not know is a mistake, not a file name: taken as a
	// path, mysql://x would quietly become a SQLite file in a directory
	// named "mysql:".
	if m := dbScheme.FindStringSubmatch(url); m != nil && m[1] != "sqlite" {
		return nil, usageError{fmt.Sprintf("--db %q: unknown scheme %q; Refundry stores in SQLite (sqlite:PATH, or a bare file path) or PostgreSQL (postgres://...)", url, m[1])}
	}
	path := strings.TrimPrefix(url, "sqlite:")
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return nil, usageError{"--db sqlite: needs a file path, as in sqlite:refundry.db"}
	}
	s, err := sqlite.Open(ctx, path, sqlite.WithGroupCommit(o.groupCommit), sqlite.WithBatchObserver(o.onBatch))
	if err != nil {
		return nil, err
	}
	return sqliteDatabase(s), nil
}

// boolFromEnv fills a bool flag not given on the command line from its
// environment twin, if that is set.
func boolFromEnv(fs *flag.FlagSet, name string, value *bool, getenv func(string) string, env string) error {
	v := getenv(env)
	if v == "" || flagSet(fs, name) {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return usageError{fmt.Sprintf("%s=%q: want true or false", env, v)}
	}
	*value = b
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
