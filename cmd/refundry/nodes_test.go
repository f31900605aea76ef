package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/pgtest"
)

// Stateless nodes: any request may land on any node of several serving
// one PostgreSQL database behind a load balancer.

var dashboardCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// A dashboard session signed in on node A serves the next pages from node
// B, whose process never saw the sign-in; a form posted to B carries the
// token a page of A gave; signing out on B signs out on A.
func TestNodesDashboardSession(t *testing.T) {
	db := pgtest.NewDatabase(t)
	key := newMerchantKey(t, db)
	a, _, _ := serveInProcess(t, "--db", db, "--rate-limit=0")
	b, _, _ := serveInProcess(t, "--db", db, "--rate-limit=0")

	// Cookies are the browser's, whichever node set them: the jar keeps
	// them per host, and both nodes are 127.0.0.1.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(node, path string) (int, string) {
		t.Helper()
		res, err := client.Get("http://" + node + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	post := func(node, path string, form url.Values) (int, string) {
		t.Helper()
		res, err := client.PostForm("http://"+node+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	csrf := func(body string) string {
		t.Helper()
		m := dashboardCSRF.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no csrf token in:\n%s", body)
		}
		return m[1]
	}

	_, body := get(a, "/dashboard/signin")
	status, body := post(a, "/dashboard/signin", url.Values{"csrf": {csrf(body)}, "key": {key}})
	if status != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
		t.Fatalf("sign-in on node A: %d\n%s", status, body)
	}
	tokenFromA := csrf(body)
	for _, path := range []string{"/dashboard/sales", "/dashboard/"} {
		if status, body := get(b, path); status != http.StatusOK || strings.Contains(body, "<h1>Sign in</h1>") {
			t.Fatalf("node B, %s after sign-in on node A: %d, signed in: %v", path, status, !strings.Contains(body, "<h1>Sign in</h1>"))
		}
	}
	if status, body := post(b, "/dashboard/signout", url.Values{"csrf": {tokenFromA}}); status != http.StatusOK || !strings.Contains(body, "<h1>Sign in</h1>") {
		t.Fatalf("sign-out on node B with node A's form token: %d", status)
	}
	if _, body := get(a, "/dashboard/sales"); !strings.Contains(body, "<h1>Sign in</h1>") {
		t.Fatal("node A still serves the session signed out on node B")
	}
}

// The per-key rate limit holds across two nodes within the tolerance
// refundry.RateWindow documents: over T seconds, a key gets at most
// burst·(⌈T/W⌉+1) requests in all, W being the window (burst/rate). Each
// node's own bucket would have let through twice the limit; the shared
// count does not. Every refusal says when to come back.
func TestNodesRateLimit(t *testing.T) {
	const rate, burst = 20, 20
	db := pgtest.NewDatabase(t)
	key := newMerchantKey(t, db)
	limit := []string{"--db", db, "--rate-limit=" + strconv.Itoa(rate), "--rate-burst=" + strconv.Itoa(burst)}
	a, _, _ := serveInProcess(t, limit...)
	b, _, _ := serveInProcess(t, limit...)
	window := refundry.NewRateWindow(rate, burst)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var mu sync.Mutex
	byStatus := map[int]int{}
	var wg sync.WaitGroup
	start := time.Now()
	// A run of three windows and a half, so that each node's own bucket
	// would have let in far more than the shared bound.
	until := start.Add(window.Length*3 + window.Length/2)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(until); i++ {
				node := []string{a, b}[(w+i)%2]
				req, _ := http.NewRequest("GET", "http://"+node+"/v1/sales?limit=1", nil)
				bearer(req, key)
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusTooManyRequests {
					wait, err := strconv.Atoi(res.Header.Get("Retry-After"))
					if err != nil || wait < 1 || time.Duration(wait)*time.Second > window.Length+time.Second {
						t.Errorf("429 with Retry-After %q, want 1 to %v", res.Header.Get("Retry-After"), window.Length)
					}
				}
				mu.Lock()
				byStatus[res.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	windows := int64(elapsed/window.Length) + 1 // the windows the run touched, at most
	bound := window.Limit * (windows + 1)
	ok := int64(byStatus[http.StatusOK])
	t.Logf("two nodes, limit %d/s burst %d (windows of %v): %d answered 200 and %d 429 in %v; bound %d, each node alone would allow %d",
		rate, burst, window.Length, ok, byStatus[http.StatusTooManyRequests], elapsed.Round(time.Millisecond), bound,
		2*(burst+int64(rate*elapsed.Seconds())))
	for status := range byStatus {
		if status != http.StatusOK && status != http.StatusTooManyRequests {
			t.Errorf("answers %v: only 200 and 429 expected", byStatus)
		}
	}
	if ok > bound {
		t.Errorf("%d requests let through in %v across two nodes, past the documented bound of %d", ok, elapsed, bound)
	}
	if byStatus[http.StatusTooManyRequests] == 0 {
		t.Skipf("no request was refused: %d requests in %v are too few to test a limit of %d/s", ok, elapsed, rate)
	}
}

// Failover as one node sees it: --db names several hosts and pgx picks
// the one that takes writes (target_session_attrs=read-write), here the
// second, the first having nothing listening. While no host answers,
// a refund is answered 503 with Retry-After, and what needs no database
// is still served; once PostgreSQL is back, the same serve, not
// restarted, takes the refund again, on the retry with the client's
// Idempotency-Key.
func TestNodesDatabaseGone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster of its own")
	}
	pg := startPrivatePostgres(t)
	multi := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write", pgtest.Port(t), pg.port)
	key := newMerchantKey(t, multi)
	node, _, _ := serveInProcess(t, "--db", multi)
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path, body, idem string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+node+path, strings.NewReader(body))
		bearer(req, key)
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res, string(raw)
	}
	res, raw := call("POST", "/v1/sales", `{"currency": "USD", "line_items": [{"name": "ticket", "quantity": 1, "unit_amount": 5000}], "payment": {"reference": "gone-1"}}`, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("sale on the multi-host URL: %d %s", res.StatusCode, raw)
	}
	txn := regexp.MustCompile(`"transactions":\[\{"id":"([^"]+)"`).FindStringSubmatch(raw)
	if txn == nil {
		t.Fatalf("no transaction id in %s", raw)
	}
	refund := fmt.Sprintf(`{"transaction": %q, "amount": 1000}`, txn[1])
	if res, raw := call("POST", "/v1/refunds", refund, "before"); res.StatusCode != http.StatusCreated {
		t.Fatalf("refund before the fault: %d %s", res.StatusCode, raw)
	}

	pg.crash()
	refused := time.Now()
	res, raw = call("POST", "/v1/refunds", refund, "during")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("refund with no database: %d, Retry-After %q: %s", res.StatusCode, res.Header.Get("Retry-After"), raw)
	}
	t.Logf("refund with no database answered 503 in %v", time.Since(refused).Round(time.Millisecond))
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/healthz", http.StatusOK},
		{"/openapi.json", http.StatusOK},
		{"/docs", http.StatusOK},
		{"/dashboard/signin", http.StatusOK},
		{"/readyz", http.StatusServiceUnavailable},
		{"/v1/sales?limit=1", http.StatusServiceUnavailable},
	} {
		if res, raw := call("GET", tt.path, "", ""); res.StatusCode != tt.status {
			t.Errorf("GET %s with no database: %d, want %d: %.200s", tt.path, res.StatusCode, tt.status, raw)
		} else if tt.status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" && tt.path != "/readyz" {
			t.Errorf("GET %s: 503 without Retry-After", tt.path)
		}
	}

	pg.start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, raw := call("POST", "/v1/refunds", refund, "during")
		if res.StatusCode == http.StatusCreated {
			break
		}
		if res.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("refund once PostgreSQL is back: %d %s", res.StatusCode, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res, raw := call("GET", "/v1/refunds?transaction="+txn[1], "", ""); res.StatusCode != http.StatusOK || strings.Count(raw, `"object":"refund"`) != 2 {
		t.Errorf("refunds of the transaction after the outage: %d %s", res.StatusCode, raw)
	}
}
