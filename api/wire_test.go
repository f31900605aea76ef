package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Valid JSON with a value of the wrong type is answered with the field and
// the form it takes, not "not valid JSON"; a number sent as a string is
// refused like every other loose form; and none of it changes anything.
func TestWrongTypeNamesField(t *testing.T) {
	e := newEnv(t)
	s := e.sale(e.keyA, "wt", 1000)
	sale := s.str("id")
	for _, tc := range []struct {
		name, path, body string
		param, want      string
	}{
		{"ExpiresAtAsRFC3339", "/v1/api_keys", `{"name": "ci", "scope": "read", "expires_at": "2027-01-31T00:00:00Z"}`,
			"expires_at", "expires_at must be an integer (unix seconds), not a string."},
		{"AmountAsString", "/v1/refunds", `{"sale": "` + sale + `", "amount": "100"}`,
			"amount", "amount must be an integer number of minor units (1250 is 12.50 USD), not a string."},
		{"AmountAsBoolean", "/v1/refunds", `{"sale": "` + sale + `", "amount": true}`,
			"amount", "not a boolean"},
		{"NestedUnitAmount", "/v1/sales", `{"currency": "USD", "line_items": [{"name": "x", "quantity": 1, "unit_amount": "12.50"}], "payment": {}}`,
			"line_items[0].unit_amount", "line_items[0].unit_amount must be an integer number of minor units"},
		{"QuantityAsObject", "/v1/sales", `{"currency": "USD", "line_items": [{"name": "x", "quantity": {}, "unit_amount": 1}], "payment": {}}`,
			"line_items[0].quantity", "must be an integer, not an object"},
		{"OffsiteAsString", "/v1/refunds", `{"sale": "` + sale + `", "offsite": "yes"}`,
			"offsite", "offsite must be a JSON boolean"},
		{"BatchAmountAsString", "/v1/refund_batches", `{"rows": [{"target": "` + sale + `", "amount": "100"}]}`,
			"rows[0].amount", "not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, e.keyA, tc.body)
			errObj, _ := r.body["error"].(map[string]any)
			if r.status != http.StatusBadRequest || errObj["param"] != tc.param || !strings.Contains(errObj["message"].(string), tc.want) {
				t.Fatalf("%s: %d %s; want 400 naming %s: %q", tc.body, r.status, r.raw, tc.param, tc.want)
			}
		})
	}
	if got := e.do("GET", "/v1/sales/"+sale, e.keyA, ""); got.num("refunded_amount") != 0 {
		t.Fatalf("a refused request refunded %d", got.num("refunded_amount"))
	}
	// A number is still a number.
	if r := e.do("POST", "/v1/refunds", e.keyA, `{"sale": "`+sale+`", "amount": 100}`); r.status != http.StatusCreated {
		t.Fatalf("amount 100: %d %s", r.status, r.raw)
	}
}

// A CSV file sent without Content-Type: text/csv (curl's --data-binary
// sends a form type) is told which header makes it one.
func TestBatchCSVWithoutContentTypeHint(t *testing.T) {
	e := newEnv(t)
	for _, ct := range []string{"application/x-www-form-urlencoded", "application/json", ""} {
		r := e.do("POST", "/v1/refund_batches", e.keyA, "target,amount,reason\nx,100,y\n", "Content-Type", ct)
		errObj, _ := r.body["error"].(map[string]any)
		if r.status != http.StatusBadRequest || !strings.Contains(errObj["message"].(string), "Content-Type: text/csv") {
			t.Fatalf("Content-Type %q: %d %s; want a hint about text/csv", ct, r.status, r.raw)
		}
	}
}

// Only money that went back has a refund time: refunded_at is null on a
// pending, failed or canceled refund, and set once one succeeds.
func TestRefundedAtOnlyWhenSucceeded(t *testing.T) {
	e := newEnv(t)
	refundOf := func(payRef string) (sale, refund response) {
		t.Helper()
		sale = e.sale(e.keyA, payRef, 1000)
		e.do("POST", "/v1/refunds", e.keyA, `{"sale": "`+sale.str("id")+`"}`)
		list := e.do("GET", "/v1/refunds?sale="+sale.str("id"), e.keyA, "")
		data := objects(list.body["data"])
		if len(data) != 1 {
			t.Fatalf("refunds of %s: %s", payRef, list.raw)
		}
		return sale, e.do("GET", "/v1/refunds/"+data[0]["id"].(string), e.keyA, "")
	}
	check := func(r response, status string, wantTime bool) {
		t.Helper()
		at, has := r.body["refunded_at"]
		if r.str("status") != status || !has || (at != nil) != wantTime {
			t.Fatalf("%s refund: refunded_at %v (present %v), want a time: %v\n%s", status, at, has, wantTime, r.raw)
		}
		if wantTime && r.num("refunded_at") < r.num("created") {
			t.Fatalf("refunded_at %d before created %d", r.num("refunded_at"), r.num("created"))
		}
	}
	_, ok := refundOf("pay")
	check(ok, "succeeded", true)
	_, failed := refundOf("sim_fail_card")
	check(failed, "failed", false)
	_, pending := refundOf("sim_pending")
	check(pending, "pending", false)
	check(e.do("POST", "/v1/refunds/"+pending.str("id")+"/cancel", e.keyA, ""), "canceled", false)

	// Pending, then succeeded: the time comes with the success.
	_, later := refundOf("sim_pending")
	if !e.sim.Settle(later.str("id"), "succeeded") {
		t.Fatal("simulator did not hold the refund")
	}
	if n, err := e.eng.Recover(context.Background(), e.eng.Now().Add(time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	check(e.do("GET", "/v1/refunds/"+later.str("id"), e.keyA, ""), "succeeded", true)
}
