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

// metric reads one sample of /metrics by its name and labels, -1 when
// it is missing.
func (s *eventServer) metric(sample string) float64 {
	s.t.Helper()
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return -1
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
		sale := s.stripeSale(ch, 5000)
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
		if s.stored() != 1 || got[refundry.OutcomeAdopted] != 1 {
			t.Fatalf("inbox = %v, want one event, adopted", got)
		}
		l := s.ledger(sale)
		if len(l.refunds) != 1 || num(l.sale["refunded_amount"]) != 1200 {
			t.Fatalf("after 10 deliveries: refunds %v, sale refunded %v; want one refund of 1200", l.refunds, l.sale["refunded_amount"])
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
		ch, re := uniq("ch_"), uniq("re_")
		sale := s.stripeSale(ch, 5000)
		s.deliver(stripeEvent(t, uniq("evt_"), "refund.created", stripeRefund(re, ch, 700, "succeeded")))
		if got := s.inbox(); got[""] != 1 || len(s.ledger(sale).refunds) != 0 {
			t.Fatalf("before the kill: %v, want one event waiting and no refund yet", got)
		}
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = s.cmd.Wait()

		s = startEventServer(t, bin, db, key)
		got := s.awaitApplied(1)
		if got[""] != 0 || s.stored() != 1 || got[refundry.OutcomeAdopted] != 1 {
			t.Fatalf("after the restart: %v, want the event applied", got)
		}
		l := s.ledger(sale)
		if r := l.refunds[re]; r == nil || r["source"] != refundry.SourceGateway || num(l.sale["refunded_amount"]) != 700 {
			t.Fatalf("after the restart: refunds %v, sale %v; want the refund adopted", l.refunds, l.sale)
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
		if got[refundry.OutcomeUnknownCharge] != 1 || s.stored() != 1 {
			t.Fatalf("inbox = %v, want one event stored, unknown_charge", got)
		}
		if n := s.metric(`refundry_gateway_reports_total{gateway="stripe",outcome="unknown_charge"}`); n != 1 {
			t.Fatalf("refundry_gateway_reports_total of unknown_charge = %v, want 1", n)
		}
		if rs := s.c.all("/v1/refunds?status=succeeded"); len(rs) != 0 {
			t.Fatalf("an unknown charge's event made refunds: %v", rs)
		}
	})
}

func stripeDispute(id, charge string, amount int64, status stripeapi.DisputeStatus) *stripeapi.Dispute {
	return &stripeapi.Dispute{ID: id, Object: "dispute", Amount: amount, Currency: "usd", Status: status,
		Reason: "fraudulent", Charge: &stripeapi.Charge{ID: charge}, Created: time.Now().Unix()}
}

// ledger reads what the native API shows of a sale: the sale, its refunds
// by Stripe refund id, and its disputes by Stripe dispute id.
type ledger struct {
	sale     map[string]any
	refunds  map[string]map[string]any
	disputes map[string]map[string]any
}

