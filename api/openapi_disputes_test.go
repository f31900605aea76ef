package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// disputesConformance produces every documented answer of the dispute
// routes, and the refund refused with charge_disputed.
func disputesConformance(t *testing.T, c *conformance, env *testenv.Env) {
	key := env.KeyA
	missing := refundry.NewID()
	s := env.Sale(testenv.SaleSpec{PayRefs: []string{"disputed-" + refundry.NewID()}})
	txn := s.Transactions[0]

	d := c.do("POST", "/v1/disputes", "/v1/disputes", key, fmt.Sprintf(`{"transaction": %q, "reason": "fraudulent"}`, txn.ID), 201)
	id, _ := d["id"].(string)
	if d["status"] != refundry.DisputeNeedsResponse || fmt.Sprint(d["amount"]) != fmt.Sprint(txn.Amount) {
		t.Errorf("a dispute recorded with no status or amount: %v; want needs_response for %d", d, txn.Amount)
	}
	c.do("POST", "/v1/disputes", "/v1/disputes", key, fmt.Sprintf(`{"transaction": %q, "status": "open"}`, txn.ID), 400)
	c.do("POST", "/v1/disputes", "/v1/disputes", "", `{}`, 401)
	c.do("POST", "/v1/disputes", "/v1/disputes", key, fmt.Sprintf(`{"transaction": %q}`, missing), 404)

	// The open dispute refuses the refund, and the sale shows it.
	refused := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"transaction": %q, "amount": 100}`, txn.ID), 400)
	if e, _ := refused["error"].(map[string]any); e["code"] != refundry.ECHARGEDISPUTED {
		t.Errorf("refund of a disputed transaction: %v; want charge_disputed", refused)
	}
	got := c.do("GET", "/v1/sales/{id}", "/v1/sales/"+s.ID, key, "", 200)
	if tj := got["transactions"].([]any)[0].(map[string]any); tj["dispute_status"] != refundry.DisputeNeedsResponse {
		t.Errorf("transaction after the dispute: %v", tj)
	}

	c.do("GET", "/v1/disputes", "/v1/disputes?limit=100", key, "", 200)
	c.do("GET", "/v1/disputes", "/v1/disputes?transaction="+txn.ID+"&status=needs_response", key, "", 200)
	c.do("GET", "/v1/disputes", "/v1/disputes?status=open", key, "", 400)
	c.do("GET", "/v1/disputes", "/v1/disputes", "", "", 401)
	c.do("GET", "/v1/disputes/{id}", "/v1/disputes/"+id, key, "", 200)
	c.do("GET", "/v1/disputes/{id}", "/v1/disputes/"+id, "", "", 401)
	c.do("GET", "/v1/disputes/{id}", "/v1/disputes/"+missing, key, "", 404)
	c.do("GET", "/v1/disputes/{id}", "/v1/disputes/"+id, env.KeyB, "", 404)

	c.do("POST", "/v1/disputes/{id}", "/v1/disputes/"+id, key, `{"status": "open"}`, 400)
	c.do("POST", "/v1/disputes/{id}", "/v1/disputes/"+id, "", `{}`, 401)
	c.do("POST", "/v1/disputes/{id}", "/v1/disputes/"+missing, key, `{"status": "won"}`, 404)
	c.do("POST", "/v1/disputes/{id}", "/v1/disputes/"+id, key, `{"status": "won"}`, 200)
	c.do("POST", "/v1/disputes/{id}", "/v1/disputes/"+id, key, `{"status": "needs_response"}`, 409)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"transaction": %q, "amount": 100}`, txn.ID), 201)

	// A refund made at the gateway that puts the sale over what was paid:
	// the sale and the refund as the document describes them.
	over := env.Sale(testenv.SaleSpec{PayRefs: []string{"over-" + refundry.NewID()}})
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q}`, over.ID), 201)
	if _, err := env.Engine.ApplyReport(context.Background(), refundry.GatewayReport{Refund: &refundry.RefundReport{
		Gateway: refundry.GatewaySimulator, ChargeIDs: []string{over.Transactions[0].Reference}, GatewayRefundID: "sim_re_" + refundry.NewID(),
		Amount: 100, Currency: over.Currency, Status: refundry.RefundSucceeded, Created: env.Engine.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got := c.do("GET", "/v1/sales/{id}", "/v1/sales/"+over.ID, key, "", 200); got["over_refunded"] != true {
		t.Errorf("over-refunded sale: %v", got)
	}
	c.do("GET", "/v1/refunds", "/v1/refunds?source=gateway&sale="+over.ID, key, "", 200)
}
