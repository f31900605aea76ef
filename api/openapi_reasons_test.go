package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/internal/testenv"
)

// reasonsConformance produces every documented answer of the refund
// reason routes and of the refunds export, and a refund's reason and
// description as POST /v1/refunds takes and shows them.
func reasonsConformance(t *testing.T, c *conformance, env *testenv.Env) {
	key := env.KeyA
	const reasons = "/v1/refund_reasons"
	list := c.do("GET", reasons, reasons, key, "", 200)
	if data, _ := list["data"].([]any); len(data) != 8 {
		t.Fatalf("a new merchant has %d reasons, want the 8 defaults: %v", len(data), list)
	}
	c.do("GET", reasons, reasons+"?colour=red", key, "", 400)
	c.do("GET", reasons, reasons, "", "", 401)
	r := c.do("POST", reasons, reasons, key, `{"code": "goodwill", "label": "Goodwill", "stripe_reason": "requested_by_customer"}`, 200)
	if r["code"] != "goodwill" || r["stripe_reason"] != "requested_by_customer" {
		t.Fatalf("created reason = %v", r)
	}
	r = c.do("POST", reasons, reasons, key, `{"code": "goodwill", "label": "Goodwill gesture", "stripe_reason": null}`, 200)
	if r["label"] != "Goodwill gesture" || r["stripe_reason"] != nil {
		t.Fatalf("replaced reason = %v", r)
	}
	c.do("POST", reasons, reasons, key, `{"code": "Good Will", "label": "x"}`, 400)
	c.do("POST", reasons, reasons, key, `{"code": "x", "label": "x", "stripe_reason": "because"}`, 400)
	c.do("POST", reasons, reasons, "", `{}`, 401)
	c.do("POST", reasons, reasons, key, `{"label": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)

	// A refund names a code and says the rest in description.
	sale := env.Sale(testenv.SaleSpec{})
	rf := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 100, "reason": "goodwill", "description": "Late by a week; customer kept it"}`, sale.ID), 201)
	if rf["reason"] != "goodwill" || rf["description"] != "Late by a week; customer kept it" {
		t.Fatalf("refund = %v", rf)
	}
	bad := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 100, "reason": "Customer changed her mind"}`, sale.ID), 400)
	if e, _ := bad["error"].(map[string]any); e["param"] != "reason" || !strings.Contains(fmt.Sprint(e["message"]), "description") {
		t.Fatalf("unknown reason answered %v", bad)
	}

	one := reasons + "/{code}"
	c.do("DELETE", one, reasons+"/goodwill", key, "", 200)
	c.do("DELETE", one, reasons+"/goodwill", key, "", 404)
	c.do("DELETE", one, reasons+"/late_delivery", env.KeyB, "", 200) // B's own, A's untouched
	c.do("DELETE", one, reasons+"/Bad%20Code", key, "", 404)
	c.do("DELETE", one, reasons+"/other", key, "", 409)
	c.do("DELETE", one, reasons+"/other", "", "", 401)
	if rs, _ := env.Engine.ListRefundReasons(t.Context(), env.A.ID); refundry.FindReason(rs, "late_delivery") == nil {
		t.Fatal("deleting B's reason deleted A's")
	}
	// The refund keeps its code once the code is gone.
	got := c.do("GET", "/v1/refunds/{id}", "/v1/refunds/"+rf["id"].(string), key, "", 200)
	if got["reason"] != "goodwill" {
		t.Fatalf("refund after its reason was deleted = %v", got)
	}

	const export = "/v1/refunds/export"
	recs := c.csvWith(export, export+"?sale="+sale.ID, key, refundry.RefundCSVColumns)
	if len(recs) != 1 || recs[0][0] != rf["id"] || recs[0][8] != "goodwill" || recs[0][9] != "Late by a week; customer kept it" {
		t.Fatalf("export = %q", recs)
	}
	c.do("GET", export, export+"?limit=5", key, "", 400)
	c.do("GET", export, export+"?status=lost", key, "", 400)
	c.do("GET", export, export, "", "", 401)
}
