package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry/internal/pgtest"
)

// The tests run against a live PostgreSQL named by REFUNDRY_TEST_POSTGRES,
// for example postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
// Each run creates a database of its own with a random name and drops it
// at the end. Without the variable the tests skip, except under CI, where
// a skipped backend would pass for a tested one and the run fails instead.

const serverEnv = "REFUNDRY_TEST_POSTGRES"

var (
	serverURL string // the server, as given
	runURL    string // this run's database

	sharedMu     sync.Mutex
	sharedStores = map[string]*Store{}
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	serverURL = os.Getenv(serverEnv)
	if serverURL == "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "store/postgres: %s is not set, but CI is: the PostgreSQL store must be tested against a live server in CI\n", serverEnv)
			return 1
		}
		return m.Run() // every test skips
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	name, err := pgtest.CreateDatabase(ctx, serverURL)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "store/postgres: %s=%s: %v\n", serverEnv, serverURL, err)
		return 1
	}
	runURL = pgtest.DatabaseURL(serverURL, name)
	code := m.Run()
	sharedMu.Lock()
	for _, s := range sharedStores {
		s.Close()
	}
	sharedMu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgtest.DropDatabase(ctx, serverURL, name); err != nil {
		fmt.Fprintf(os.Stderr, "store/postgres: drop database %s: %v\n", name, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// needServer skips a test when no server was given (TestMain has already
// failed the run if that is not allowed).
func needServer(t testing.TB) {
	t.Helper()
	if serverURL == "" {
		t.Skipf("%s is not set", serverEnv)
	}
}

// freshDatabase creates a database for one test and drops it after.
func freshDatabase(t testing.TB) string {
	t.Helper()
	needServer(t)
	return pgtest.NewDatabase(t)
}

// withParam adds a connection parameter (pgx sends unknown ones to the
// server as runtime parameters).
func withParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		// pgx does not read "+" as a space in query values.
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// Isolation levels the suites run at: PostgreSQL's default, and what
// CockroachDB runs every transaction at.
const (
	readCommitted = "read committed"
	serializable  = "serializable"
)

func isolationURL(iso string) string {
	return withParam(runURL, "default_transaction_isolation", iso)
}

// mustOpen opens a store of its own on this run's database at the given
// isolation, closed when the test ends.
func mustOpen(t testing.TB, iso string) *Store {
	t.Helper()
	needServer(t)
	s, err := Open(context.Background(), isolationURL(iso))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sharedStore returns one store per isolation level for the whole run, as
// a server process would share one pool among its requests.
func sharedStore(t testing.TB, iso string) *Store {
	t.Helper()
	needServer(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s := sharedStores[iso]; s != nil {
		return s
	}
	s, err := Open(context.Background(), isolationURL(iso))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	sharedStores[iso] = s
	return s
}

func TestIsolationParam(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(strings.ReplaceAll(iso, " ", "_"), func(t *testing.T) {
			s := sharedStore(t, iso)
			var got string
			if err := s.pool.QueryRow(context.Background(), "SHOW transaction_isolation").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != iso {
				t.Fatalf("transaction_isolation = %q, want %q", got, iso)
			}
		})
	}
}
