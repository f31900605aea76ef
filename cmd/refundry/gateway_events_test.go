package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	stripeapi "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/internal/stripemock"
)

// The tests of Stripe's inbound events run a real serve, on both stores,
// with the stripe gateway pointed at stripe-mock (sales on Stripe need it
// configured; applying an event calls no gateway), and post events signed
// by stripe-go's own webhook.GenerateTestSignedPayload.

const eventSecret = "whsec_refundry_test"

// eventStores runs fn once per store: SQLite on disk, and a fresh
// PostgreSQL database (skipped without one, failed without one in CI).
func eventStores(t *testing.T, fn func(t *testing.T, db string)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, "sqlite:"+filepath.Join(t.TempDir(), "events.db")) })
	t.Run("PostgreSQL", func(t *testing.T) { fn(t, pgtest.NewDatabase(t)) })
}

// eventServer is a serve process that receives Stripe events.
type eventServer struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	c    *client
}

func startEventServer(t *testing.T, bin, db, key string, extra ...string) *eventServer {
	t.Helper()
	mock := stripemock.Start()
	t.Cleanup(mock.Stop)
	args := append([]string{"--db", db, "--stripe-key", stripemock.TestKey, "--stripe-api-base", mock.Require(t),
		"--stripe-webhook-secret", eventSecret}, extra...)
	cmd, base, _, _ := startServe(t, bin, args...)
	return &eventServer{t: t, cmd: cmd, base: base, c: &client{t: t, base: base, key: key}}
}

// stripeSale makes a sale paid by the Stripe charge ch (and payment
// intent pi) and returns its id.
func (s *eventServer) stripeSale(ch string, amount int64) string {
	s.t.Helper()
	sale := s.c.must("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": %d}],
		"payment": {"gateway": "stripe", "stripe_charge": %q}}`, amount, ch))
	return sale["id"].(string)
}

// post sends body signed at at (the zero time: unsigned) and returns the
// status and answer.
func (s *eventServer) post(body []byte, secret string, at time.Time) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/v1/gateway_events/stripe", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if !at.IsZero() {
		p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
		req.Header.Set("Stripe-Signature", p.Header)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if res.StatusCode >= 500 {
		s.t.Errorf("event answered %d: %s", res.StatusCode, raw)
	}
	return res.StatusCode, m
}

// deliver posts a well-signed event and expects it stored.
func (s *eventServer) deliver(body []byte) {
	s.t.Helper()
	if status, m := s.post(body, eventSecret, time.Now()); status != 200 || m["received"] != true {
		s.t.Fatalf("event answered %d %v, want 200 received", status, m)
	}
}

// inbox reads the inbox's gauges from /metrics: "" is the events not yet
// applied, every other key an outcome.
func (s *eventServer) inbox() map[string]int64 {
	s.t.Helper()
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseFloat(value, 64)
		switch {
		case name == "refundry_gateway_events_unapplied":
			out[""] = int64(n)
		case strings.HasPrefix(name, `refundry_gateway_events_stored{outcome="`):
			out[strings.TrimSuffix(strings.TrimPrefix(name, `refundry_gateway_events_stored{outcome="`), `"}`)] = int64(n)
		}
	}
	return out
}

// stored is how many events the inbox holds, applied or not.
func (s *eventServer) stored() int64 {
	var n int64
	for _, v := range s.inbox() {
		n += v
	}
	return n
}

