package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/storetest"
)

// privatePostgres is a PostgreSQL cluster of the test's own, on a free
// port of the loopback, that the test may stop and start at will. The
// machine's shared server is no place for that: other packages' tests use
// it at the same time.
type privatePostgres struct {
	t              *testing.T
	bin, data, log string
	port           int
	asUser         []string // runuser -u postgres --, when the test runs as root
}

// startPrivatePostgres makes and starts a cluster, or skips the test when
// this machine has no PostgreSQL server programs. CI has them.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("no /usr/lib/postgresql/*/bin/initdb: the fault-injection test needs PostgreSQL's server programs")
		}
		t.Skip("no /usr/lib/postgresql/*/bin/initdb to make a private PostgreSQL cluster with")
	}
	p := &privatePostgres{t: t, bin: filepath.Dir(found[len(found)-1])}
	// initdb refuses to run as root; the cluster then belongs to postgres,
	// and its directory must be one postgres can reach (not under the
	// test's private temporary directory).
	dir, err := os.MkdirTemp("", "refundry-fault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	p.data, p.log = filepath.Join(dir, "data"), filepath.Join(dir, "log")
	p.port = pgtest.Port(t)
	p.pg("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	p.start()
	t.Cleanup(func() { p.pgQuiet("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop") })
	return p
}

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePostgres) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, p.asUser...), filepath.Join(p.bin, name)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

// pg runs one of the server programs and fails the test if it fails,
// with the end of the server's log, if it has one yet: pg_ctl only says
// to examine it, and it goes with the test's directory.
func (p *privatePostgres) pg(name string, args ...string) {
	p.t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		var log string
		if _, statErr := os.Stat(p.log); statErr == nil {
			log = "\n--- the end of the server's log:\n" + pgtest.LogTail(p.log, 40)
		}
		p.t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, log)
	}
}

func (p *privatePostgres) pgQuiet(name string, args ...string) { _ = p.command(name, args...).Run() }

func (p *privatePostgres) start() {
	p.t.Helper()
	// fsync off: the cluster is stopped, not the machine, so what was
	// written survives in the page cache, and the test spends no time on
	// a disk that the other packages' tests share.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c max_connections=60", p.port)
	p.pg("pg_ctl", "-D", p.data, "-o", opts, "-l", p.log, "-w", "-t", "60", "start")
}

// crash stops the server the hard way: every backend killed at once,
// transactions in flight lost, recovery from the WAL at the next start.
func (p *privatePostgres) crash() { p.pg("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop") }

// faultAnswer is what one request got.
type faultAnswer struct {
	status     int
	retryAfter string
	amount     int64
	at         time.Time
}

