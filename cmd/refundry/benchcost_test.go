package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/refundry/refundry/internal/pgtest"
)

// bench reports what its refunds cost, read where each figure lives: the
// server it started (its /proc), the PostgreSQL backends serving the
// database (only on PostgreSQL), bench itself. The statements figure is
// there only if the store counts statements, and then it is positive.
func TestBenchCost(t *testing.T) {
	bin := buildBinary(t)
	for _, c := range []struct {
		store string
		db    func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "bench.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
	} {
		t.Run(c.store, func(t *testing.T) {
			db := c.db(t)
			cmd := exec.Command(bin, "bench", "--refunds", "200", "--concurrency", "8", "--json", "--db", db)
			cmd.Env = append(os.Environ(), "REFUNDRY_DB=", "REFUNDRY_ADDR=")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bench: %v\n%s\n%s", err, out, stderr.String())
			}
			var res map[string]any
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("--json output %q: %v", out, err)
			}
			want := []string{"server_cpu_ms_per_refund", "bench_cpu_ms_per_refund"}
			if c.store == "postgres" {
				want = append(want, "db_cpu_ms_per_refund")
			} else if _, ok := res["db_cpu_ms_per_refund"]; ok {
				t.Errorf("db_cpu_ms_per_refund on SQLite, which has no backends: %s", out)
			}
			for _, k := range want {
				v, ok := res[k].(float64)
				if !ok || v < 0 {
					t.Errorf("%s = %v, want a figure >= 0: %s", k, res[k], out)
				}
			}
			// A refund costs CPU somewhere: the three together cannot be nothing.
			if sum := costNum(res["server_cpu_ms_per_refund"]) + costNum(res["db_cpu_ms_per_refund"]) + costNum(res["bench_cpu_ms_per_refund"]); sum <= 0 {
				t.Errorf("no CPU counted for 200 refunds: %s", out)
			}
			if v, ok := res["statements_per_refund"]; ok && costNum(v) <= 0 {
				t.Errorf("statements_per_refund = %v: a store that counts says how many, one that does not says nothing", v)
			}
		})
	}
}

func costNum(v any) float64 { f, _ := v.(float64); return f }

// --server-pid and --server-db describe a server bench did not start: with
// --target bench reads them; without it they are a usage error.
func TestBenchCostFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--server-pid", "1"},
		{"bench", "--server-db", "postgres://x/y"},
		{"bench", "--target", "http://127.0.0.1:1", "--key", "k", "--server-pid", "-3"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), args, func(string) string { return "" }, &strings.Builder{}, &stderr)
		if exitCode(err) != 2 || !strings.Contains(stderr.String(), "Usage: refundry bench") {
			t.Errorf("%v: err %v, exit %d; want a usage error", args, err, exitCode(err))
		}
	}
}

// The statements per refund are the move of the server's
// refundry_db_statements_total over the refunds; a store that counts
// nothing (the counter stays 0) and a server without the metric give no
// figure rather than 0.
func TestCostProbeStatements(t *testing.T) {
	var total atomic.Int64
	var exposed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# HELP refundry_db_statements_total x\n# TYPE refundry_db_statements_total counter")
		fmt.Fprintln(w, "refundry_db_statements_total_other 5")
		if exposed.Load() {
			fmt.Fprintf(w, "refundry_db_statements_total %d\n", total.Load())
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	p, err := newCostProbe(ctx, []*apiClient{newAPIClient(srv.URL, "k", 1)}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	measure := func(from, to int64, n int) *float64 {
		total.Store(from)
		before := p.read(ctx)
		total.Store(to)
		var res benchResult
		p.fill(&res, before, p.read(ctx), n)
		if res.ServerCPUMs != nil || res.DBCPUMs != nil {
			t.Errorf("server or database CPU without a pid or a database: %+v", res)
		}
		if res.BenchCPUMs == nil {
			t.Error("bench's own CPU is always readable")
		}
		return res.StatementsPerRefund
	}
	if got := measure(0, 0, 10); got != nil {
		t.Errorf("no metric: statements per refund %v, want none", *got)
	}
	exposed.Store(true)
	if got := measure(0, 0, 10); got != nil {
		t.Errorf("a counter that stays 0: statements per refund %v, want none", *got)
	}
	if got := measure(1000, 1160, 20); got == nil || *got != 8 {
		t.Errorf("160 statements over 20 refunds: %v, want 8", got)
	}
}

func TestStatTicks(t *testing.T) {
	for _, c := range []struct {
		line string
		want int64
		ok   bool
	}{
		{"42 (refundry) S 1 42 42 0 -1 4194560 100 0 0 0 731 96 0 0 20 0 9 0 5 0 0", 827, true},
		// A command name may hold spaces and parentheses.
		{"7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 0 0", 11, true},
		{"7 (x) R 1 2", 0, false},
		{"no parenthesis here", 0, false},
	} {
		got, err := statTicks([]byte(c.line))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("statTicks(%q) = %d, %v; want %d, ok %v", c.line, got, err, c.want, c.ok)
		}
	}
	// This process's own line parses, and its ticks never go back.
	a, err := procTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b, err := procTicks(os.Getpid())
	if err != nil || b < a {
		t.Fatalf("procTicks: %d then %d, %v", a, b, err)
	}
}

// The server CPU of several processes is their sum, and no figure at
// all if one of them cannot be read: a partial sum would pass for a
// saving.
func TestCostProbeServerTicks(t *testing.T) {
	self := os.Getpid()
	one, err := procTicks(self)
	if err != nil {
		t.Fatal(err)
	}
	if got := (&costProbe{serverPIDs: []int{self, self}}).serverTicks(); got < 2*one {
		t.Errorf("two readings of this process sum to %d, less than twice the first alone (%d)", got, one)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, pids := range [][]int{nil, {self, 0}, {self, gone.Process.Pid}} {
		if got := (&costProbe{serverPIDs: pids}).serverTicks(); got != -1 {
			t.Errorf("pids %v: %d ticks, want none (-1)", pids, got)
		}
	}
}

// The statements of several targets are the sum of their counters, and
// no figure if one target does not expose its counter.
func TestCostProbeStatementsSummed(t *testing.T) {
	var counts [3]atomic.Int64
	var servers []*apiClient
	for i := range counts {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i < 2 {
				fmt.Fprintf(w, "refundry_db_statements_total %d\n", counts[i].Load())
			}
		}))
		t.Cleanup(srv.Close)
		servers = append(servers, newAPIClient(srv.URL, "k", 1))
	}
	ctx := context.Background()
	measure := func(cls []*apiClient) *float64 {
		p, err := newCostProbe(ctx, cls, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		counts[0].Store(100)
		counts[1].Store(50)
		before := p.read(ctx)
		counts[0].Store(130)
		counts[1].Store(60)
		var res benchResult
		p.fill(&res, before, p.read(ctx), 10)
		return res.StatementsPerRefund
	}
	if got := measure(servers[:2]); got == nil || *got != 4 {
		t.Errorf("30 and 10 statements over 10 refunds: %v, want 4", got)
	}
	if got := measure(servers); got != nil {
		t.Errorf("a target without the counter: statements per refund %v, want none", *got)
	}
}