// awaitApplied waits until no event waits and returns the outcomes.
func (s *eventServer) awaitApplied(want int64) map[string]int64 {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := s.inbox()
		if got[""] == 0 && s.stored() >= want {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("events not applied after 30s: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stripeEvent is a Stripe event of the type carrying obj (a stripe-go
// Refund, Charge or Dispute), as Stripe's webhook sends it.
func stripeEvent(t *testing.T, id, typ string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(stripeapi.Event{ID: id, Object: "event", Type: stripeapi.EventType(typ), APIVersion: stripeapi.APIVersion,
		Created: time.Now().Unix(), Data: &stripeapi.EventData{Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stripeRefund(id, charge string, amount int64, status stripeapi.RefundStatus) *stripeapi.Refund {
	return &stripeapi.Refund{ID: id, Object: "refund", Amount: amount, Currency: "usd", Status: status,
		Charge: &stripeapi.Charge{ID: charge}, Created: time.Now().Unix(), Metadata: map[string]string{}}
}

func uniq(prefix string) string { return prefix + strings.ToLower(refundry.NewID()) }

// Forged, missing, expired and oversized deliveries, and bodies that are
// not events, are refused (400, 413) and store nothing; a good one is
// stored. The route needs no API key: it is public in the route table.
func TestGatewayEventsBadInputStoresNothing(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) {
		s := startEventServer(t, bin, db, newMerchant(t, bin, db))
		good := stripeEvent(t, uniq("evt_"), "refund.updated", stripeRefund(uniq("re_"), uniq("ch_"), 100, "succeeded"))
		big := stripeEvent(t, uniq("evt_"), "refund.updated", map[string]any{"id": "re_x", "object": "refund", "pad": strings.Repeat("x", 600<<10)})
		for _, tt := range []struct {
			name   string
			body   []byte
			secret string
			at     time.Time
			status int
			code   string
		}{
			{"NoSignature", good, eventSecret, time.Time{}, 400, "signature_missing"},
			{"WrongSecret", good, "whsec_forged", time.Now(), 400, "signature_invalid"},
			{"TooOld", good, eventSecret, time.Now().Add(-6 * time.Minute), 400, "signature_expired"},
			{"MalformedJSON", []byte(`{"id": "evt_1", "object": "event", "type": `), eventSecret, time.Now(), 400, "event_malformed"},
			{"NotAnEvent", []byte(`{"id": "re_1", "object": "refund"}`), eventSecret, time.Now(), 400, "event_malformed"},
			{"NoEventID", []byte(`{"object": "event", "type": "refund.updated"}`), eventSecret, time.Now(), 400, "event_malformed"},
			{"Oversized", big, eventSecret, time.Now(), 413, "body_too_large"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, m := s.post(tt.body, tt.secret, tt.at)
				e, _ := m["error"].(map[string]any)
				if status != tt.status || e == nil || e["code"] != tt.code || e["message"] == "" {
					t.Fatalf("answered %d %v, want %d %s in the native shape", status, m, tt.status, tt.code)
				}
				if n := s.stored(); n != 0 {
					t.Fatalf("a refused event was stored: %d in the inbox", n)
				}
			})
		}
		s.deliver(good)
		if n := s.stored(); n != 1 {
			t.Fatalf("a good event: %d in the inbox, want 1", n)
		}
	})
	for _, p := range edge.PublicRoutes() {
		if _, listed := edge.Routes()[p]; listed {
			t.Errorf("public route %s is also in the table of routes keys reach", p)
		}
	}
}

// One event delivered 10 times at once is stored once and applied once:
// one delivery is answered new, nine duplicate.
func TestGatewayEventRedeliveredConcurrently(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) {
		s := startEventServer(t, bin, db, newMerchant(t, bin, db))
		ch := uniq("ch_")
		s.stripeSale(ch, 5000)
		body := stripeEvent(t, uniq("evt_"), "refund.created", stripeRefund(uniq("re_"), ch, 1200, "succeeded"))
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			fresh int
			dups  int
		)
		for range 10 {
			wg.Go(func() {
				status, m := s.post(body, eventSecret, time.Now())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case status != 200:
					t.Errorf("delivery answered %d %v", status, m)
				case m["duplicate"] == false:
					fresh++
				case m["duplicate"] == true:
					dups++
				}
			})
		}
		wg.Wait()
		if fresh != 1 || dups != 9 {
			t.Fatalf("%d deliveries answered new and %d duplicate, want 1 and 9", fresh, dups)
		}
		got := s.awaitApplied(1)
		if s.stored() != 1 {
			t.Fatalf("inbox = %v, want one event", got)
		}
	})
}

// kill -9 after an event is acknowledged and before it is applied: it is
// applied after the restart. --inbox-delay 1h holds the worker back, so
// the kill always lands between the two.
func TestGatewayEventCrashBeforeApplied(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) {
		key := newMerchant(t, bin, db)
		s := startEventServer(t, bin, db, key, "--inbox-delay", "1h")
		ch := uniq("ch_")
		s.stripeSale(ch, 5000)
		s.deliver(stripeEvent(t, uniq("evt_"), "refund.created", stripeRefund(uniq("re_"), ch, 700, "succeeded")))
		if got := s.inbox(); got[""] != 1 {
			t.Fatalf("before the kill: %v, want one event waiting", got)
		}
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = s.cmd.Wait()

		s = startEventServer(t, bin, db, key)
		got := s.awaitApplied(1)
		if got[""] != 0 || s.stored() != 1 {
			t.Fatalf("after the restart: %v, want the event applied", got)
		}
	})
}

// An event about a charge no merchant has is stored, applied as
// unknown_charge, and counted.
func TestGatewayEventUnknownCharge(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) {
		s := startEventServer(t, bin, db, newMerchant(t, bin, db))
		s.deliver(stripeEvent(t, uniq("evt_"), "refund.created", stripeRefund(uniq("re_"), uniq("ch_nobody"), 700, "succeeded")))
		got := s.awaitApplied(1)
		if got[refundry.OutcomeUnknownCharge] != 1 {
			t.Fatalf("inbox = %v, want one unknown_charge", got)
		}
	})
}
