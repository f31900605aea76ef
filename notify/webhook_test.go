package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/notify"
)

// The test vector of the Standard Webhooks specification's reference
// libraries: the signing this package relies on gives the published value.
func TestStandardWebhooksVector(t *testing.T) {
	wh, err := standardwebhooks.NewWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	// A secret made by Refundry has the specification's form.
	if _, err := standardwebhooks.NewWebhook(refundry.NewWebhookSecret()); err != nil {
		t.Fatal(err)
	}
}

// hit is one request the receiver got.
type hit struct {
	id, eventType, objectID string
	status                  int
	verified                bool
}

// receiver is a real HTTP endpoint; answer decides each response from the
// event type and how many times that webhook-id was seen before.
type receiver struct {
	*httptest.Server
	t      *testing.T
	secret string
	mu     sync.Mutex
	hits   []hit
	seen   map[string]int
	answer func(eventType string, seen int) (status int, delay time.Duration)
}

func newReceiver(t *testing.T, answer func(string, int) (int, time.Duration)) *receiver {
	rc := &receiver{t: t, seen: map[string]int{}, answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Object struct {
					ID string `json:"id"`
				} `json:"object"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		rc.mu.Lock()
		wh, _ := standardwebhooks.NewWebhook(rc.secret)
		ok := wh != nil && wh.Verify(body, r.Header) == nil
		id := r.Header.Get("webhook-id")
		n := rc.seen[id]
		rc.seen[id]++
		status, delay := rc.answer(ev.Type, n)
		rc.hits = append(rc.hits, hit{id, ev.Type, ev.Data.Object.ID, status, ok})
		rc.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"received": true}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// forever is a delay no attempt waits out: the receiver answers only
// once the worker has given up and hung up.
const forever = time.Hour

func (rc *receiver) snapshot() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

// await polls until cond holds of the hits so far.
func (rc *receiver) await(what string, cond func([]hit) bool) []hit {
	rc.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if h := rc.snapshot(); cond(h) {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc.t.Fatalf("timed out waiting for %s; hits: %+v", what, rc.snapshot())
	return nil
}

// setup makes an endpoint of merchant A at rc and a fast worker. Its
// per-attempt timeout is far beyond any answer of a local receiver on a
// loaded machine, so that only a receiver told to hang times out and the
// attempts counted are the ones the test asked for; a test of the timeout
// lowers it and makes the receiver hang until the worker gives up.
func setup(t *testing.T, rc *receiver, types ...string) (*testenv.Env, *refundry.WebhookEndpoint, *notify.Webhooks) {
	env := testenv.New(t)
	ep := &refundry.WebhookEndpoint{MerchantID: env.A.ID, URL: rc.URL + "/hooks", EnabledEvents: types}
	if err := env.Engine.CreateWebhookEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secret = ep.Secret
	rc.mu.Unlock()
	outbox := env.Engine.Stores.Outbox
	w := &notify.Webhooks{
		Outbox: outbox, Render: api.EventJSON, Logger: env.Logger,
		Schedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
		Timeout:  30 * time.Second, Interval: 10 * time.Millisecond,
	}
	return env, ep, w
}

// passes counts the worker's passes over the outbox and returns a wait for
// n more of them: "nothing more was sent" is then shown by the worker
// having looked again, not by a sleep that a loaded machine may not honour.
// Call it before Open.
func passes(t *testing.T, w *notify.Webhooks) func(n int64) {
	var count atomic.Int64
	w.OnPass = func() { count.Add(1) }
	return func(n int64) {
		t.Helper()
		want := count.Load() + n
		deadline := time.Now().Add(20 * time.Second)
		for count.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("the worker made %d of %d passes in 20s", count.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// awaitDelivered polls the endpoint's newest delivery until it is
// delivered.
func awaitDelivered(t *testing.T, env *testenv.Env, ep *refundry.WebhookEndpoint) *refundry.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ds := deliveries(t, env, ep); len(ds) > 0 && ds[0].Status == refundry.DeliveryDelivered {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery delivered in 20s: %+v", deliveries(t, env, ep))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func refund(t *testing.T, env *testenv.Env) *refundry.Refund {
	t.Helper()
	sale := env.Sale(testenv.SaleSpec{})
	res, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.A.ID,
		Target: refundry.RefundTarget{SaleID: sale.ID}, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	return res.Refunds[0]
}

func deliveries(t *testing.T, env *testenv.Env, ep *refundry.WebhookEndpoint) []*refundry.Delivery {
	t.Helper()
	o := env.Engine.Stores.Outbox
	ds, _, err := o.ListDeliveries(context.Background(), env.A.ID, ep.ID, refundry.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestWebhookRetriesAfter500AndTimeout(t *testing.T) {
	rc := newReceiver(t, func(_ string, seen int) (int, time.Duration) {
		switch seen {
		case 0:
			return 500, 0
		case 1:
			return 200, forever // until the worker's timeout gives up
		}
		return 204, 0
	})
	env, ep, w := setup(t, rc, refundry.EventRefundSucceeded)
	w.Timeout = 2 * time.Second
	start := time.Now()
	w.Open()
	defer w.Close()
	r := refund(t, env)
	hits := rc.await("the third attempt", func(h []hit) bool { return len(h) >= 3 && h[2].status == 204 })
	t.Logf("delivered on the third attempt after %v", time.Since(start))
	for _, h := range hits {
		if !h.verified || h.eventType != refundry.EventRefundSucceeded || h.objectID != r.ID || h.id != hits[0].id {
			t.Fatalf("hit %+v: want a verified refund.succeeded for %s with one webhook-id", h, r.ID)
		}
	}
	d := awaitDelivered(t, env, ep)
	h := d.History // newest first
	// The timed-out attempt lasted about the timeout: its context was
	// made a moment before its clock started, hence the slack.
	if len(h) != 3 || h[2].StatusCode != 500 || h[2].Response != `{"received": true}` || h[1].StatusCode != 0 ||
		h[1].Error == "" || h[1].LatencyMS < w.Timeout.Milliseconds()-100 || h[0].StatusCode != 204 || h[0].Error != "" {
		t.Fatalf("attempts = %+v %+v %+v", h[2], h[1], h[0])
	}
	t.Logf("attempts: 500 in %dms; %q after %dms; 204 in %dms", h[2].LatencyMS, h[1].Error, h[1].LatencyMS, h[0].LatencyMS)
}

func TestWebhookOrderPerRefund(t *testing.T) {
	// Every first refund.created fails twice; refund.succeeded, already
	// due, must still wait for it.
	rc := newReceiver(t, func(typ string, seen int) (int, time.Duration) {
		if typ == refundry.EventRefundCreated && seen < 2 {
			return 503, 0
		}
		return 200, 0
	})
	env, _, w := setup(t, rc, refundry.EventRefundCreated, refundry.EventRefundSucceeded)
	var ids []string
	for range 5 {
		ids = append(ids, refund(t, env).ID)
	}
	w.Open()
	defer w.Close()
	hits := rc.await("every refund's two events", func(h []hit) bool {
		n := 0
		for _, x := range h {
			if x.status == 200 {
				n++
			}
		}
		return n == 2*len(ids)
	})
	for _, id := range ids {
		var seq []string
		for _, h := range hits {
			if h.objectID == id {
				seq = append(seq, h.eventType+":"+http.StatusText(h.status))
			}
		}
		want := []string{"refund.created:Service Unavailable", "refund.created:Service Unavailable", "refund.created:OK", "refund.succeeded:OK"}
		if !slices.Equal(seq, want) {
			t.Fatalf("refund %s: the endpoint saw %v, want %v", id, seq, want)
		}
	}
}

func TestWebhookDisableEnableReplay(t *testing.T) {
	var mu sync.Mutex
	down := true
	rc := newReceiver(t, func(string, int) (int, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 500, 0
		}
		return 200, 0
	})
	env, ep, w := setup(t, rc, refundry.EventRefundSucceeded)
	w.DisableAfterFailures, w.DisableAfter = 3, time.Nanosecond
	waitPasses := passes(t, w)
	w.Open()
	defer w.Close()
	ctx := context.Background()
	o := env.Engine.Stores.Outbox
	refund(t, env)

	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := o.FindWebhookEndpoint(ctx, env.A.ID, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == refundry.EndpointDisabled {
			t.Logf("disabled: %s", got.DisabledReason)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint still %s after %d hits", got.Status, len(rc.snapshot()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitPasses(5)
	if n := len(rc.snapshot()); n != 3 {
		t.Fatalf("a disabled endpoint got %d requests, want the 3 that disabled it", n)
	}

	mu.Lock()
	down = false
	mu.Unlock()
	if _, err := o.EnableWebhookEndpoint(ctx, env.A.ID, ep.ID); err != nil {
		t.Fatal(err)
	}
	rc.await("delivery after enabling", func(h []hit) bool { return len(h) >= 4 && h[3].status == 200 })
	d := awaitDelivered(t, env, ep)
	if n := len(rc.snapshot()); n != 4 {
		t.Fatalf("the endpoint got %d requests, want 3 failures and one delivery", n)
	}

	// Replay sends the same event again, with the same webhook-id.
	if _, err := o.ReplayDelivery(ctx, env.A.ID, ep.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	hits := rc.await("the replay", func(h []hit) bool { return len(h) >= 5 })
	if len(hits) != 5 {
		t.Fatalf("a replay sent %d requests, want 1", len(hits)-4)
	}
	if hits[4].id != hits[3].id || !hits[4].verified || hits[4].status != 200 {
		t.Fatalf("replay hit %+v, first %+v", hits[4], hits[3])
	}
}
