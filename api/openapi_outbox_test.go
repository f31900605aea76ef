package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/notify"
)

// await polls cond until it holds, for the background workers.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// webhookConformance produces every documented answer of the webhook
// endpoint routes over real deliveries: serve's delivery worker
// (notify.Webhooks) sends a refund's events to a live receiver, to one
// that answers 500 until it is disabled, and to one that is gone, so the
// deliveries listed hold each kind of attempt (answered, refused by a
// 500, no answer at all) and each status.
func webhookConformance(t *testing.T, c *conformance, env *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	key := env.KeyA
	missing := refundry.NewID()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error": "down for maintenance"}`)
			return
		}
		io.WriteString(w, `{"received": true}`)
	}))
	t.Cleanup(rc.Close)
	// A server closed at once: its URL refuses connections, so attempts
	// to it end with an error and no status code.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	create := func(url string, events ...string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"url": url, "enabled_events": events})
		ep := c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, string(body), 201)
		if s, _ := ep["secret"].(string); !strings.HasPrefix(s, "whsec_") {
			t.Errorf("a new endpoint's secret = %q", s)
		}
		id, _ := ep["id"].(string)
		return id
	}
	good := create(rc.URL+"/ok", refundry.EventRefundSucceeded)
	failing := create(rc.URL+"/fail", refundry.AllEvents)
	dead := create(gone.URL+"/hooks", refundry.EventRefundSucceeded)
	c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, `{"url": "ftp://example.com/hooks", "enabled_events": ["*"]}`, 400)
	c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, `{"url": "https://example.com/hooks", "enabled_events": ["refund.exploded"]}`, 400)
	// A family pattern is kept as written, to be matched at delivery; a
	// family that does not exist is refused, naming the field.
	family := c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, `{"url": "https://example.com/hooks", "enabled_events": ["refund.*", "sale.*"]}`, 201)
	if ev, _ := family["enabled_events"].([]any); len(ev) != 2 || ev[0] != "refund.*" || ev[1] != "sale.*" {
		t.Errorf("an endpoint made for refund.* and sale.* shows enabled_events %v", family["enabled_events"])
	}
	c.do("DELETE", "/v1/webhook_endpoints/{id}", "/v1/webhook_endpoints/"+family["id"].(string), key, "", 200)
	refused := c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, `{"url": "https://example.com/hooks", "enabled_events": ["refunds.*"]}`, 400)
	if e, _ := refused["error"].(map[string]any); e["param"] != "enabled_events" {
		t.Errorf("an unknown family is refused with %v, want param enabled_events", refused)
	}
	c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, `{"url": "https://example.com/hooks", "events": ["*"]}`, 400)
	c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", "", `{}`, 401)
	c.do("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints", key, `{"url": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)

	// A refund made after the endpoints exist, so its events are owed to
	// them; then the worker, fast, disabling an endpoint after two
	// failures in a row.
	s := env.Sale(testenv.SaleSpec{})
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q}`, s.ID), 201)
	outbox := env.Engine.Stores.Outbox
	w := &notify.Webhooks{Outbox: outbox, Render: api.EventJSON, Logger: env.Logger,
		Schedule: []time.Duration{20 * time.Millisecond}, Timeout: time.Second, Interval: 10 * time.Millisecond,
		DisableAfterFailures: 2, DisableAfter: time.Nanosecond}
	w.Open()
	delivery := func(ep string) *refundry.Delivery {
		ds, _, err := outbox.ListDeliveries(ctx, env.A.ID, ep, refundry.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return nil
		}
		return ds[0]
	}
	disabled := func(ep string) bool {
		e, err := outbox.FindWebhookEndpoint(ctx, env.A.ID, ep)
		if err != nil {
			t.Fatal(err)
		}
		return e.Status == refundry.EndpointDisabled
	}
	await(t, "a delivery, an endpoint disabled by 500s and a failed delivery to a closed port", func() bool {
		g, d := delivery(good), delivery(dead)
		return g != nil && g.Status == refundry.DeliveryDelivered && d != nil && d.Status == refundry.DeliveryFailed &&
			disabled(failing) && disabled(dead)
	})
	// Stopped, the worker leaves every state below as it is read.
	w.Close()

	list := "/v1/webhook_endpoints"
	if l := c.do("GET", list, list+"?limit=2", key, "", 200); l["has_more"] != true {
		t.Errorf("three endpoints listed two at a time: has_more = %v", l["has_more"])
	}
	if l := c.do("GET", list, list, env.KeyB, "", 200); len(l["data"].([]any)) != 0 {
		t.Errorf("merchant B sees A's endpoints: %v", l["data"])
	}
	c.do("GET", list, list+"?colour=red", key, "", 400)
	c.do("GET", list, list+"?limit=0", key, "", 400)
	c.do("GET", list, list, "", "", 401)

	one := "/v1/webhook_endpoints/{id}"
	c.do("GET", one, list+"/"+good, key, "", 200)
	if ep := c.do("GET", one, list+"/"+failing, key, "", 200); ep["status"] != "disabled" || ep["disabled_reason"] == nil || ep["secret"] != nil {
		t.Errorf("a disabled endpoint: %v", ep)
	}
	c.do("GET", one, list+"/"+good, "", "", 401)
	c.do("GET", one, list+"/"+missing, key, "", 404)
	c.do("GET", one, list+"/"+good, env.KeyB, "", 404)
	c.do("GET", one, list+"/not-an-id", key, "", 404)

	deliveries := "/v1/webhook_endpoints/{id}/deliveries"
	ds := c.do("GET", deliveries, list+"/"+good+"/deliveries", key, "", 200)
	first, _ := ds["data"].([]any)[0].(map[string]any)
	if first["status"] != "delivered" || first["delivered_at"] == nil || first["next_attempt"] != nil {
		t.Errorf("a delivered delivery: %v", first)
	}
	c.do("GET", deliveries, list+"/"+failing+"/deliveries?limit=100", key, "", 200)
	if d := c.do("GET", deliveries, list+"/"+dead+"/deliveries", key, "", 200); d["data"].([]any)[0].(map[string]any)["status"] != "failed" {
		t.Errorf("the delivery to a closed port: %v", d["data"])
	}
	c.do("GET", deliveries, list+"/"+good+"/deliveries?limit=0", key, "", 400)
	c.do("GET", deliveries, list+"/"+good+"/deliveries", "", "", 401)
	c.do("GET", deliveries, list+"/"+missing+"/deliveries", key, "", 404)

	replay := "/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/replay"
	did, _ := first["id"].(string)
	if d := c.do("POST", replay, list+"/"+good+"/deliveries/"+did+"/replay", key, "", 200); d["status"] != "pending" || d["next_attempt"] == nil {
		t.Errorf("a replayed delivery: %v", d)
	}
	fd := delivery(failing)
	c.do("POST", replay, list+"/"+failing+"/deliveries/"+fd.ID+"/replay", key, "", 409)
	c.do("POST", replay, list+"/"+good+"/deliveries/"+did+"/replay", "", "", 401)
	c.do("POST", replay, list+"/"+good+"/deliveries/"+missing+"/replay", key, "", 404)
	c.do("POST", replay, list+"/"+good+"/deliveries/"+fd.ID+"/replay", key, "", 404) // another endpoint's
	c.do("POST", replay, list+"/"+good+"/deliveries/not-an-id/replay", key, "", 404)
	c.do("POST", replay, list+"/"+missing+"/deliveries/"+did+"/replay", key, "", 404)

	enable := "/v1/webhook_endpoints/{id}/enable"
	if ep := c.do("POST", enable, list+"/"+failing+"/enable", key, "", 200); ep["status"] != "enabled" || ep["disabled_reason"] != nil {
		t.Errorf("an enabled endpoint: %v", ep)
	}
	c.do("POST", enable, list+"/"+failing+"/enable", "", "", 401)
	c.do("POST", enable, list+"/"+missing+"/enable", key, "", 404)

	c.do("DELETE", one, list+"/"+dead, key, "", 200)
	c.do("DELETE", one, list+"/"+dead, key, "", 404)
	c.do("DELETE", one, list+"/"+good, "", "", 401)
}

