package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/store/sqlite"
)

// edgeRoute is one route of one edge: a request that reaches its handler
// (and is refused there, changing nothing, when the key may use it), the
// scope it needs, and how its edge shapes a 401 and a 403.
type edgeRoute struct {
	pattern string // as api's route table names it
	method  string
	path    string
	body    string
	scope   refundry.Scope
	shape   func(status int, body map[string]any) bool
}

// Each edge's error shape, checked on a 401 or 403.
var (
	nativeShape = func(status int, b map[string]any) bool {
		e, _ := b["error"].(map[string]any)
		want := map[int]string{401: "authentication_required", 403: "insufficient_scope"}[status]
		return e != nil && e["code"] == want
	}
	keepupShape = func(status int, b map[string]any) bool {
		n, _ := b["status"].(json.Number)
		_, ok := b["error"].(string)
		return ok && n.String() == strconv.Itoa(status) && len(b) == 2
	}
	talkableShape = func(status int, b map[string]any) bool {
		_, ok := b["error_message"].(string)
		return ok && b["ok"] == false && len(b) == 2
	}
	revcentShape = func(status int, b map[string]any) bool {
		want := map[int]string{401: "invalid_api_key", 403: "insufficient_scope"}[status]
		return b["error_code"] == want && len(b) == 6
	}
	messageShape = func(status int, b map[string]any) bool { // Payop, Jetti
		_, ok := b["message"].(string)
		return ok
	}
)

