package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// testWebhookSecret is the signing secret the conformance server is given.
const testWebhookSecret = "whsec_conformance"

// signed returns a Stripe event body and its Stripe-Signature, made by
// stripe-go's own test helper, at time at.
func signed(body string, secret string, at time.Time) (string, string) {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: at})
	return string(p.Payload), p.Header
}

// gatewayEventConformance produces every documented answer of POST
// /v1/gateway_events/stripe, and checks that nothing refused is stored.
func gatewayEventConformance(t *testing.T, c *conformance, env *testenv.Env) {
	ctx := context.Background()
	const route = "/v1/gateway_events/stripe"
	stored := func() int64 {
		t.Helper()
		n, err := env.Engine.CountGatewayEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, v := range n {
			sum += v
		}
		return sum
	}
	event := `{"id": "evt_conf", "object": "event", "type": "customer.created", "api_version": "2019-02-19", "data": {"object": {"id": "cus_1", "object": "customer"}}}`
	before := stored()

	body, sig := signed(event, testWebhookSecret, time.Now())
	if got := c.do("POST", route, route, "", body, 200, "Stripe-Signature", sig); got["duplicate"] != false {
		t.Errorf("first delivery: %v", got)
	}
	if got := c.do("POST", route, route, "", body, 200, "Stripe-Signature", sig); got["duplicate"] != true {
		t.Errorf("redelivery: %v", got)
	}
	if stored() != before+1 {
		t.Fatalf("stored %d events, want 1", stored()-before)
	}

	// Refused: nothing stored.
	other := strings.Replace(event, "evt_conf", "evt_refused", 1)
	_, wrongSecret := signed(other, "whsec_other", time.Now())
	_, old := signed(other, testWebhookSecret, time.Now().Add(-6*time.Minute))
	notEvent, notEventSig := signed(`{"id": "evt_x", "object": "customer"}`, testWebhookSecret, time.Now())
	broken, brokenSig := signed(`{"id": "evt_x", `, testWebhookSecret, time.Now())
	for _, tt := range []struct {
		name, body, sig, code string
	}{
		{"Missing", other, "", "signature_missing"},
		{"WrongSecret", other, wrongSecret, "signature_invalid"},
		{"Garbled", other, "t=abc,v1=zz", "signature_invalid"},
		{"Expired", other, old, "signature_expired"},
		{"OtherBody", other, sig, "signature_invalid"},
		{"NotAnEvent", notEvent, notEventSig, "event_malformed"},
		{"BrokenJSON", broken, brokenSig, "event_malformed"},
	} {
		var got map[string]any
		if tt.sig == "" {
			got = c.do("POST", route, route, "", tt.body, 400)
		} else {
			got = c.do("POST", route, route, "", tt.body, 400, "Stripe-Signature", tt.sig)
		}
		if e, _ := got["error"].(map[string]any); e == nil || e["code"] != tt.code {
			t.Errorf("%s: %v, want code %s", tt.name, got, tt.code)
		}
	}
	big, bigSig := signed(fmt.Sprintf(`{"id": "evt_big", "object": "event", "type": "x", "pad": %q}`, strings.Repeat("x", api.MaxEventBody)), testWebhookSecret, time.Now())
	c.do("POST", route, route, "", big, 413, "Stripe-Signature", bigSig)
	if stored() != before+1 {
		t.Fatalf("a refused event was stored: %d events, want 1", stored()-before)
	}

	// A server without the secret does not receive events at all.
	orig := c.srv
	c.srv = httptest.NewServer(edge.Observe(env.Logger, api.NewHandler(env.Engine, env.Logger)))
	got := c.do("POST", route, route, "", body, 404, "Stripe-Signature", sig)
	c.srv.Close()
	c.srv = orig
	if e, _ := got["error"].(map[string]any); e == nil || !strings.Contains(fmt.Sprint(e["message"]), "--stripe-webhook-secret") {
		t.Errorf("404 without a secret does not name the flag: %v", got)
	}
}
