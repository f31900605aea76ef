package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// controlsConformance produces every documented answer of the refund
// policy, approval, review and users routes, and a refund held for
// approval and one refused by the policy as POST /v1/refunds answers
// them. It leaves merchant A without a policy, as it found it.
func controlsConformance(t *testing.T, c *conformance, env *testenv.Env) {
	ctx := context.Background()
	key := env.KeyA
	_, approver, err := env.Engine.CreateAPIKey(ctx, env.A.ID, engine.KeySpec{Name: "approver", Scope: refundry.ScopeApprove})
	if err != nil {
		t.Fatal(err)
	}
	if k := c.do("POST", "/v1/api_keys", "/v1/api_keys", key, `{"name": "second pair of eyes", "scope": "approve"}`, 201); k["scope"] != "approve" {
		t.Fatalf("key of scope approve = %v", k)
	}
	missing := refundry.NewID()
	id := func(m map[string]any) string { s, _ := m["id"].(string); return s }
	big := `{"note": "` + strings.Repeat("x", api.MaxBody) + `"}`

	const policy = "/v1/refund_policy"
	c.do("GET", policy, policy, key, "", 200)
	c.do("GET", policy, policy+"?colour=red", key, "", 400)
	c.do("GET", policy, policy, "", "", 401)
	p := c.do("POST", policy, policy, key, `{"max_refunds_per_sale": 3, "approval_threshold": {"USD": 1000}, "approval_for_sources": ["native"], "approval_expiry_hours": 48}`, 200)
	if p["approval_expiry_hours"] == nil || p["updated"] == nil {
		t.Fatalf("policy = %v", p)
	}
	c.do("POST", policy, policy, key, `{"max_refunds_per_sale": 2.5}`, 400)
	c.do("POST", policy, policy, "", `{}`, 401)
	c.do("POST", policy, policy, key, big, 413)

	// Refunds under the policy: one held for approval, one refused.
	held := func() string {
		t.Helper()
		s := env.Sale(testenv.SaleSpec{Units: []int64{5000}})
		r := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 1000}`, s.ID), 201)
		if r["status"] != refundry.RefundRequiresApproval || r["approval_expires_at"] == nil {
			t.Fatalf("refund at the threshold = %v", r)
		}
		return id(r)
	}
	capped := env.Sale(testenv.SaleSpec{Units: []int64{5000}})
	for range 3 {
		c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 10}`, capped.ID), 201)
	}
	if e := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 10}`, capped.ID), 400); e["error"].(map[string]any)["code"] != "too_many_refunds" {
		t.Fatalf("fourth refund = %v", e)
	}

	one := func(op string) string { return "/v1/refunds/{id}/" + op }
	path := func(id, op string) string { return "/v1/refunds/" + id + "/" + op }
	a := held()
	c.do("POST", one("approve"), path(a, "approve"), key, `{"note": "mine"}`, 403)
	c.do("POST", one("approve"), path(a, "approve"), approver, `{"colour": "red"}`, 400)
	c.do("POST", one("approve"), path(a, "approve"), "", ``, 401)
	c.do("POST", one("approve"), path(missing, "approve"), approver, ``, 404)
	c.do("POST", one("approve"), path(a, "approve"), approver, big, 413)
	if r := c.do("POST", one("approve"), path(a, "approve"), approver, `{"note": "checked"}`, 200); r["decision_note"] != "checked" {
		t.Fatalf("approved = %v", r)
	}
	c.do("POST", one("approve"), path(a, "approve"), approver, ``, 409)
	// A gateway that turns the approved refund away: the approval is
	// answered, and the refund goes to manual review with the reason.
	g := held()
	env.Engine.Gateways[refundry.GatewaySimulator] = refusing{env.Sim}
	c.do("POST", one("approve"), path(g, "approve"), approver, ``, 200)
	env.Engine.Gateways[refundry.GatewaySimulator] = env.Sim
	if r := c.do("GET", "/v1/refunds/{id}", "/v1/refunds/"+g, key, "", 200); r["status"] != refundry.RefundRequiresAction || r["review_reason"] == nil {
		t.Fatalf("refund approved while its gateway refused = %v", r)
	}
	c.do("POST", one("approve"), path(g, "approve"), approver, ``, 409)

	rj := held()
	c.do("POST", one("reject"), path(rj, "reject"), approver, `{"note": 1}`, 400)
	c.do("POST", one("reject"), path(rj, "reject"), "", ``, 401)
	c.do("POST", one("reject"), path(missing, "reject"), approver, ``, 404)
	c.do("POST", one("reject"), path(rj, "reject"), approver, big, 413)
	c.do("POST", one("reject"), path(rj, "reject"), approver, `{}`, 200)
	c.do("POST", one("reject"), path(rj, "reject"), approver, ``, 409)

	// A refund in manual review, as recovery leaves one.
	pending := env.Sale(testenv.SaleSpec{Units: []int64{5000}, PayRefs: []string{"sim_pending-" + refundry.NewID()}})
	pr := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 999}`, pending.ID), 201)
	if _, err := env.Store.SettleRefund(ctx, env.A.ID, id(pr), refundry.Settlement{Status: refundry.RefundRequiresAction,
		By: refundry.ByRecovery, Note: "Recovery asked the gateway 25 times and it gave no final answer."}); err != nil {
		t.Fatal(err)
	}
	c.do("GET", "/v1/refunds", "/v1/refunds?status=requires_action", key, "", 200)
	c.do("POST", one("resolve"), path(id(pr), "resolve"), approver, `{"outcome": "succeeded", "note": "paid"}`, 400)
	c.do("POST", one("resolve"), path(id(pr), "resolve"), "", `{}`, 401)
	c.do("POST", one("resolve"), path(missing, "resolve"), approver, `{"outcome": "failed", "note": "x"}`, 404)
	c.do("POST", one("resolve"), path(id(pr), "resolve"), approver, big, 413)
	c.do("POST", one("resolve"), path(id(pr), "resolve"), approver, `{"outcome": "failed", "note": "the gateway has no such refund"}`, 200)
	c.do("POST", one("resolve"), path(id(pr), "resolve"), approver, `{"outcome": "failed", "note": "again"}`, 409)
	c.do("GET", "/v1/events", "/v1/events?type=refund.*", key, "", 200)
	c.do("GET", "/v1/audit_log", "/v1/audit_log?action=refund.approve", key, "", 200)

	// Users.
	const users = "/v1/users"
	u := c.do("POST", users, users, key, `{"name": "Ana Lima", "email": "ana@example.com", "role": "approver", "password": "correct horse battery"}`, 201)
	c.do("POST", users, users, key, `{"name": "Ana", "email": "ANA@example.com", "role": "viewer", "password": "correct horse battery"}`, 409)
	c.do("POST", users, users, key, `{"name": "Bo", "email": "bo@example.com", "role": "owner", "password": "correct horse battery"}`, 400)
	c.do("POST", users, users, "", `{}`, 401)
	c.do("POST", users, users, key, `{"name": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)
	c.do("GET", users, users+"?limit=100", key, "", 200)
	c.do("GET", users, users+"?colour=red", key, "", 400)
	c.do("GET", users, users, "", "", 401)
	c.do("GET", users+"/{id}", users+"/"+id(u), key, "", 200)
	c.do("GET", users+"/{id}", users+"/"+id(u), "", "", 401)
	c.do("GET", users+"/{id}", users+"/"+id(u), env.KeyB, "", 404)
	dis := users + "/{id}/disable"
	c.do("POST", dis, users+"/"+id(u)+"/disable", key, `{"now": true}`, 400)
	c.do("POST", dis, users+"/"+id(u)+"/disable", "", ``, 401)
	c.do("POST", dis, users+"/"+missing+"/disable", key, ``, 404)
	c.do("POST", dis, users+"/"+id(u)+"/disable", key, strings.Repeat("x", api.MaxBody+1), 413)
	c.do("POST", dis, users+"/"+id(u)+"/disable", key, ``, 200)

	c.do("POST", policy, policy, key, `{"max_age_days": null, "max_refunds_per_sale": null, "approval_threshold": null, "approval_for_sources": null, "approval_expiry_hours": null}`, 200)
}
