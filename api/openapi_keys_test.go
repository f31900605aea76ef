package api_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// keysConformance produces every documented answer of the API key and
// audit log routes, and the 403 of every route that writes: a read key
// sent to it.
func keysConformance(t *testing.T, c *conformance, env *testenv.Env) {
	ctx := context.Background()
	key := env.KeyA
	_, readKey, err := env.Engine.CreateAPIKey(ctx, env.A.ID, engine.KeySpec{Name: "reporting", Scope: refundry.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	missing := refundry.NewID()

	k := c.do("POST", "/v1/api_keys", "/v1/api_keys", key, `{"name": "ci", "scope": "refund", "expires_at": 4102444800}`, 201)
	id, _ := k["id"].(string)
	c.do("POST", "/v1/api_keys", "/v1/api_keys", key, `{"name": "ci", "scope": "admin"}`, 400)
	c.do("POST", "/v1/api_keys", "/v1/api_keys", "", `{}`, 401)
	c.do("POST", "/v1/api_keys", "/v1/api_keys", key, `{"name": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)
	c.do("GET", "/v1/api_keys", "/v1/api_keys?limit=100", key, "", 200)
	c.do("GET", "/v1/api_keys", "/v1/api_keys?colour=red", key, "", 400)
	c.do("GET", "/v1/api_keys", "/v1/api_keys", "", "", 401)
	c.do("POST", "/v1/api_keys/{id}/revoke", "/v1/api_keys/"+id+"/revoke", key, "", 200)
	c.do("POST", "/v1/api_keys/{id}/revoke", "/v1/api_keys/"+id+"/revoke", "", "", 401)
	c.do("POST", "/v1/api_keys/{id}/revoke", "/v1/api_keys/"+missing+"/revoke", key, "", 404)
	c.do("POST", "/v1/api_keys/{id}/revoke", "/v1/api_keys/"+id+"/revoke", key, strings.Repeat("x", api.MaxBody+1), 413)
	c.do("GET", "/v1/audit_log", "/v1/audit_log?limit=100", key, "", 200)
	c.do("GET", "/v1/audit_log", "/v1/audit_log?action=refund.create&created[gte]=0", key, "", 200)
	c.do("GET", "/v1/audit_log", "/v1/audit_log?created[gte]=soon", key, "", 400)
	c.do("GET", "/v1/audit_log", "/v1/audit_log", "", "", 401)

	// Every route that writes turns a read key away before anything else.
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for path, methods := range c.doc.Paths {
		for method, op := range methods {
			if _, ok := op.Responses["403"]; !ok {
				continue
			}
			c.do(strings.ToUpper(method), path, param.ReplaceAllString(path, missing), readKey, `{}`, 403)
		}
	}
}
