package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/gateway/connect"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/testenv"
)

// withAccounts gives env's engine a secrets key and a way to build the
// gateway of an account, as serve does with --secrets-key-file.
func withAccounts(t *testing.T, env *testenv.Env) {
	t.Helper()
	env.Engine.Secrets = testenv.NewSealer()
	env.Engine.Connect = func(a *refundry.GatewayAccount) (refundry.Gateway, error) { return connect.New(a, nil) }
}

// accountsConformance produces every documented answer of the gateway
// account routes, and shows a payment naming its account.
func accountsConformance(t *testing.T, c *conformance, env *testenv.Env) {
	t.Helper()
	withAccounts(t, env)
	key := env.KeyA
	missing := refundry.NewID()
	id := func(m map[string]any) string { s, _ := m["id"].(string); return s }
	param := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		p, _ := e["param"].(string)
		return p
	}

	// Create: the secret is never answered, only its last four characters.
	payop := c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key,
		`{"kind": "payop", "base_url": "https://payop.example/", "credentials": {"token": "tok_live_secret_0123abcd"}}`, 201)
	if got := fmt.Sprint(payop["credentials"]); got != "map[token:…abcd]" || strings.Contains(fmt.Sprint(payop), "secret_0123") {
		t.Errorf("credentials answered as %s", got)
	}
	if payop["base_url"] != "https://payop.example" || payop["status"] != "active" || payop["removed_at"] != nil {
		t.Errorf("created account: %v", payop)
	}
	sim := c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key, `{"kind": "simulator"}`, 201)
	if sim["base_url"] != nil {
		t.Errorf("a simulator account has base_url %v, want null", sim["base_url"])
	}
	short := c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key, `{"kind": "keepup", "credentials": {"api_key": "short"}}`, 201)
	if fmt.Sprint(short["credentials"]) != "map[api_key:]" || short["base_url"] != "https://api.keepup.store" {
		t.Errorf("a short secret's hint, or the default base URL: %v", short)
	}
	for _, bad := range []struct{ body, param string }{
		{`{"kind": "paypal", "credentials": {"token": "x"}}`, "kind"},
		{`{"kind": "payop", "base_url": "ftp://payop.example", "credentials": {"token": "tok"}}`, "base_url"},
		{`{"kind": "payop", "credentials": {}}`, "credentials.token"},
		{`{"kind": "payop", "credentials": {"token": "tok", "password": "x"}}`, "credentials.password"},
		{`{"kind": "jetti", "credentials": {"token": "tok"}}`, "base_url"},
		{`{"kind": "payop", "credentials": {"token": 5}}`, "credentials"},
		{`{"kind": "payop", "secret": "x"}`, "secret"},
	} {
		if got := param(c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key, bad.body, 400)); got != bad.param {
			t.Errorf("%s: param %q, want %q", bad.body, got, bad.param)
		}
	}
	c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", "", `{}`, 401)
	c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key, `{"kind": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)
	sealer := env.Engine.Secrets
	env.Engine.Secrets = nil
	c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key, `{"kind": "payop", "credentials": {"token": "tok_unsealed_0000"}}`, 503)
	env.Engine.Secrets = sealer

	// Read and list.
	got := c.do("GET", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(payop), key, "", 200)
	if fmt.Sprint(got["credentials"]) != "map[token:…abcd]" {
		t.Errorf("read back: %v", got)
	}
	c.do("GET", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(payop), "", "", 401)
	c.do("GET", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+missing, key, "", 404)
	c.do("GET", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(payop), env.KeyB, "", 404)
	list := c.do("GET", "/v1/gateway_accounts", "/v1/gateway_accounts?limit=2", key, "", 200)
	if data, _ := list["data"].([]any); len(data) != 2 || list["has_more"] != true {
		t.Errorf("first page of two: %v", list)
	}
	list = c.do("GET", "/v1/gateway_accounts", "/v1/gateway_accounts?kind=payop", key, "", 200)
	if data, _ := list["data"].([]any); len(data) != 1 || id(data[0].(map[string]any)) != id(payop) {
		t.Errorf("kind=payop: %v", list)
	}
	c.do("GET", "/v1/gateway_accounts", "/v1/gateway_accounts?kind=paypal", key, "", 400)
	c.do("GET", "/v1/gateway_accounts", "/v1/gateway_accounts?colour=red", key, "", 400)
	c.do("GET", "/v1/gateway_accounts", "/v1/gateway_accounts", "", "", 401)
	if list := c.do("GET", "/v1/gateway_accounts", "/v1/gateway_accounts", env.KeyB, "", 200); fmt.Sprint(list["data"]) != "[]" {
		t.Errorf("merchant B sees A's accounts: %v", list)
	}

	// A payment names its account, and the sale shows it; another
	// merchant's account is answered as a missing one.
	s := c.do("POST", "/v1/sales", "/v1/sales", key, fmt.Sprintf(`{"currency": "USD",
		"line_items": [{"name": "Seat", "unit_amount": 1250, "gateway_line_id": "ps_0001"}],
		"payment": {"gateway": "simulator", "gateway_account": %q, "reference": "%s_acc_%s"}}`,
		id(sim), simulator.PrefixPending, refundry.NewID()), 201)
	txn := s["transactions"].([]any)[0].(map[string]any)
	line := s["line_items"].([]any)[0].(map[string]any)
	if txn["gateway_account"] != id(sim) || line["gateway_line_id"] != "ps_0001" {
		t.Errorf("sale: account %v, line id %v", txn["gateway_account"], line["gateway_line_id"])
	}
	bAccount, err := env.Engine.CreateGatewayAccount(context.Background(), &refundry.GatewayAccount{MerchantID: env.B.ID, Kind: refundry.KindSimulator})
	if err != nil {
		t.Fatal(err)
	}
	for _, acc := range []string{bAccount.ID, missing, id(payop)} {
		body := fmt.Sprintf(`{"line_items": [{"name": "Seat", "unit_amount": 100}], "payment": {"gateway": "simulator", "gateway_account": %q}}`, acc)
		if got := param(c.do("POST", "/v1/sales", "/v1/sales", key, body, 400)); got != "payment.gateway_account" {
			t.Errorf("payment naming account %s: param %q", acc, got)
		}
	}

	// Removal waits for the refunds through the account that hold money.
	pending := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q}`, id(s)), 201)
	if pending["status"] != refundry.RefundPending {
		t.Fatalf("refund through the simulator account: %v", pending)
	}
	c.do("DELETE", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(sim), key, "", 409)
	c.do("POST", "/v1/refunds/{id}/cancel", "/v1/refunds/"+id(pending)+"/cancel", key, "", 200)
	removed := c.do("DELETE", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(sim), key, "", 200)
	if removed["status"] != "removed" || removed["removed_at"] == nil {
		t.Errorf("removed account: %v", removed)
	}
	c.do("DELETE", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(sim), key, "", 404)
	c.do("DELETE", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(payop), "", "", 401)
	c.do("DELETE", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(payop), env.KeyB, "", 404)
	if got := c.do("GET", "/v1/gateway_accounts/{id}", "/v1/gateway_accounts/"+id(sim), key, "", 200); got["status"] != "removed" {
		t.Errorf("a removed account reads as %v", got["status"])
	}
	body := fmt.Sprintf(`{"line_items": [{"name": "Seat", "unit_amount": 100}], "payment": {"gateway": "simulator", "gateway_account": %q}}`, id(sim))
	if got := param(c.do("POST", "/v1/sales", "/v1/sales", key, body, 400)); got != "payment.gateway_account" {
		t.Errorf("payment naming a removed account: param %q", got)
	}

	// A Talkable account's calls to Talkable are its deliveries.
	talkable := c.do("POST", "/v1/gateway_accounts", "/v1/gateway_accounts", key,
		`{"kind": "talkable", "base_url": "https://talkable.example", "credentials": {"api_key": "tk_0123456789ab", "site_slug": "my-store"}}`, 201)
	voided := env.Sale(testenv.SaleSpec{Reference: "ord-talkable-" + refundry.NewID(), Units: []int64{700}, PayRefs: []string{"t"}})
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q}`, voided.ID), 201)
	// The delivery worker's first step: the sale.refunded event becomes a
	// delivery owed to the account's endpoint.
	if _, err := env.Engine.Stores.Outbox.DispatchEvents(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	ds := c.do("GET", "/v1/gateway_accounts/{id}/deliveries", "/v1/gateway_accounts/"+id(talkable)+"/deliveries?limit=100", key, "", 200)
	if data, _ := ds["data"].([]any); len(data) != 1 || data[0].(map[string]any)["event_type"] != refundry.EventSaleRefunded {
		t.Errorf("talkable deliveries: %v", ds)
	}
	c.do("GET", "/v1/gateway_accounts/{id}/deliveries", "/v1/gateway_accounts/"+id(talkable)+"/deliveries?colour=red", key, "", 400)
	c.do("GET", "/v1/gateway_accounts/{id}/deliveries", "/v1/gateway_accounts/"+id(talkable)+"/deliveries", "", "", 401)
	c.do("GET", "/v1/gateway_accounts/{id}/deliveries", "/v1/gateway_accounts/"+id(payop)+"/deliveries", key, "", 404)
	c.do("GET", "/v1/gateway_accounts/{id}/deliveries", "/v1/gateway_accounts/"+id(talkable)+"/deliveries", env.KeyB, "", 404)
	// Its endpoint is no webhook endpoint of the merchant's.
	if eps := c.do("GET", "/v1/webhook_endpoints", "/v1/webhook_endpoints?limit=100", key, "", 200); strings.Contains(fmt.Sprint(eps), "talkable.example") {
		t.Errorf("the Talkable account's endpoint is listed among webhooks: %v", eps)
	}
}
