package postgres

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestInvariant3AsyncCommitRefused: Open reads synchronous_commit as the
// database, the role and the URL make it, and refuses a database whose
// commits return before they are durable, before it writes anything
// (not even its migrations), unless WithAsyncCommitAllowed accepts the
// risk.
func TestInvariant3AsyncCommitRefused(t *testing.T) {
	needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var standbys string
	if err := sharedStore(t, readCommitted).pool.QueryRow(ctx, `SHOW synchronous_standby_names`).Scan(&standbys); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		param   string // a connection parameter, as in the URL
		alter   string // or ALTER DATABASE ... SET synchronous_commit
		allow   bool
		refused bool
	}{
		{name: "Default"},
		{name: "OffInURL", param: "off", refused: true},
		{name: "OffForDatabase", alter: "off", refused: true},
		{name: "OffAllowed", alter: "off", allow: true},
		{name: "RemoteWrite", param: "remote_write"},
		// Without a synchronous standby, local is on.
		{name: "LocalNoStandby", param: "local", refused: standbys != ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := freshDatabase(t)
			if tc.alter != "" {
				u, err := url.Parse(dsn)
				if err != nil {
					t.Fatal(err)
				}
				name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
				if _, err := sharedStore(t, readCommitted).pool.Exec(ctx, `ALTER DATABASE `+name+` SET synchronous_commit = `+tc.alter); err != nil {
					t.Fatal(err)
				}
			}
			if tc.param != "" {
				dsn = withParam(dsn, "synchronous_commit", tc.param)
			}
			var warned error
			var opts []Option
			if tc.allow {
				opts = append(opts, WithAsyncCommitAllowed(func(risk error) { warned = risk }))
			}
			s, err := Open(ctx, dsn, opts...)
			if s != nil {
				defer s.Close()
			}
			switch {
			case tc.refused && !errors.Is(err, ErrAsyncCommit):
				t.Fatalf("Open: %v, want it refused with ErrAsyncCommit", err)
			case tc.refused && !strings.Contains(err.Error(), "synchronous_commit"):
				t.Errorf("Open: %q does not say which setting is wrong", err)
			case !tc.refused && err != nil:
				t.Fatalf("Open: %v", err)
			}
			if tc.allow && !errors.Is(warned, ErrAsyncCommit) {
				t.Errorf("allowed, the risk was not reported: %v", warned)
			}
			if !tc.allow && warned != nil {
				t.Errorf("a warning without WithAsyncCommitAllowed: %v", warned)
			}
			if tc.refused {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				var tables int
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
					t.Fatal(err)
				}
				if tables != 0 {
					t.Errorf("refused, Open still made %d tables", tables)
				}
			}
		})
	}
}

// TestAsyncCommitRisk covers the settings a test cannot give one database
// of a shared server: synchronous_standby_names is the whole server's.
func TestAsyncCommitRisk(t *testing.T) {
	for _, tc := range []struct {
		commit, standbys string
		risky            bool
	}{
		{"on", "", false},
		{"on", "FIRST 1 (standby1)", false},
		{"remote_apply", "standby1", false},
		{"remote_write", "standby1", false},
		{"local", "", false},
		{"local", " ", false},
		{"local", "standby1", true},
		{"off", "", true},
		{"off", "standby1", true},
	} {
		if got := asyncCommitRisk(tc.commit, tc.standbys) != ""; got != tc.risky {
			t.Errorf("synchronous_commit=%s, synchronous_standby_names=%q: risky %v, want %v", tc.commit, tc.standbys, got, tc.risky)
		}
	}
}