// bouncing is a mail server that refuses one address for good and takes
// every other message.
type bouncing struct{ refuse string }

func (b bouncing) Send(_ context.Context, m *notify.Message) error {
	if m.To == b.refuse {
		return &notify.PermanentError{Err: errors.New("550 5.1.1 no such user")}
	}
	return nil
}

// notificationConformance lists customer notices in each status: one the
// email worker sent, one the mail server refused, and one not yet sent.
func notificationConformance(t *testing.T, c *conformance, env *testenv.Env) {
	t.Helper()
	key := env.KeyA
	notified := func(email, reference string) {
		t.Helper()
		s := env.Sale(testenv.SaleSpec{Email: email, Reference: reference})
		c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "notify_customer": true}`, s.ID), 201)
	}
	notified("ann@example.com", "ord-"+refundry.NewID())
	notified("nobody@example.com", "ord-"+refundry.NewID())
	outbox := env.Engine.Stores.Outbox
	e := &notify.Email{Outbox: outbox, Sender: bouncing{"nobody@example.com"}, Logger: env.Logger, Interval: 10 * time.Millisecond}
	e.Open()
	await(t, "a notice sent and one refused", func() bool {
		ns, _, err := outbox.ListNotifications(context.Background(), env.A.ID, refundry.NotificationFilter{Status: refundry.NotificationUnsent})
		if err != nil {
			t.Fatal(err)
		}
		return len(ns) == 0
	})
	e.Close()
	notified("bo@example.com", "") // left unsent, of a sale without an order number

	path := "/v1/notifications"
	for status, want := range map[string]int{"": 3, "sent": 1, "failed": 1, "unsent": 1} {
		l := c.do("GET", path, path+"?limit=10&status="+status, key, "", 200)
		if n := len(l["data"].([]any)); n != want {
			t.Errorf("notifications with status %q: %d, want %d", status, n, want)
		}
	}
	c.do("GET", path, path+"?status=lost", key, "", 400)
	c.do("GET", path, path+"?colour=red", key, "", 400)
	c.do("GET", path, path, "", "", 401)
}
