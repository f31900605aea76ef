package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// returnsConformance produces every documented answer of the return
// routes, and the refund that names its return.
func returnsConformance(t *testing.T, c *conformance, env *testenv.Env) {
	key := env.KeyA
	_, readKey, err := env.Engine.CreateAPIKey(context.Background(), env.A.ID, engine.KeySpec{Name: "returns-read", Scope: refundry.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	missing := refundry.NewID()
	s := env.Sale(testenv.SaleSpec{Units: []int64{1250, 500}})
	one := fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}], "reason": "damaged"}`, s.ID, s.LineItems[0].ID)

	c.do("POST", "/v1/returns", "/v1/returns", key, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 2}]}`, s.ID, s.LineItems[0].ID), 400)
	c.do("POST", "/v1/returns", "/v1/returns", "", one, 401)
	c.do("POST", "/v1/returns", "/v1/returns", readKey, one, 403)
	c.do("POST", "/v1/returns", "/v1/returns", key, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}]}`, missing, s.LineItems[0].ID), 404)
	r := c.do("POST", "/v1/returns", "/v1/returns", key, one, 201, "Idempotency-Key", "ret-"+missing)
	id, _ := r["id"].(string)

	c.do("GET", "/v1/returns", "/v1/returns?sale="+s.ID+"&status=requested&limit=100", key, "", 200)
	c.do("GET", "/v1/returns", "/v1/returns?status=lost", key, "", 400)
	c.do("GET", "/v1/returns", "/v1/returns", "", "", 401)
	c.do("GET", "/v1/returns/{id}", "/v1/returns/"+id, key, "", 200)
	c.do("GET", "/v1/returns/{id}", "/v1/returns/"+id, "", "", 401)
	c.do("GET", "/v1/returns/{id}", "/v1/returns/"+id, env.KeyB, "", 404)

	for _, step := range []string{"receive", "refund", "cancel"} {
		tmpl := "/v1/returns/{id}/" + step
		c.do("POST", tmpl, "/v1/returns/"+id+"/"+step, "", "", 401)
		c.do("POST", tmpl, "/v1/returns/"+id+"/"+step, readKey, "", 403)
		c.do("POST", tmpl, "/v1/returns/"+missing+"/"+step, key, "", 404)
		c.do("POST", tmpl, "/v1/returns/"+id+"/"+step, key, `{"note": 1}`, 400)
	}
	c.do("POST", "/v1/returns/{id}/refund", "/v1/returns/"+id+"/refund", key, `{"restocking_fee": 100}`, 409)
	c.do("POST", "/v1/returns/{id}/receive", "/v1/returns/"+id+"/receive", key, "", 200)
	c.do("POST", "/v1/returns/{id}/refund", "/v1/returns/"+id+"/refund", key, `{"restocking_fee": 1251}`, 400)
	done := c.do("POST", "/v1/returns/{id}/refund", "/v1/returns/"+id+"/refund", key, `{"restocking_fee": 250}`, 200)
	c.do("POST", "/v1/returns/{id}/receive", "/v1/returns/"+id+"/receive", key, "", 409)
	c.do("POST", "/v1/returns/{id}/cancel", "/v1/returns/"+id+"/cancel", key, "", 409)
	if refunds, _ := done["refunds"].([]any); len(refunds) == 1 {
		rf := c.do("GET", "/v1/refunds/{id}", "/v1/refunds/"+refunds[0].(string), key, "", 200)
		if rf["return"] != id || fmt.Sprint(rf["fee"]) != "250" {
			t.Errorf("the return's refund: %v", rf)
		}
	} else {
		t.Errorf("refunded return: %v", done)
	}

	other := c.do("POST", "/v1/returns", "/v1/returns", key, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}]}`, s.ID, s.LineItems[1].ID), 201)
	c.do("POST", "/v1/returns/{id}/cancel", "/v1/returns/"+other["id"].(string)+"/cancel", key, "", 200)
}
