package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/store/sqlite"
)

// edgeOf names the edge a route pattern belongs to.
func edgeOf(pattern string) string {
	switch {
	case strings.Contains(pattern, "/v2.0/sales/refund/"):
		return "keepup"
	case strings.Contains(pattern, "/api/v2/origins/"):
		return "talkable"
	case strings.Contains(pattern, "/v2/product_sales/"):
		return "revcent"
	case strings.Contains(pattern, "/v1/refunds/create"):
		return "payop"
	case strings.HasSuffix(pattern, "/refund.json"):
		return "jetti"
	}
	return "native"
}

// A header whose meaning a second copy would make ambiguous (the key, in
// each form an edge takes it, and the Idempotency-Key) is refused when
// sent twice, on every route of every edge, with the edge's answer to a
// malformed request and in its own shape; a refused write by a known key
// is in the audit log. TestHostileInput proves such requests change
// nothing even when all else in them is valid.
func TestRepeatedHeadersOnEveryRoute(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "headers.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(store, logger, simulator.New())
	m := &refundry.Merchant{Slug: "scoped", Name: "Headers", Currency: "USD"}
	if _, err := eng.CreateMerchant(ctx, m); err != nil {
		t.Fatal(err)
	}
	k, key, err := eng.CreateAPIKey(ctx, m.ID, engine.KeySpec{Name: "w", Scope: refundry.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(eng, logger, mustOps(t, store, eng)))
	t.Cleanup(srv.Close)

	bearerKey := "Bearer " + key
	forms := []struct {
		name    string
		header  string // the parameter the error names
		values  []string
		edges   string // the edges that take this form; "" all
		audited bool   // the key is known, so a refused write is audited
	}{
		{"Authorization", "Authorization", []string{bearerKey, bearerKey}, "", false},
		{"AuthorizationOneWrong", "Authorization", []string{bearerKey, "Bearer " + wrongKey}, "", false},
		{"BasicTwice", "Authorization", []string{"Basic " + basic(key), "Basic " + basic(key)}, "talkable", false},
		{"XAPIKey", "X-API-Key", []string{key, wrongKey}, "revcent", false},
		{"IdempotencyKey", "Idempotency-Key", []string{"k-1", "k-2"}, "", true},
	}
	for _, rt := range edgeRoutes(refundry.NewID()) {
		name := edgeOf(rt.pattern)
		for _, f := range forms {
			if f.edges != "" && f.edges != name {
				continue
			}
			t.Run(rt.method+" "+rt.path+" "+f.name, func(t *testing.T) {
				req, _ := http.NewRequest(rt.method, srv.URL+rt.path, strings.NewReader(rt.body))
				if f.header != "Authorization" {
					req.Header.Set("Authorization", bearerKey)
				}
				req.Header[http.CanonicalHeaderKey(f.header)] = f.values
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != badRequest[name] {
					t.Fatalf("%s sent twice: %d, want %d: %s", f.header, res.StatusCode, badRequest[name], raw)
				}
				var b map[string]any
				if err := json.Unmarshal(raw, &b); err != nil {
					t.Fatalf("not JSON: %s", raw)
				}
				if !strings.Contains(string(raw), f.header+" header is sent 2 times") {
					t.Errorf("the message does not name the header: %s", raw)
				}
				switch name {
				case "native":
					e, _ := b["error"].(map[string]any)
					if e["code"] != "parameter_invalid" || e["param"] != f.header {
						t.Errorf("native error %v, want parameter_invalid on %s", e, f.header)
					}
				case "revcent":
					want := map[string]string{"Idempotency-Key": "invalid_idempotency_key"}[f.header]
					if want == "" {
						want = "invalid_authorization"
					}
					if b["error_code"] != want || len(b) != 6 {
						t.Errorf("revcent error %v, want error_code %s", b, want)
					}
				case "jetti":
					if _, ok := b["errors"]; ok || len(b) != 1 {
						t.Errorf("jetti error %v, want a message only: a header is no field", b)
					}
				case "keepup":
					if n, _ := b["status"].(float64); int(n) != badRequest[name] {
						t.Errorf("keepup error %v", b)
					}
				case "talkable":
					if b["ok"] != false {
						t.Errorf("talkable error %v", b)
					}
				}
				route := edge.RouteFor(rt.pattern, rt.method)
				if route.Action == "" {
					return
				}
				got, _, err := store.ListAuditLog(ctx, m.ID, refundry.AuditFilter{KeyID: k.ID, Action: route.Action, Page: refundry.Page{Limit: 1}})
				if err != nil {
					t.Fatal(err)
				}
				found := len(got) == 1 && got[0].Actor.RequestID == res.Header.Get("Request-Id")
				if f.audited && (!found || got[0].Result != refundry.EINVALID) {
					t.Errorf("refused write not audited as invalid: %+v", got)
				}
				if !f.audited && found {
					t.Errorf("audited for a key that was never told apart: %+v", got[0])
				}
			})
		}
	}
}

// basic is HTTP Basic credentials with the key as user name, as Talkable
// clients send them.
func basic(key string) string { return base64.StdEncoding.EncodeToString([]byte(key + ":")) }
