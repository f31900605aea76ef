package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
)

// client talks to a running server with one merchant's key; answers keep
// their numbers exact (json.Number).
type client struct {
	t    *testing.T
	base string
	key  string
}

func (c *client) call(method, path, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	_ = dec.Decode(&m)
	if res.StatusCode == http.StatusInternalServerError {
		c.t.Errorf("%s %s answered 500: %s", method, path, raw)
	}
	return res.StatusCode, m, nil
}

func (c *client) must(method, path, body string) map[string]any {
	c.t.Helper()
	status, m, err := c.call(method, path, body)
	if err != nil || status >= 300 {
		c.t.Fatalf("%s %s: %d %v %v", method, path, status, m, err)
	}
	return m
}

// all pages through a list route.
func (c *client) all(path string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	after := ""
	for {
		p := path + "&limit=100"
		if after != "" {
			p += "&starting_after=" + after
		}
		page := c.must("GET", p, "")
		for _, d := range page["data"].([]any) {
			out = append(out, d.(map[string]any))
			after = d.(map[string]any)["id"].(string)
		}
		if page["has_more"] != true {
			return out
		}
	}
}

func newMerchant(t *testing.T, bin, db string) string {
	t.Helper()
	out, err := exec.Command(bin, "merchant", "create", "--slug", "crash", "--name", "Crash", "--db", db).Output()
	if err != nil {
		t.Fatalf("merchant create: %v", err)
	}
	var mc struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &mc); err != nil {
		t.Fatal(err)
	}
	return mc.APIKey
}

// Invariants 3 and 6 across kill -9: refunds whose gateway is slow are
// made, the server is killed mid-flight, and after a restart every refund
// ends settled exactly once, every 2xx refund is there, and no amount stays
// reserved for a refund that failed.
func TestCrashRecoverySettlesPendingRefunds(t *testing.T) {
	bin := buildBinary(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "crash.db")
	key := newMerchant(t, bin, db)
	cmd, base, _, _ := startServe(t, bin, "--db", db)
	c := &client{t: t, base: base, key: key}

	// Half the sales' gateway settles their refunds after 2s, half declines
	// them after 2s: a crash finds both kinds pending.
	var sales []string
	for i := range 8 {
		ref := fmt.Sprintf("sim_pending_2s-%d", i)
		if i%2 == 1 {
			ref = fmt.Sprintf("sim_pending_2s_fail-%d", i)
		}
		s := c.must("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 1000}], "payment": {"reference": %q}}`, ref))
		sales = append(sales, s["id"].(string))
	}

	var mu sync.Mutex
	acked := map[string]string{} // refund id -> sale id
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for w := range 16 {
		wg.Go(func() {
			for i := range 10 {
				sale := sales[(w+i)%len(sales)]
				status, r, err := c.call("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 50}`, sale))
				if err != nil {
					return // the server is gone
				}
				if status == 201 {
					mu.Lock()
					acked[r["id"].(string)] = sale
					n := len(acked)
					mu.Unlock()
					if n == 40 {
						close(killed)
					}
				}
			}
		})
	}
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatal("40 refunds were not answered in time")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown of any kind
		t.Fatal(err)
	}
	wg.Wait()
	_ = cmd.Wait()

	_, base2, _, _ := startServe(t, bin, "--db", db)
	c.base = base2
	refunds := settledRefunds(t, c, slices.Collect(maps.Keys(acked)), 60*time.Second)
	settledEvents := map[string]int{}
	for _, e := range c.all("/v1/events?type=refund.succeeded,refund.failed") {
		obj := e["data"].(map[string]any)["object"].(map[string]any)
		settledEvents[obj["id"].(string)]++
	}
	succeeded := map[string]int64{}
	for id, r := range refunds {
		if settledEvents[id] != 1 {
			t.Errorf("refund %s settled %d times", id, settledEvents[id])
		}
		if r["status"] == "succeeded" {
			n, _ := r["amount"].(json.Number).Int64()
			succeeded[r["sale"].(string)] += n
		}
	}
	for i, id := range sales {
		s := c.must("GET", "/v1/sales/"+id, "")
		refunded, _ := s["refunded_amount"].(json.Number).Int64()
		if refunded != succeeded[id] {
			t.Errorf("sale %s refunded %d, its succeeded refunds add up to %d", id, refunded, succeeded[id])
		}
		if i%2 == 1 && refunded != 0 {
			t.Errorf("sale %s: %d stays reserved for refunds that failed", id, refunded)
		}
	}
	t.Logf("%d refunds answered before the kill, %d stored, all settled once", len(acked), len(refunds))
}

// Invariant 6 across kill -9, counted at the gateway. The simulator's
// memory dies with the server, so serve keeps its call log in a file
// (--sim-call-log), each call synced before it is made and each answer
// before it is returned. Refunds of every kind (instant success, timed
// pending that succeeds or fails, instant decline) are made while the
// server is killed three times mid-flight and restarted, then recovery
// settles what was left pending. Sending a refund again is allowed only
// as the gateway's idempotency makes it harmless, so the log must show:
//
//   - the gateway never heard of a refund that is not stored: no call
//     came before the reservation was durable;
//   - every call of a refund carries the same request, the stored one:
//     same idempotency key (the refund id), amount, currency and payment,
//     so a resend can only repeat the first call's outcome;
//   - no refund was answered two ways (succeeded and failed);
//   - a refund stored as succeeded was answered succeeded, and one stored
//     as failed never was: money the gateway moved is never released to
//     be refunded again;
//   - per sale, the money the gateway moved (once per refund id answered
//     succeeded) is the sale's refunded amount and never more than paid;
//   - within one server life, a refund the gateway has answered for good
//     is not sent again, unless recovery may have claimed it while its
//     request's call was in flight: each call is one that could still have
//     been needed, so a refund sent twice is seen even though the
//     gateway's idempotency makes the second send harmless.
//
// Calls that could have moved money and were sent again (no answer, an
// error, or pending) are counted and reported. Both stores: a kill -9
// leaves each in its own state (SQLite's WAL, PostgreSQL's aborted
// sessions).
func TestCrashGatewayNeverRefundsTwice(t *testing.T) {
	bin := buildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		neverRefundsTwice(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "crash.db"))
	})
	t.Run("postgres", func(t *testing.T) { neverRefundsTwice(t, bin, pgtest.NewDatabase(t)) })
}