// every route of every edge, with ids that name nothing.
func edgeRoutes(missing string) []edgeRoute {
	r := refundry.ScopeRead
	f := refundry.ScopeRefund
	w := refundry.ScopeWrite
	n := nativeShape
	return []edgeRoute{
		{"POST /v1/sales", "POST", "/v1/sales", `{}`, w, n},
		{"GET /v1/sales", "GET", "/v1/sales", ``, r, n},
		{"GET /v1/sales/{id}", "GET", "/v1/sales/" + missing, ``, r, n},
		{"POST /v1/refunds", "POST", "/v1/refunds", `{"sale": "` + missing + `"}`, f, n},
		{"GET /v1/refunds", "GET", "/v1/refunds", ``, r, n},
		{"GET /v1/refunds/export", "GET", "/v1/refunds/export?status=lost", ``, r, n},
		{"GET /v1/refunds/{id}", "GET", "/v1/refunds/" + missing, ``, r, n},
		{"POST /v1/refunds/{id}/cancel", "POST", "/v1/refunds/" + missing + "/cancel", ``, f, n},
		{"POST /v1/referrals", "POST", "/v1/referrals", `{}`, w, n},
		{"GET /v1/events", "GET", "/v1/events", ``, r, n},
		{"POST /v1/refund_batches", "POST", "/v1/refund_batches", `{}`, f, n},
		{"GET /v1/refund_batches/{id}", "GET", "/v1/refund_batches/" + missing, ``, r, n},
		{"GET /v1/refund_batches/{id}/outcome.csv", "GET", "/v1/refund_batches/" + missing + "/outcome.csv", ``, r, n},
		{"POST /v1/webhook_endpoints", "POST", "/v1/webhook_endpoints", `{}`, w, n},
		{"GET /v1/webhook_endpoints", "GET", "/v1/webhook_endpoints", ``, r, n},
		{"GET /v1/webhook_endpoints/{id}", "GET", "/v1/webhook_endpoints/" + missing, ``, r, n},
		{"DELETE /v1/webhook_endpoints/{id}", "DELETE", "/v1/webhook_endpoints/" + missing, ``, w, n},
		{"POST /v1/webhook_endpoints/{id}/enable", "POST", "/v1/webhook_endpoints/" + missing + "/enable", ``, w, n},
		{"GET /v1/webhook_endpoints/{id}/deliveries", "GET", "/v1/webhook_endpoints/" + missing + "/deliveries", ``, r, n},
		{"POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/replay", "POST", "/v1/webhook_endpoints/" + missing + "/deliveries/" + missing + "/replay", ``, w, n},
		{"GET /v1/notifications", "GET", "/v1/notifications", ``, r, n},
		{"GET /v1/reconciliation_runs", "GET", "/v1/reconciliation_runs", ``, r, n},
		{"GET /v1/reconciliation_runs/{id}", "GET", "/v1/reconciliation_runs/" + missing, ``, r, n},
		{"POST /v1/api_keys", "POST", "/v1/api_keys", `{}`, w, n},
		{"GET /v1/api_keys", "GET", "/v1/api_keys", ``, r, n},
		{"POST /v1/api_keys/{id}/revoke", "POST", "/v1/api_keys/" + missing + "/revoke", ``, w, n},
		{"GET /v1/audit_log", "GET", "/v1/audit_log", ``, r, n},
		{"GET /v1/refund_reasons", "GET", "/v1/refund_reasons", ``, r, n},
		{"POST /v1/refund_reasons", "POST", "/v1/refund_reasons", `{}`, w, n},
		{"DELETE /v1/refund_reasons/{code}", "DELETE", "/v1/refund_reasons/no_such_code", ``, w, n},
		{"GET /v1/disputes", "GET", "/v1/disputes", ``, r, n},
		{"GET /v1/disputes/{id}", "GET", "/v1/disputes/" + missing, ``, r, n},
		{"POST /v1/disputes", "POST", "/v1/disputes", `{"transaction": "` + missing + `"}`, w, n},
		{"POST /v1/disputes/{id}", "POST", "/v1/disputes/" + missing, `{"status": "won"}`, w, n},
		{"POST /v1/returns", "POST", "/v1/returns", `{"sale": "` + missing + `", "lines": [{"line_item": "` + missing + `", "quantity": 1}]}`, f, n},
		{"GET /v1/returns", "GET", "/v1/returns", ``, r, n},
		{"GET /v1/returns/{id}", "GET", "/v1/returns/" + missing, ``, r, n},
		{"POST /v1/returns/{id}/receive", "POST", "/v1/returns/" + missing + "/receive", ``, f, n},
		{"POST /v1/returns/{id}/refund", "POST", "/v1/returns/" + missing + "/refund", `{"restocking_fee": 0}`, f, n},
		{"POST /v1/returns/{id}/cancel", "POST", "/v1/returns/" + missing + "/cancel", ``, f, n},
		{"POST /v1/refunds/{id}/approve", "POST", "/v1/refunds/" + missing + "/approve", ``, refundry.ScopeApprove, n},
		{"POST /v1/refunds/{id}/reject", "POST", "/v1/refunds/" + missing + "/reject", ``, refundry.ScopeApprove, n},
		{"POST /v1/refunds/{id}/resolve", "POST", "/v1/refunds/" + missing + "/resolve", `{"outcome": "retry", "note": "x"}`, refundry.ScopeApprove, n},
		{"GET /v1/refund_policy", "GET", "/v1/refund_policy", ``, r, n},
		{"POST /v1/refund_policy", "POST", "/v1/refund_policy", `{"max_age_days": 0}`, w, n},
		{"GET /v1/users", "GET", "/v1/users", ``, r, n},
		{"GET /v1/users/{id}", "GET", "/v1/users/" + missing, ``, r, n},
		{"POST /v1/users", "POST", "/v1/users", `{}`, w, n},
		{"POST /v1/users/{id}/disable", "POST", "/v1/users/" + missing + "/disable", ``, w, n},
		{"POST /v1/gateway_accounts", "POST", "/v1/gateway_accounts", `{}`, w, n},
		{"GET /v1/gateway_accounts", "GET", "/v1/gateway_accounts", ``, r, n},
		{"GET /v1/gateway_accounts/{id}", "GET", "/v1/gateway_accounts/" + missing, ``, r, n},
		{"DELETE /v1/gateway_accounts/{id}", "DELETE", "/v1/gateway_accounts/" + missing, ``, w, n},
		{"GET /v1/gateway_accounts/{id}/deliveries", "GET", "/v1/gateway_accounts/" + missing + "/deliveries", ``, r, n},
		{"/v1/", "GET", "/v1/nothing", ``, r, n},
		{"PUT /v2.0/sales/refund/{sale_id}", "PUT", "/v2.0/sales/refund/" + missing, ``, f, keepupShape},
		{"POST /v2.0/sales/refund/{sale_id}", "POST", "/v2.0/sales/refund/" + missing, ``, f, keepupShape},
		{"POST /api/v2/origins/{origin_slug}/refund", "POST", "/api/v2/origins/no-such-order/refund", `{"site_slug": "scoped"}`, f, talkableShape},
		{"POST /v2/product_sales/{product_sale_id}/refund", "POST", "/v2/product_sales/" + missing + "/refund", `{}`, f, revcentShape},
		{"POST /v1/refunds/create", "POST", "/v1/refunds/create", `{"transactionIdentifier": "nothing", "refundType": 1}`, f, messageShape},
		{"PUT /v1/transactions/{id}/refund.json", "PUT", "/v1/transactions/999999/refund.json", `{}`, f, messageShape},
		{"PUT /transactions/{id}/refund.json", "PUT", "/transactions/999999/refund.json", `{}`, f, messageShape},
	}
}