func (s *eventServer) ledger(saleID string) ledger {
	s.t.Helper()
	l := ledger{sale: s.c.must("GET", "/v1/sales/"+saleID, ""), refunds: map[string]map[string]any{}, disputes: map[string]map[string]any{}}
	for _, r := range s.c.all("/v1/refunds?sale=" + saleID) {
		id, _ := r["gateway_refund_id"].(string)
		l.refunds[id] = r
	}
	for _, d := range s.c.all("/v1/disputes?sale=" + saleID) {
		id, _ := d["gateway_dispute_id"].(string)
		l.disputes[id] = d
	}
	return l
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

// Every event type Refundry acts on, signed as Stripe signs it and
// posted to a real serve, does to the ledger what it says, on both
// stores: refunds made at Stripe are adopted (source gateway), a pending
// one settles, a succeeded one that fails late is corrected and its
// amount is refundable again, refunds listed in an old API version's
// charge.refunded are adopted each, an adoption past what was paid flags
// the sale, and the dispute events open, change, fund and close a
// dispute that refuses refunds while open and, lost, reduces what is
// refundable.
func TestGatewayEventEveryTypeReachesTheLedger(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) {
		s := startEventServer(t, bin, db, newMerchant(t, bin, db))
		delivered := int64(0)
		send := func(typ string, obj any) {
			t.Helper()
			s.deliver(stripeEvent(t, uniq("evt_"), typ, obj))
			delivered++
			s.awaitApplied(delivered)
		}
		outcomes := func() map[string]int64 { return s.inbox() }

		// refund.created (adopted), refund.updated (settled),
		// refund.failed (corrected), charge.refund.updated (adopted).
		chA := uniq("ch_")
		saleA := s.stripeSale(chA, 5000)
		reA1, reA2, reA3 := uniq("re_"), uniq("re_"), uniq("re_")
		send("refund.created", stripeRefund(reA1, chA, 1200, "succeeded"))
		send("refund.created", stripeRefund(reA2, chA, 500, "pending"))
		l := s.ledger(saleA)
		if r := l.refunds[reA1]; r == nil || r["source"] != refundry.SourceGateway || r["status"] != "succeeded" || num(r["amount"]) != 1200 {
			t.Fatalf("refund.created: adopted refund %v", r)
		}
		if r := l.refunds[reA2]; r == nil || r["status"] != "pending" {
			t.Fatalf("refund.created pending: %v", r)
		}
		if num(l.sale["refunded_amount"]) != 1700 || l.sale["status"] != "partially_refunded" {
			t.Fatalf("after two adoptions the sale is %v", l.sale)
		}
		send("refund.updated", stripeRefund(reA2, chA, 500, "succeeded"))
		if r := s.ledger(saleA).refunds[reA2]; r["status"] != "succeeded" {
			t.Fatalf("refund.updated: %v, want succeeded", r)
		}
		failed := stripeRefund(reA1, chA, 1200, "failed")
		failed.FailureReason = "expired_or_canceled_card"
		send("refund.failed", failed)
		l = s.ledger(saleA)
		if r := l.refunds[reA1]; r["status"] != "failed" || !strings.Contains(fmt.Sprint(r["failure_reason"]), "expired_or_canceled_card") {
			t.Fatalf("refund.failed: %v, want failed with Stripe's reason", r)
		}
		if num(l.sale["refunded_amount"]) != 500 || num(l.sale["refundable_amount"]) != 4500 {
			t.Fatalf("after a late failure the sale is %v, want 500 refunded and 4500 refundable again", l.sale)
		}
		failedEvents := 0
		for _, e := range s.c.all("/v1/events?type=refund.failed") {
			if e["data"].(map[string]any)["object"].(map[string]any)["gateway_refund_id"] == reA1 {
				failedEvents++
			}
		}
		if failedEvents != 1 {
			t.Errorf("refund.failed events for the late failure: %d, want 1", failedEvents)
		}
		send("charge.refund.updated", stripeRefund(reA3, chA, 300, "succeeded"))
		if r := s.ledger(saleA).refunds[reA3]; r == nil || r["source"] != refundry.SourceGateway || r["status"] != "succeeded" {
			t.Fatalf("charge.refund.updated: %v, want adopted", r)
		}

		// charge.refunded of an old API version: every listed refund.
		chB := uniq("ch_")
		saleB := s.stripeSale(chB, 3000)
		reB1, reB2 := uniq("re_"), uniq("re_")
		send("charge.refunded", &stripeapi.Charge{ID: chB, Object: "charge", Amount: 3000, Currency: "usd", Refunded: true,
			Refunds: &stripeapi.RefundList{Data: []*stripeapi.Refund{stripeRefund(reB1, chB, 1000, "succeeded"), stripeRefund(reB2, "", 2000, "succeeded")}}})
		l = s.ledger(saleB)
		if len(l.refunds) != 2 || l.refunds[reB1] == nil || l.refunds[reB2] == nil || num(l.sale["refunded_amount"]) != 3000 || l.sale["status"] != "refunded" {
			t.Fatalf("charge.refunded: sale %v, refunds %v", l.sale, l.refunds)
		}

		// An adoption past what was paid is recorded and flags the sale.
		chC := uniq("ch_")
		saleC := s.stripeSale(chC, 1000)
		send("refund.created", stripeRefund(uniq("re_"), chC, 800, "succeeded"))
		send("refund.created", stripeRefund(uniq("re_"), chC, 500, "succeeded"))
		if l := s.ledger(saleC); num(l.sale["refunded_amount"]) != 1300 || l.sale["over_refunded"] != true {
			t.Fatalf("over-refund: sale %v, want 1300 refunded and flagged", l.sale)
		}

		// The dispute events: opened, funds withdrawn, under review,
		// funds reinstated, closed won; refunds refused while it is open.
		chD := uniq("ch_")
		saleD := s.stripeSale(chD, 5000)
		dpD := uniq("dp_")
		refuse := func(what string) {
			t.Helper()
			status, m, _ := s.c.call("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 100}`, saleD))
			if e, _ := m["error"].(map[string]any); status != 400 || e["code"] != refundry.ECHARGEDISPUTED {
				t.Fatalf("%s: refund answered %d %v, want 400 charge_disputed", what, status, m)
			}
		}
		send("charge.dispute.created", stripeDispute(dpD, chD, 5000, "needs_response"))
		l = s.ledger(saleD)
		if d := l.disputes[dpD]; d == nil || d["status"] != "needs_response" || num(d["amount"]) != 5000 || d["currency"] != "USD" || d["reason"] != "fraudulent" {
			t.Fatalf("charge.dispute.created: %v", d)
		}
		refuse("dispute opened")
		send("charge.dispute.funds_withdrawn", stripeDispute(dpD, chD, 5000, "needs_response"))
		if d := s.ledger(saleD).disputes[dpD]; d["funds_withdrawn"] != true {
			t.Fatalf("charge.dispute.funds_withdrawn: %v", d)
		}
		send("charge.dispute.updated", stripeDispute(dpD, chD, 5000, "under_review"))
		if d := s.ledger(saleD).disputes[dpD]; d["status"] != "under_review" {
			t.Fatalf("charge.dispute.updated: %v", d)
		}
		refuse("dispute under review")
		send("charge.dispute.funds_reinstated", stripeDispute(dpD, chD, 5000, "won"))
		send("charge.dispute.closed", stripeDispute(dpD, chD, 5000, "won"))
		l = s.ledger(saleD)
		if d := l.disputes[dpD]; d["status"] != "won" || d["funds_withdrawn"] != false || len(l.disputes) != 1 {
			t.Fatalf("dispute won: %v", l.disputes)
		}
		if num(l.sale["refundable_amount"]) != 5000 {
			t.Fatalf("a won dispute frees the charge: %v", l.sale)
		}

		// A lost dispute's amount went back to the customer.
		chE := uniq("ch_")
		saleE := s.stripeSale(chE, 5000)
		dpE := uniq("dp_")
		send("charge.dispute.created", stripeDispute(dpE, chE, 2000, "needs_response"))
		send("charge.dispute.closed", stripeDispute(dpE, chE, 2000, "lost"))
		l = s.ledger(saleE)
		if d := l.disputes[dpE]; d["status"] != "lost" || num(l.sale["refundable_amount"]) != 3000 {
			t.Fatalf("dispute lost: dispute %v, sale %v, want 3000 refundable", d, l.sale)
		}

		// An event of a type Refundry does not act on: stored, ignored.
		send("customer.created", map[string]any{"id": uniq("cus_"), "object": "customer"})
		got := outcomes()
		// Counted by event: charge.refunded adopted two refunds in one;
		// the dispute closed won after its funds came back as won
		// changed nothing.
		want := map[string]int64{refundry.OutcomeAdopted: 6, refundry.OutcomeSettled: 1, refundry.OutcomeCorrected: 1,
			refundry.OutcomeDispute: 6, refundry.OutcomeMatched: 1, refundry.OutcomeIgnored: 1}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("inbox outcome %s: %d events, want %d (all: %v)", k, got[k], n, got)
			}
		}
	})
}