func neverRefundsTwice(t *testing.T, bin, db string) {
	callLog := filepath.Join(t.TempDir(), "calls.jsonl")
	key := newMerchant(t, bin, db)
	args := []string{"--db", db, "--sim-call-log", callLog}
	cmd, base, _, _ := startServe(t, bin, args...)
	c := &client{t: t, base: base, key: key}

	const paid = 1000
	kinds := []string{"pay", "sim_pending_1s", "sim_pending_1s_fail", "sim_fail"}
	var sales []string
	for i := range 12 {
		ref := fmt.Sprintf("%s-%d", kinds[i%len(kinds)], i)
		s := c.must("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": %d}], "payment": {"reference": %q}}`, paid, ref))
		sales = append(sales, s["id"].(string))
	}

	acked := map[string]bool{}
	for cycle := range 3 {
		if cycle > 0 {
			cmd, base, _, _ = startServe(t, bin, args...)
			c.base = base
		}
		var mu sync.Mutex
		n := 0
		enough := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					sale := sales[(w*5+i+cycle)%len(sales)]
					status, r, err := c.call("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 30}`, sale))
					if err != nil {
						return // the server is gone
					}
					if status == 201 {
						id, _ := r["id"].(string)
						if id == "" {
							t.Errorf("a 201 without a refund id: %v", r)
							return
						}
						mu.Lock()
						acked[id] = true
						if n++; n == 10 {
							close(enough)
						}
						mu.Unlock()
					}
				}
			})
		}
		select {
		case <-enough:
		case <-time.After(30 * time.Second):
			t.Fatalf("cycle %d: 10 refunds were not answered in 30s", cycle)
		}
		// A little later each cycle, so that kills find refunds at
		// different steps: mid-call, answered but not settled, pending
		// for recovery, mid-recovery.
		time.Sleep(time.Duration(cycle) * 400 * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		_ = cmd.Wait()
	}

	_, base, _, _ = startServe(t, bin, args...)
	c.base = base
	refunds := settledRefunds(t, c, slices.Collect(maps.Keys(acked)), 30*time.Second)
	num := func(v any) int64 {
		n, _ := v.(json.Number).Int64()
		return n
	}

	// The log, read after the last server's calls: each call with its
	// answer, if it got one before its process died.
	raw, err := os.ReadFile(callLog)
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		req    simulator.Call
		answer *simulator.Call
		// The log lines of the call and of its answer (0: none).
		line, answerLine int
	}
	var calls []*call
	byCall := map[[2]int64]*call{}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var l simulator.Call
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("call log line %d %q: %v", i+1, line, err)
		}
		id := [2]int64{int64(l.PID), l.Seq}
		switch l.Op {
		case simulator.OpRefund, simulator.OpCancel:
			cl := &call{req: l, line: i + 1}
			calls = append(calls, cl)
			byCall[id] = cl
		case simulator.OpAnswer:
			cl := byCall[id]
			if cl == nil || cl.answer != nil || cl.req.Key != l.Key {
				t.Fatalf("call log line %d answers no call of its own: %q", i+1, line)
			}
			cl.answer, cl.answerLine = &l, i+1
		}
	}
	perRefund := map[string][]*call{}
	for _, cl := range calls {
		perRefund[cl.req.Key] = append(perRefund[cl.req.Key], cl)
	}

	moved := map[string]int64{} // by sale: what the gateway returned
	resent, unknown, acrossKills, raced := 0, 0, 0, 0
	for id, cls := range perRefund {
		if cls[0].req.PID != cls[len(cls)-1].req.PID {
			acrossKills++
		}
		r := refunds[id]
		if r == nil {
			t.Errorf("the gateway was called for refund %s, which is not stored", id)
			continue
		}
		answers := map[string]bool{}
		open := 0 // calls that may have moved money before this one
		// Within one server life, once the gateway has answered a refund
		// for good, the engine records that answer and has no reason to
		// send the refund again; a resend is a refund sent twice, which
		// the gateway's idempotency alone would hide. The one resend
		// allowed is recovery's claim racing the request's own call, and
		// recovery claims only refunds recoveryMinAge old: a resend made
		// sooner after the refund was created cannot be that race.
		created := time.Unix(num(r["created"]), 0)
		finalLine := map[int]int{} // by process: the line of its first final answer
		for i, cl := range cls {
			if at, ok := finalLine[cl.req.PID]; ok && cl.line > at {
				if cl.req.At.Sub(created) < recoveryMinAge {
					t.Errorf("refund %s was sent again (log line %d) by the server life that already had its final answer (line %d), less than %v after it was created",
						id, cl.line, at, cl.req.At.Sub(created).Round(time.Millisecond))
				} else {
					raced++
				}
			}
			if a := cl.answer; a != nil && a.Status != "" && a.Status != "pending" {
				if _, ok := finalLine[cl.req.PID]; !ok {
					finalLine[cl.req.PID] = cl.answerLine
				}
			}
			q := cl.req
			if q.Op != simulator.OpRefund || q.Amount != num(r["amount"])-num(r["fee"]) ||
				!strings.EqualFold(q.Currency, r["currency"].(string)) || q.Transaction != r["transaction"] {
				t.Errorf("refund %s call %d = %+v; the stored refund is %v", id, i, q, r)
			}
			if i > 0 && open > 0 {
				resent++
			}
			switch {
			case cl.answer == nil || cl.answer.Error != "":
				unknown++
				open++
			case cl.answer.Status == "pending" || cl.answer.Status == "succeeded":
				open++
			}
			if cl.answer != nil && cl.answer.Status != "" && cl.answer.Status != "pending" {
				answers[cl.answer.Status] = true
			}
		}
		if len(answers) > 1 {
			t.Errorf("refund %s was answered %v", id, answers)
		}
		switch r["status"] {
		case "succeeded":
			if !answers["succeeded"] {
				t.Errorf("refund %s is stored succeeded; the gateway never said so: %v", id, answers)
			}
		case "failed":
			if answers["succeeded"] || !answers["failed"] {
				t.Errorf("refund %s is stored failed; the gateway said %v", id, answers)
			}
		default:
			t.Errorf("refund %s is %s after recovery", id, r["status"])
		}
		if answers["succeeded"] {
			moved[r["sale"].(string)] += num(r["amount"])
		}
	}
	for id := range refunds {
		if perRefund[id] == nil {
			t.Errorf("refund %s is stored %s, but the gateway never heard of it", id, refunds[id]["status"])
		}
	}
	for _, id := range sales {
		s := c.must("GET", "/v1/sales/"+id, "")
		if refunded := num(s["refunded_amount"]); refunded != moved[id] || moved[id] > paid {
			t.Errorf("sale %s: the gateway returned %d of %d paid; the sale says %d refunded", id, moved[id], paid, refunded)
		}
	}
	pids := map[int]bool{}
	for _, cl := range calls {
		pids[cl.req.PID] = true
	}
	// The timed pending refunds made in the first moments of each life
	// are still pending at its kill: the next life must ask again, or
	// this test exercised nothing of recovery across a crash.
	if acrossKills == 0 {
		t.Errorf("no refund was asked about by more than one server life (%d lives in the log)", len(pids))
	}
	t.Logf("%d refunds stored (%d answered 201), %d gateway calls from %d server lives, %d refunds asked about again after a kill; %d calls without a known outcome, %d calls repeating one that may have moved money; %d resends after a final answer, each old enough to be recovery racing the request",
		len(refunds), len(acked), len(calls), len(pids), acrossKills, unknown, resent, raced)
}

// settledRefunds waits up to wait for recovery to settle every pending
// refund, then returns every refund by id, failing the test for each
// acknowledged refund that is gone (invariant 3).
func settledRefunds(t *testing.T, c *client, acked []string, wait time.Duration) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(wait)
	for len(c.all("/v1/refunds?status=pending")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("refunds still pending %s after the last restart: %v", wait, c.all("/v1/refunds?status=pending"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	refunds := map[string]map[string]any{}
	for _, r := range c.all("/v1/refunds?") {
		refunds[r["id"].(string)] = r
	}
	for _, id := range acked {
		if refunds[id] == nil {
			t.Errorf("refund %s was answered 201 but is gone", id)
		}
	}
	return refunds
}