// Scopes and revocation on every route of every edge: a key whose scope
// is too narrow gets 403, a revoked, expired or missing key 401, each in
// the route's own error shape; a key whose scope suffices reaches the
// handler. A refused write is in the audit log with its error code.
func TestScopesOnEveryRoute(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "scope.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(store, logger, simulator.New())
	m := &refundry.Merchant{Slug: "scoped", Name: "Scoped", Currency: "USD"}
	if _, err := eng.CreateMerchant(ctx, m); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	keyIDs := map[string]string{}
	for _, s := range []refundry.Scope{refundry.ScopeRead, refundry.ScopeRefund, refundry.ScopeWrite} {
		k, text, err := eng.CreateAPIKey(ctx, m.ID, engine.KeySpec{Name: string(s), Scope: s})
		if err != nil {
			t.Fatal(err)
		}
		keys[string(s)], keyIDs[string(s)] = text, k.ID
	}
	revoked, text, err := eng.CreateAPIKey(ctx, m.ID, engine.KeySpec{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RevokeAPIKey(ctx, m.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	keys["revoked"] = text
	expired, text := refundry.NewAPIKey(m.ID, time.Now())
	expired.Expires = time.Now().Add(-time.Second)
	if err := store.CreateAPIKey(ctx, expired); err != nil {
		t.Fatal(err)
	}
	keys["expired"] = text
	keys["none"] = ""

	srv := httptest.NewServer(newServer(eng, logger, mustOps(t, store, eng)))
	t.Cleanup(srv.Close)

	missing := refundry.NewID()
	routes := edgeRoutes(missing)
	table := edge.Routes()
	for _, rt := range routes {
		if got, ok := table[rt.pattern]; !ok || got.Scope != rt.scope {
			t.Errorf("route table: %s needs %q (listed: %v), want %q", rt.pattern, got.Scope, ok, rt.scope)
		}
		delete(table, rt.pattern)
	}
	for p := range table {
		t.Errorf("route table lists %s, which this test does not cover", p)
	}

	for _, rt := range routes {
		for _, who := range []string{"read", "refund", "write", "revoked", "expired", "none"} {
			t.Run(rt.method+" "+rt.path+" "+who, func(t *testing.T) {
				req, _ := http.NewRequest(rt.method, srv.URL+rt.path, strings.NewReader(rt.body))
				if keys[who] != "" {
					req.Header.Set("Authorization", "Bearer "+keys[who])
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var body map[string]any
				dec := json.NewDecoder(strings.NewReader(string(raw)))
				dec.UseNumber()
				_ = dec.Decode(&body)
				want := 0
				switch {
				case who == "revoked" || who == "expired" || who == "none":
					want = http.StatusUnauthorized
				case !refundry.Scope(who).Allows(rt.scope):
					want = http.StatusForbidden
				}
				if want == 0 {
					if res.StatusCode == 401 || res.StatusCode == 403 || res.StatusCode >= 500 {
						t.Fatalf("key of scope %s: status %d, want the handler's answer: %s", who, res.StatusCode, raw)
					}
					return
				}
				if res.StatusCode != want {
					t.Fatalf("status %d, want %d: %s", res.StatusCode, want, raw)
				}
				if !rt.shape(want, body) {
					t.Fatalf("%d not in the route's own shape: %s", want, raw)
				}
				if want == http.StatusForbidden {
					route := edge.RouteFor(rt.pattern, rt.method)
					got, _, err := store.ListAuditLog(ctx, m.ID, refundry.AuditFilter{KeyID: keyIDs[who], Action: route.Action, Page: refundry.Page{Limit: 1}})
					if err != nil || len(got) != 1 || got[0].Result != refundry.EFORBIDDEN || got[0].Actor.Path != rt.path {
						t.Fatalf("audit of the refused write: %+v, %v", got, err)
					}
				}
			})
		}
	}
}
