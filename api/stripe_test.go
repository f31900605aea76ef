package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/gateway/stripe"
	"github.com/refundry/refundry/internal/stripemock"
	"github.com/refundry/refundry/internal/testenv"
)

// Sales on Stripe, refunded through the native API against a real
// stripe-mock process.
func TestStripeRefunds(t *testing.T) {
	mock := stripemock.Start()
	t.Cleanup(mock.Stop)
	base := mock.Require(t)
	te := testenv.New(t)
	g, err := stripe.New(stripe.Config{SecretKey: stripemock.TestKey, APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	te.Engine.Gateways[g.Name()] = g
	e := &env{t: t, srv: httptest.NewServer(edge.Observe(te.Logger, api.NewHandler(te.Engine, te.Logger)))}
	t.Cleanup(e.srv.Close)
	e.eng, e.store, e.keyA, e.keyB, e.merchA = te.Engine, te.Store, te.KeyA, te.KeyB, te.A

	for _, payment := range []string{`{"gateway": "stripe"}`, `{"gateway": "stripe", "stripe_charge": "ch_3MmlLrLkdIwHu7ix0snN0B15"}`,
		`{"gateway": "stripe", "stripe_payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa"}`} {
		t.Run(payment, func(t *testing.T) {
			s := e.do("POST", "/v1/sales", e.keyA, fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 2000}], "payment": %s}`, payment))
			if s.status != 201 {
				t.Fatalf("%d %s", s.status, s.raw)
			}
			charge, _ := transactions(s)[0]["gateway_charge_id"].(string)
			if !strings.HasPrefix(charge, "ch_") && !strings.HasPrefix(charge, "pi_") {
				t.Fatalf("gateway_charge_id = %q", charge)
			}
			body := fmt.Sprintf(`{"sale": %q, "amount": 500}`, s.str("id"))
			part := e.do("POST", "/v1/refunds", e.keyA, body, "Idempotency-Key", "stripe-"+s.str("id"))
			if part.status != 201 || part.str("gateway") != "stripe" || part.str("status") != "succeeded" || !strings.HasPrefix(part.str("gateway_refund_id"), "re_") {
				t.Fatalf("partial: %d %s", part.status, part.raw)
			}
			retry := e.do("POST", "/v1/refunds", e.keyA, body, "Idempotency-Key", "stripe-"+s.str("id"))
			if retry.str("id") != part.str("id") || retry.str("gateway_refund_id") != part.str("gateway_refund_id") {
				t.Fatalf("retry made another refund: %s", retry.raw)
			}
			full := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, s.str("id")))
			if full.status != 201 || full.num("amount") != 1500 || full.str("status") != "succeeded" {
				t.Fatalf("full: %d %s", full.status, full.raw)
			}
			if after := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); after.str("status") != "refunded" {
				t.Fatalf("sale after: %s", after.raw)
			}
		})
	}
	t.Run("ErrBadPaymentIds", func(t *testing.T) {
		for _, payment := range []string{`{"gateway": "stripe", "stripe_charge": "pi_x"}`, `{"gateway": "stripe", "stripe_payment_intent": "ch_x"}`,
			`{"gateway": "simulator", "stripe_charge": "ch_x"}`} {
			r := e.do("POST", "/v1/sales", e.keyA, fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 2000}], "payment": %s}`, payment))
			if r.status != 400 {
				t.Errorf("%s: %d %s", payment, r.status, r.raw)
			}
		}
	})
	// Stripe's own error answer (stripe-mock refuses a key that is not a
	// test key) sends the refund to manual review with Stripe's reason:
	// the client is answered with the refund, never an error it could
	// retry into a second one. Once the key is right, a person sends it
	// back to recovery, which makes it.
	t.Run("ErrStripeRefuses", func(t *testing.T) {
		s := e.do("POST", "/v1/sales", e.keyA, `{"currency": "USD", "line_items": [{"name": "a", "quantity": 1, "unit_amount": 2000}], "payment": {"gateway": "stripe"}}`)
		bad, err := stripe.New(stripe.Config{SecretKey: "sk_live_not_accepted", APIBase: base})
		if err != nil {
			t.Fatal(err)
		}
		te.Engine.Gateways[bad.Name()] = bad
		defer func() { te.Engine.Gateways[g.Name()] = g }()
		r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 700}`, s.str("id")))
		if r.status != 201 || r.str("status") != refundry.RefundRequiresAction || !strings.Contains(r.str("review_reason"), "API key") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		list := e.do("GET", "/v1/refunds?sale="+s.str("id"), e.keyA, "")
		refunds := objects(list.body["data"])
		if len(refunds) != 1 || refunds[0]["status"] != refundry.RefundRequiresAction {
			t.Fatalf("refunds after the refusal: %s", list.raw)
		}
		ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "approver-of-tests"})
		if _, err := te.Engine.Resolve(ctx, te.A.ID, r.str("id"), refundry.Resolution{Outcome: refundry.ResolveRetry, Note: "key fixed"}); err != nil {
			t.Fatal(err)
		}
		te.Engine.Gateways[g.Name()] = g
		if n, err := te.Engine.Recover(context.Background(), time.Now().Add(time.Second), 10); err != nil || n != 1 {
			t.Fatalf("Recover with the right key = %d, %v", n, err)
		}
		if got := e.do("GET", "/v1/refunds/"+refunds[0]["id"].(string), e.keyA, ""); got.str("status") != "succeeded" {
			t.Fatalf("after recovery: %s", got.raw)
		}
	})
}
