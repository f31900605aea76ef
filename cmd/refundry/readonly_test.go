package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

// readOnlySale is what the edges are asked to refund.
type readOnlySale struct {
	key  string
	sale *refundry.Sale
}

// seedReadOnly makes a merchant and a sale through an engine on store.
func seedReadOnly(t *testing.T, store refundry.Store) (*engine.Engine, readOnlySale) {
	t.Helper()
	ctx := context.Background()
	eng := engine.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), simulator.New())
	m := &refundry.Merchant{Slug: "read-only", Name: "Read Only", Currency: "USD"}
	key, err := eng.CreateMerchant(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	sale := &refundry.Sale{MerchantID: m.ID, Currency: "USD", Reference: "RO-1",
		LineItems:    []*refundry.LineItem{{Name: "ticket", Quantity: 1, UnitAmount: 10000}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Reference: "ro-pay"}}}
	if _, err := eng.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	return eng, readOnlySale{key, sale}
}

// A database that refuses writes is not ready, and every edge answers a
// write 503 in its own error shape, with Retry-After and a message naming
// the reason, writing nothing; reads go on. Before, /readyz said ready and
// every write answered 500 internal_error. SQLite: the file is read-only
// for the serving process (run as nobody when the test runs as root, whom
// file modes do not stop). PostgreSQL: the database is set
// default_transaction_read_only, as a standby is.
func TestReadOnlyDatabase(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		// Directories that the serving user can reach: the database's
		// must be writable, for the WAL index SQLite makes beside it.
		dir, err := os.MkdirTemp("", "refundry-readonly-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "r.db")
		store, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		_, ro := seedReadOnly(t, store)
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "refundry")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		if os.Geteuid() == 0 {
			setpriv, err := exec.LookPath("setpriv")
			if err != nil {
				t.Skip("running as root without setpriv to serve as another user")
			}
			wrapper := filepath.Join(dir, "refundry-nobody")
			script := fmt.Sprintf("#!/bin/sh\nexec %s --reuid=65534 --regid=65534 --clear-groups %s \"$@\"\n", setpriv, bin)
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			bin = wrapper
		}
		_, base, _, logs := startServe(t, bin, "--db", "sqlite:"+path)
		checkReadOnly(t, base, ro)
		if strings.Contains(logs.String(), "internal error") {
			t.Errorf("a refused write was logged as an internal error:\n%s", grepLines(logs.String(), "internal error"))
		}
	})
	t.Run("postgres", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dsn := pgtest.NewDatabase(t)
		store, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		eng, ro := seedReadOnly(t, store)
		srv := httptest.NewServer(newServer(eng, eng.Logger, mustOps(t, store, eng)))
		t.Cleanup(srv.Close)

		// From the server's own database, which stays writable; the
		// store's connections are cut, as a failover would, and come back
		// read-only.
		u, _ := url.Parse(dsn)
		name := strings.TrimPrefix(u.Path, "/")
		conn, err := pgx.Connect(ctx, pgtest.ServerURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, sql := range []string{
			"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " SET default_transaction_read_only = on",
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "' AND pid <> pg_backend_pid()",
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		checkReadOnly(t, srv.URL, ro)
	})
}

// checkReadOnly asks /readyz and every edge's refund route of base, whose
// database refuses writes, and checks how they answer.
func checkReadOnly(t *testing.T, base string, ro readOnlySale) {
	t.Helper()
	const reason = "The database is read-only"
	deadline := time.Now().Add(30 * time.Second)
	// Connections cut under the store may first answer "unavailable; try
	// again" (still a 503) until the pool has made new ones.
	for {
		code, rep := readyz(t, base)
		// A read-only database still answers a ping: only the write
		// probe fails, and says why.
		if code == http.StatusServiceUnavailable && strings.Contains(rep["database_write"], reason) && rep["database"] == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d %v, want 503 with database_write naming %q and database passing", code, rep, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}

	sale, li, txn := ro.sale, ro.sale.LineItems[0], ro.sale.Transactions[0]
	bearer := [2]string{"Authorization", "Bearer " + ro.key}
	for _, e := range []struct {
		edge, method, path, body string
		auth                     [2]string
		shape                    string // the edge's error field that carries the message
	}{
		{"native", "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 100}`, sale.ID), bearer, "error"},
		{"keepup", "POST", "/v2.0/sales/refund/" + sale.ID, ``, bearer, "error"},
		{"talkable", "POST", "/api/v2/origins/" + sale.Reference + "/refund", `{"site_slug": "read-only"}`, bearer, "error_message"},
		{"revcent", "POST", "/v2/product_sales/" + li.ID + "/refund", `{"amount": 1.00}`, [2]string{"X-API-Key", ro.key}, "message"},
		{"payop", "POST", "/v1/refunds/create", `{"transactionIdentifier": "ro-pay", "refundType": 2, "amount": 1.00}`, bearer, "message"},
		{"jetti", "PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", txn.Number), `{"refundAmount": 1.00}`, bearer, "message"},
	} {
		for {
			status, header, body := roCall(t, base, e.method, e.path, e.body, e.auth)
			if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
				t.Errorf("%s: %d (Retry-After %q) %s, want 503 with Retry-After", e.edge, status, header.Get("Retry-After"), body)
				break
			}
			var shape map[string]any
			if err := json.Unmarshal(body, &shape); err != nil || shape[e.shape] == nil {
				t.Errorf("%s: %s is not the edge's error shape (no %q)", e.edge, body, e.shape)
				break
			}
			if strings.Contains(string(body), reason) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %s, want the message naming %q", e.edge, body, reason)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Reads go on, and show that nothing was written.
	status, _, body := roCall(t, base, "GET", "/v1/refunds?sale="+sale.ID, "", bearer)
	if status != http.StatusOK || !strings.Contains(string(body), `"data":[]`) {
		t.Errorf("GET /v1/refunds: %d %s, want 200 with no refund", status, body)
	}
	status, _, body = roCall(t, base, "GET", "/v1/sales/"+sale.ID, "", bearer)
	if status != http.StatusOK || !strings.Contains(string(body), `"refunded_amount":0`) {
		t.Errorf("GET /v1/sales: %d %s, want 200 with nothing refunded", status, body)
	}
}

// readyz returns /readyz's status and each failing check's error ("" for
// a check that passed).
func readyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	status, _, body := roCall(t, base, "GET", "/readyz", "", [2]string{})
	var rep struct {
		Checks []struct{ Name, Status, Error string }
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("/readyz: %d %s", status, body)
	}
	out := map[string]string{}
	for _, c := range rep.Checks {
		out[c.Name] = c.Error
	}
	return status, out
}

func roCall(t *testing.T, base, method, path, body string, auth [2]string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if auth[0] != "" {
		req.Header.Set(auth[0], auth[1])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, raw
}