// Fault injection: PostgreSQL stops (immediate shutdown, as a crash) and
// comes back while refunds pour in through four edges. While it is down
// every edge answers 503 with Retry-After in its own shape, never another
// 5xx; clients retry with their Idempotency-Key; every refund answered 2xx
// is stored, none twice; invariant 2 holds as stored; every pending
// refund resolves; and the same serve answers again by itself once the
// database is back.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster of its own")
	}
	pg := startPrivatePostgres(t)
	var out strings.Builder
	if err := run(context.Background(), []string{"merchant", "create", "--slug", "fault", "--name", "Fault", "--db", pg.url()}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var mc struct {
		Merchant struct{ ID string }
		APIKey   string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out.String()), &mc); err != nil {
		t.Fatal(err)
	}
	addr, logs, stop := serveInProcess(t, "--db", pg.url(), "--rate-limit=0")
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

	do := func(method, path, body string, auth func(*http.Request, string), idem string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		auth(req, mc.APIKey)
		res, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		return res, raw, err
	}

	type target struct {
		txn, ref, lineItem string
		number             int64
	}
	var targets []target
	for i := range 12 {
		res, raw, err := do("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "ticket", "quantity": 1, "unit_amount": 10000000}], "payment": {"reference": "fault-%d"}}`, i), bearer, "")
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("sale: %v %s", err, raw)
		}
		var s struct {
			LineItems    []struct{ ID string } `json:"line_items"`
			Transactions []struct {
				ID     string
				Number int64
			}
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{s.Transactions[0].ID, fmt.Sprintf("fault-%d", i), s.LineItems[0].ID, s.Transactions[0].Number})
	}
	routes := limitRoutes("", "", 0)
	byName := map[string]limitRoute{}
	for _, r := range routes {
		byName[r.name] = r
	}
	// A partial refund of tg of cents through edge: method, path, body.
	ask := func(edge string, tg target, cents int64) (string, string) {
		switch edge {
		case "native":
			return "/v1/refunds", fmt.Sprintf(`{"transaction": %q, "amount": %d}`, tg.txn, cents)
		case "payop":
			return "/v1/refunds/create", fmt.Sprintf(`{"transactionIdentifier": %q, "refundType": 2, "amount": %s}`, tg.ref, major(cents))
		case "revcent":
			return "/v2/product_sales/" + tg.lineItem + "/refund", fmt.Sprintf(`{"amount": %s}`, major(cents))
		default: // jetti
			return fmt.Sprintf("/v1/transactions/%d/refund.json", tg.number), fmt.Sprintf(`{"refundAmount": %s}`, major(cents))
		}
	}
	edges := []string{"native", "payop", "revcent", "jetti"}

	var (
		mu        sync.Mutex
		answers   = map[string][]faultAnswer{} // by Idempotency-Key, every answer it got
		byStatus  = map[string]map[int]int{}   // by edge
		stopLoad  atomic.Bool
		lastOK    atomic.Int64 // unix nanos of the latest 2xx
		downSince atomic.Int64
	)
	// Each key asks a refund of an amount no other key asks: what the
	// database holds is then matched to the answers by amount, on every
	// edge alike (not all of them answer with the refund's id).
	var amounts atomic.Int64
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for n := 0; !stopLoad.Load(); n++ {
				edge := edges[rng.IntN(len(edges))]
				tg := targets[rng.IntN(len(targets))]
				cents := amounts.Add(1)
				path, body := ask(edge, tg, cents)
				key := fmt.Sprintf("fault-%d-%d", w, n)
				route := byName[edge]
				// A client as the contract asks: on 503 (or no answer at
				// all), the same request with the same key after
				// Retry-After, until it gets an answer that is final.
				for attempt := 0; ; attempt++ {
					res, raw, err := do(route.method, path, body, route.auth, key)
					a := faultAnswer{at: time.Now(), amount: cents}
					if err != nil {
						a.status = -1
					} else {
						a.status, a.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
					}
					if a.status/100 == 2 {
						lastOK.Store(a.at.UnixNano())
					}
					mu.Lock()
					answers[key] = append(answers[key], a)
					if byStatus[edge] == nil {
						byStatus[edge] = map[int]int{}
					}
					byStatus[edge][a.status]++
					mu.Unlock()
					switch {
					case a.status >= 500 && a.status != http.StatusServiceUnavailable:
						t.Errorf("%s %s answered %d: %s", edge, path, a.status, raw)
					case a.status == http.StatusServiceUnavailable:
						if a.retryAfter == "" {
							t.Errorf("%s: 503 without Retry-After: %s", edge, raw)
						}
						var eb map[string]any
						if json.Unmarshal(raw, &eb) != nil {
							t.Errorf("%s: 503 body is not JSON: %s", edge, raw)
						} else {
							route.shape(t, eb)
						}
					}
					if a.status != -1 && a.status != http.StatusServiceUnavailable {
						break
					}
					if stopLoad.Load() && attempt > 50 {
						t.Errorf("%s: key %s never got a final answer", edge, key)
						break
					}
					time.Sleep(time.Duration(200+rng.IntN(300)) * time.Millisecond)
				}
			}
		})
	}

	// Load, then the database gone for three seconds, then back.
	time.Sleep(1500 * time.Millisecond)
	downSince.Store(time.Now().UnixNano())
	pg.crash()
	t.Logf("PostgreSQL stopped (immediate)")
	time.Sleep(3 * time.Second)
	pg.start()
	back := time.Now()
	t.Logf("PostgreSQL started again")
	// Service resumes by itself: a 2xx after the restart, from the same
	// serve, within a bound generous for a loaded CI machine.
	deadline := back.Add(60 * time.Second)
	for lastOK.Load() < back.UnixNano() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	resumed := time.Unix(0, lastOK.Load())
	time.Sleep(time.Second)
	stopLoad.Store(true)
	wg.Wait()
	if resumed.Before(back) {
		t.Fatalf("no refund answered 2xx in 60 s after PostgreSQL came back; answers %v\nlogs:\n%s", byStatus, tail(logs.String(), 40))
	}
	t.Logf("first 2xx %s after PostgreSQL came back; answers by edge and status: %v", resumed.Sub(back).Round(time.Millisecond), byStatus)
	// The recovery loop, whose passes failed while the database was down,
	// probed it and resumed once it answered, rather than sleeping out a
	// backoff grown during the outage.
	for !strings.Contains(logs.String(), "recovery resumes") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "recovery resumes") {
		t.Errorf("the recovery loop did not resume by probing the database; logs:\n%s", grepLines(logs.String(), "recovery"))
	}

	unavailable := 0
	for _, st := range byStatus {
		unavailable += st[http.StatusServiceUnavailable]
	}
	if unavailable == 0 {
		t.Errorf("no 503 while PostgreSQL was down: the fault did not reach the server (answers %v)", byStatus)
	}

	// What the database holds, read by a store of the test's own.
	store, err := postgres.Open(context.Background(), pg.url())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	stored := map[int64]*refundry.Refund{} // by amount
	var after string
	for {
		page, more, err := store.ListRefunds(ctx, mc.Merchant.ID, refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: after}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if other, dup := stored[r.Amount]; dup {
				t.Errorf("refunds %s and %s both of %d: one key's refund made twice", other.ID, r.ID, r.Amount)
			}
			stored[r.Amount] = r
		}
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}
	// Every 2xx is stored (invariant 3), whether it came at the first
	// try or after 503s; a key whose final answer was a refusal (nothing
	// left to refund) has nothing stored, however often it was retried.
	acked := 0
	for key, as := range answers {
		final := as[len(as)-1]
		r, ok := stored[final.amount]
		switch {
		case final.status/100 == 2:
			acked++
			if !ok {
				t.Errorf("key %s: refund of %d answered %d is not stored", key, final.amount, final.status)
			}
		case final.status/100 == 4 && ok:
			t.Errorf("key %s: answered %d, yet refund %s of %d is stored", key, final.status, r.ID, final.amount)
		}
	}
	// A refund stored without a 2xx is one whose commit went through as
	// the connection broke; its client was told 503 and retried, or gave
	// up at the end of the test. There can be no more of those than keys.
	if len(stored) > len(answers) {
		t.Errorf("%d refunds stored for %d keys asked", len(stored), len(answers))
	}
	storetest.CheckInvariants(t, store, mc.Merchant.ID)

	// Every refund left pending (the gateway call or its settling cut off
	// by the fault) is settled by serve's recovery, with no restart.
	deadline = time.Now().Add(60 * time.Second)
	for {
		pending := 0
		page, _, err := store.ListRefunds(ctx, mc.Merchant.ID, refundry.RefundFilter{Status: refundry.RefundPending, Page: refundry.Page{Limit: refundry.MaxPageLimit}})
		if err != nil {
			t.Fatal(err)
		}
		pending = len(page)
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refunds still pending 60 s after the load", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	storetest.CheckInvariants(t, store, mc.Merchant.ID)
	t.Logf("%d keys asked, %d refunds acknowledged, %d stored, none pending", len(answers), acked, len(stored))
	stop()
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
