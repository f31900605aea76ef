package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/store/sqlite"
)

// refundry key create|list|revoke on a SQLite file: the created key
// works at once with its scope, list never shows a secret, and a key
// revoked from the command line (another process, as far as the server
// knows) is refused by a server already running on the same database
// within a second: the server's clock is moved on by one. Each write is
// audited as cli.
func TestKeyCommand(t *testing.T) {
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "keys.db")
	getenv := func(string) string { return "" }
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(ctx, append(args, "--db", db), getenv, &out, &errb); err != nil {
			t.Fatalf("refundry %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	runOK("merchant", "create", "--slug", "keyed", "--name", "Keyed")

	var created struct{ ID, Name, Scope, Prefix, Secret string }
	if err := json.Unmarshal([]byte(runOK("key", "create", "--merchant", "keyed", "--name", "reports", "--scope", "read")), &created); err != nil {
		t.Fatal(err)
	}
	if created.Scope != "read" || created.Prefix != "rfk_"+created.ID || !strings.HasPrefix(created.Secret, created.Prefix+"_") {
		t.Fatalf("key create printed %+v", created)
	}
	list := runOK("key", "list", "--merchant", "keyed")
	if strings.Count(list, "\n") != 2 || strings.Contains(list, created.Secret) || strings.Contains(list, `"secret"`) {
		t.Fatalf("key list printed %s", list)
	}

	store, err := sqlite.Open(ctx, strings.TrimPrefix(db, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(store, logger)
	var later atomic.Int64
	eng.Now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	srv := httptest.NewServer(newServer(eng, logger, mustOps(t, store, eng)))
	t.Cleanup(srv.Close)
	get := func(path string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+created.Secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get("/v1/sales"); s != 200 {
		t.Fatalf("new read key: GET /v1/sales = %d", s)
	}
	runOK("key", "revoke", "--merchant", "keyed", "--id", created.ID)
	runOK("key", "revoke", "--merchant", "keyed", "--id", created.ID) // idempotent
	later.Store(int64(time.Second))
	if s := get("/v1/sales"); s != 401 {
		t.Fatalf("revoked key: GET /v1/sales = %d, want 401", s)
	}

	m, err := store.FindMerchantBySlug(ctx, "keyed")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := store.ListAuditLog(ctx, m.ID, refundry.AuditFilter{KeyID: refundry.ActorCLI})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "api_key.revoke api_key.revoke api_key.create merchant.create" {
		t.Fatalf("cli audit rows: %s", got)
	}

	for _, bad := range [][]string{{"key"}, {"key", "create", "--merchant", "keyed"}, {"key", "revoke", "--merchant", "keyed"}} {
		if err := run(ctx, bad, getenv, io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("refundry %v: %v, want a usage error", bad, err)
		}
	}
	if err := run(ctx, []string{"key", "create", "--merchant", "keyed", "--name", "x", "--scope", "admin", "--db", db}, getenv, io.Discard, io.Discard); err == nil {
		t.Error("key create --scope admin succeeded")
	}
}
