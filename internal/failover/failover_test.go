package failover

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/storetest"
)

// Failover figures. The whole test stays under five minutes on a small
// machine: kills × (load before the kill + promotion + a new standby).
const (
	failovers = 5
	clients   = 64
	// ackedBeforeKill refunds are acknowledged after each new standby is
	// synchronous and before the primary is killed: the kill lands
	// mid-load, with requests in every step of their life.
	ackedBeforeKill = 100
	budget          = 4*time.Minute + 30*time.Second
)

// TestFailover is invariant 3 across the loss of the primary: a refund
// answered 2xx is on the promoted standby.
//
// A primary and a streaming synchronous standby (initdb, pg_basebackup
// -R, on loopback ports), two serve nodes on the multi-host URL with
// target_session_attrs=read-write, and 64 clients refunding through both,
// each retrying with its Idempotency-Key what was not answered. The
// primary is killed with -9 (postmaster and backends at once) mid-load
// and the standby promoted (pg_ctl promote), five times: after each
// promotion the killed server is thrown away and made again as a
// standby of the new primary (pg_basebackup), which becomes synchronous
// before the next kill. Then:
//
//   - every refund answered 201 is stored, with its amount and sale
//     (lost = 0);
//   - no sale, line item or transaction is refunded past what was paid
//     (storetest.CheckInvariants on the last primary);
//   - every refund left pending (gateway answers that take a second, and
//     settlements the kill interrupted) is settled by recovery, once;
//   - how long writes were refused after each kill is measured and
//     printed, with what the clients were answered meanwhile.
//
// While the new primary has no standby yet, it runs with
// synchronous_standby_names empty, as Patroni's synchronous_mode does
// when no standby is left: a refund it acknowledges then is on its own
// disk only, and on the new standby once that is synchronous, which is
// before the next kill.
func TestFailover(t *testing.T) {
	began := time.Now()
	p := newPGTools(t)
	// The build and the cluster are made at once: each takes a while on
	// a busy machine.
	go func() { _ = build() }()
	a, b := p.server(t, "pg_a"), p.server(t, "pg_b")
	a.initPrimary(t)
	b.standbyOf(t, a)
	a.waitSynchronous(t, b)
	bin := buildRefundry(t)
	a.psql(t, "CREATE DATABASE refundry")
	db := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/refundry?sslmode=disable&target_session_attrs=read-write&connect_timeout=2", a.port, b.port)
	key, merchantID := newMerchant(t, bin, db, "failover")
	nodes := []*node{startNode(t, bin, "node1", "--db", db), startNode(t, bin, "node2", "--db", db)}
	c := newAPI(key)

	// Big sales take refunds all along; small ones are refunded to their
	// last cent early, so the over-refund guard is tried across every
	// failover. A quarter of each pay with a gateway that answers
	// "pending" and settles a second later, through recovery.
	var sales []sale
	for i := range 48 {
		s := sale{paid: 50_000_000, small: false}
		if i >= 40 {
			s = sale{paid: 2_000, small: true}
		}
		ref := fmt.Sprintf("pay-%d", i)
		if i%4 == 0 {
			ref = fmt.Sprintf("sim_pending_1s-%d", i)
		}
		s.id = c.newSale(t, nodes[i%2].base, s.paid, ref)
		sales = append(sales, s)
	}

	l := &load{api: c, nodes: nodes, sales: sales}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() { l.client(ctx, w) })
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopLoad()
			wg.Wait()
		}
	}
	defer stop()

	primary, standby := a, b
	var kills []failover
	for k := range failovers {
		l.waitAcked(t, ackedBeforeKill, 60*time.Second)
		f := failover{killed: primary.name}
		f.at = primary.kill(t)
		// The standby will run alone until it has a standby of its own.
		standby.psql(t, "ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()")
		standby.promote(t)
		f.promoted = time.Since(f.at)
		primary.standbyOf(t, standby)
		f.copied = time.Since(f.at)
		standby.psql(t, "ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()")
		standby.waitSynchronous(t, primary)
		f.synchronous = time.Since(f.at)
		kills = append(kills, f)
		t.Logf("failover %d done after %s", k+1, time.Since(began).Round(time.Second))
		primary, standby = standby, primary
		if time.Since(began) > budget {
			t.Fatalf("failover %d ended %s after the start, past the budget of %s", k+1, time.Since(began).Round(time.Second), budget)
		}
	}
	l.waitAcked(t, ackedBeforeKill, 60*time.Second)
	stop()

	// Every refund pending when the load stopped is settled by recovery.
	deadline := time.Now().Add(60 * time.Second)
	for len(c.all(t, nodes[0].base+"/v1/refunds?status=pending")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("refunds still pending 60s after the load stopped: %d", len(c.all(t, nodes[0].base+"/v1/refunds?status=pending")))
		}
		time.Sleep(250 * time.Millisecond)
	}

	stored := map[string]map[string]any{}
	for _, r := range c.all(t, nodes[1].base+"/v1/refunds?") {
		stored[r["id"].(string)] = r
	}
	lost, pending := 0, 0
	for id, ack := range l.acked {
		if ack.pending {
			pending++
		}
		r := stored[id]
		switch {
		case r == nil:
			lost++
			t.Errorf("refund %s (%d of sale %s) was answered 201 and is not on the promoted standby", id, ack.amount, ack.sale)
		case num(r["amount"]) != ack.amount || r["sale"] != ack.sale:
			t.Errorf("refund %s was answered as %d of %s, is stored as %v of %v", id, ack.amount, ack.sale, r["amount"], r["sale"])
		}
	}
	// Settled once: one refund.succeeded or refund.failed event each,
	// whichever node's recovery or request settled it.
	settled := map[string]int{}
	for _, e := range c.all(t, nodes[0].base+"/v1/events?type=refund.succeeded,refund.failed") {
		settled[e["data"].(map[string]any)["object"].(map[string]any)["id"].(string)]++
	}
	for id, r := range stored {
		if r["status"] == "pending" {
			t.Errorf("refund %s is still pending", id)
		}
		if settled[id] != 1 {
			t.Errorf("refund %s settled %d times", id, settled[id])
		}
	}

	st, err := postgres.Open(context.Background(), primary.url("refundry"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.CheckInvariants(t, st, merchantID)
	exhausted := 0
	for _, s := range sales {
		if s.small && num(c.must(t, "GET", nodes[0].base+"/v1/sales/"+s.id, "")["refunded_amount"]) == s.paid {
			exhausted++
		}
	}

	// The figures.
	t.Logf("%d clients on 2 nodes, %d failovers in %s", clients, len(kills), time.Since(began).Round(time.Second))
	for i, f := range kills {
		w := l.window(f.at)
		t.Logf("failover %d (%s killed): promoted after %s; writes refused for %.2fs; new standby copied and started after %s, synchronous after %s; answers to requests sent while refused: %s; longest request then: %s",
			i+1, f.killed, f.promoted.Round(time.Millisecond), w.refused.Seconds(), f.copied.Round(time.Millisecond), f.synchronous.Round(time.Millisecond), w.answers, w.longest.Round(time.Millisecond))
	}
	t.Logf("acknowledged %d (%d of them pending, all settled since by recovery), lost %d, stored %d (a refund committed whose answer was lost is stored, not acknowledged), small sales refunded whole %d of %d; refused seconds in total %.2f",
		len(l.acked), pending, lost, len(stored), exhausted, len(sales)-40, l.refusedTotal(kills).Seconds())
	t.Logf("answers to refund requests: %s", l.summary())
	// A refund is made, refused for what it asks (a small sale refunded
	// whole), or refused for now with 503 and Retry-After while no
	// primary answers: never a 500, never a request left hanging.
	for outcome, n := range l.outcomes() {
		if outcome != "201" && outcome != "503 service_unavailable" && outcome != "400 amount_too_large" && outcome != "400 already_refunded" {
			t.Errorf("%d refund requests answered %q", n, outcome)
		}
	}
	if exhausted == 0 {
		t.Errorf("no small sale was refunded whole: the over-refund guard was not tried")
	}
}

type sale struct {
	id    string
	paid  int64
	small bool
}

type failover struct {
	killed      string
	at          time.Time
	promoted    time.Duration // pg_ctl promote returned
	copied      time.Duration // the new standby was copied and started
	synchronous time.Duration // a new standby was synchronous
}

type ack struct {
	sale    string
	amount  int64
	pending bool // answered pending: settled later, by recovery
}

// attempt is one refund request and what came of it.
type attempt struct {
	start, end time.Time
	outcome    string // "201", "409", "503", "error", ...
}

// load is 64 clients refunding small amounts through both nodes.
type load struct {
	api   *api
	nodes []*node
	sales []sale

	mu       sync.Mutex
	acked    map[string]ack // refund id
	sinceCut int            // refunds acknowledged since waitAcked last returned
	attempts []attempt
}

// client refunds until ctx ends. A request that is not answered for
// good (no answer, 5xx, 429) is sent again with the same Idempotency-Key
// to the other node, as a client behind a load balancer would; its
// refund is made once, whichever answer says so.
func (l *load) client(ctx context.Context, w int) {
	rnd := rand.New(rand.NewPCG(uint64(w), 22))
	for i := 0; ctx.Err() == nil; i++ {
		s := l.sales[rnd.IntN(40)]
		if rnd.IntN(8) == 0 {
			s = l.sales[40+rnd.IntN(8)]
		}
		body := fmt.Sprintf(`{"sale": %q, "amount": %d}`, s.id, 1+rnd.IntN(100))
		key := fmt.Sprintf("client-%d-%d", w, i)
		for try := 0; ctx.Err() == nil; try++ {
			n := l.nodes[(w+i+try)%len(l.nodes)]
			at := attempt{start: time.Now()}
			ans, err := l.api.call("POST", n.base+"/v1/refunds", body, key)
			at.end = time.Now()
			switch {
			case err != nil:
				at.outcome = "error"
			case ans.status == 201:
				at.outcome = "201"
			default:
				code := ""
				if e, ok := ans.body["error"].(map[string]any); ok {
					code, _ = e["code"].(string)
				}
				at.outcome = strconv.Itoa(ans.status) + " " + code
				if ans.status == 503 && ans.header.Get("Retry-After") == "" {
					at.outcome += " without Retry-After"
				}
			}
			l.record(at, ans, s)
			if err == nil && ans.status < 500 && ans.status != 429 {
				break // answered for good: made, or refused for what it asks
			}
			wait := 100 * time.Millisecond
			if ra, err := strconv.Atoi(ans.header.Get("Retry-After")); err == nil && ra > 0 {
				wait = min(time.Duration(ra)*time.Second, time.Second)
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

func (l *load) record(at attempt, ans answer, s sale) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, at)
	if ans.status == 201 {
		if l.acked == nil {
			l.acked = map[string]ack{}
		}
		id, _ := ans.body["id"].(string)
		l.acked[id] = ack{sale: s.id, amount: num(ans.body["amount"]), pending: ans.body["status"] == "pending"}
		l.sinceCut++
	}
}

// waitAcked waits until n more refunds are acknowledged.
func (l *load) waitAcked(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l.mu.Lock()
		got := l.sinceCut
		if got >= n {
			l.sinceCut = 0
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			var logs []string
			for _, n := range l.nodes {
				logs = append(logs, n.name+":\n"+n.logs.tail(3000))
			}
			t.Fatalf("%d refunds acknowledged in %s, want %d; answers so far: %s\n%s", got, within, n, l.summary(), strings.Join(logs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusal is what the clients saw after one kill.
type refusal struct {
	// refused runs from the kill to the end of the first request sent
	// after it that was acknowledged: no refund asked for after the kill
	// was made before then.
	refused time.Duration
	answers string // what requests sent after the kill were answered before it
	// longest is the longest a request in flight then took to be
	// answered: a node never holds a request past the clients' timeout.
	longest time.Duration
}

func (l *load) window(kill time.Time) refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, a := range l.attempts {
		if a.outcome == "201" && !a.start.Before(kill) && (first.IsZero() || a.end.Before(first)) {
			first = a.end
		}
	}
	counts := map[string]int{}
	for _, a := range l.attempts {
		if !a.start.Before(kill) && !a.end.After(first) && a.outcome != "201" {
			counts[a.outcome]++
		}
	}
	var longest time.Duration
	for _, a := range l.attempts {
		if a.end.After(kill) && a.start.Before(first) {
			longest = max(longest, a.end.Sub(a.start))
		}
	}
	return refusal{refused: first.Sub(kill), answers: countString(counts), longest: longest}
}

func (l *load) refusedTotal(kills []failover) time.Duration {
	var d time.Duration
	for _, f := range kills {
		d += l.window(f.at).refused
	}
	return d
}

func (l *load) outcomes() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[string]int{}
	for _, a := range l.attempts {
		counts[a.outcome]++
	}
	return counts
}

func (l *load) summary() string { return countString(l.outcomes()) }

func countString(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, counts[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
