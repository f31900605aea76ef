package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/pgtest"
)

// TestOpenStoreReadiness: the store serve opens, on either backend,
// carries the readiness checks and pool figures of its database (none
// found at run time by asking the store what it is), and attach turns
// them into /readyz checks and pool metrics.
func TestOpenStoreReadiness(t *testing.T) {
	for _, tt := range []struct {
		name  string
		url   func(t *testing.T) string
		pools []string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "ready.db") }, []string{"read", "write"}},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }, []string{"main"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := openStore(ctx, tt.url(t), func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.checkWritable == nil || db.checkMigrations == nil || db.pools == nil {
				t.Fatalf("opened %s store lacks its checks or pools: %+v", tt.name, db)
			}
			if err := db.checkWritable(ctx); err != nil {
				t.Errorf("a writable database fails its write check: %v", err)
			}
			if err := db.checkMigrations(ctx); err != nil {
				t.Errorf("a freshly migrated database fails its migrations check: %v", err)
			}
			var pools []string
			for name, p := range db.pools() {
				pools = append(pools, name)
				if p.MaxOpen <= 0 {
					t.Errorf("pool %s: MaxOpen %d, want > 0", name, p.MaxOpen)
				}
			}
			slices.Sort(pools)
			if !slices.Equal(pools, tt.pools) {
				t.Errorf("pools %v, want %v", pools, tt.pools)
			}

			op, err := newOps()
			if err != nil {
				t.Fatal(err)
			}
			if err := op.attach(db, engine.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))); err != nil {
				t.Fatal(err)
			}
			var checks []string
			for _, c := range op.checks {
				checks = append(checks, c.Name)
			}
			for _, want := range []string{"database", "database_write", "migrations"} {
				if !slices.Contains(checks, want) {
					t.Errorf("readiness checks %v lack %q", checks, want)
				}
			}
		})
	}
}

// TestLaneMetrics: a PostgreSQL node's /metrics shows the group-commit
// lanes it runs, its share of them and the live nodes it divided them
// among: the second of two nodes on one database may run half of the
// default pool's four lanes, and runs one while its writes are few.
func TestLaneMetrics(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var dbs []*database
	for range 2 {
		db, err := openStore(ctx, url, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	eng := engine.New(dbs[1], slog.New(slog.NewTextHandler(io.Discard, nil)))
	op, err := newOps()
	if err != nil {
		t.Fatal(err)
	}
	if err := op.attach(dbs[1], eng); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(eng, slog.New(slog.NewTextHandler(io.Discard, nil)), op))
	t.Cleanup(srv.Close)
	got := scrape(t, srv.URL)
	for name, want := range map[string]float64{"refundry_group_commit_lanes": 1, "refundry_group_commit_lanes_share": 2, "refundry_db_live_nodes": 2} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}
