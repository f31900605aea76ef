package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/refundry/refundry/internal/pgtest"
)

// --target and --server-pid take several values, repeated or separated
// by commas, on the command line or in their REFUNDRY_BENCH_ twins; the
// command line wins over the environment, as for every flag.
func TestBenchFlags(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		targets []string
		pids    []int
		usage   string // a part of the usage error; "" if none is expected
	}{
		{name: "OneTarget", args: []string{"--target", "http://a:1", "--key", "k", "--server-pid", "42"},
			targets: []string{"http://a:1"}, pids: []int{42}},
		{name: "Repeated", args: []string{"--target", "http://a:1", "--target", "http://b:2", "--key", "k", "--server-pid", "1", "--server-pid", "2"},
			targets: []string{"http://a:1", "http://b:2"}, pids: []int{1, 2}},
		{name: "Commas", args: []string{"--target", "http://a:1, http://b:2,http://c:3", "--key", "k", "--server-pid", "7,8", "--server-pid", "9"},
			targets: []string{"http://a:1", "http://b:2", "http://c:3"}, pids: []int{7, 8, 9}},
		{name: "Environment", env: map[string]string{"REFUNDRY_BENCH_TARGET": "http://a:1,http://b:2", "REFUNDRY_BENCH_KEY": "k", "REFUNDRY_BENCH_SERVER_PID": "5,6"},
			targets: []string{"http://a:1", "http://b:2"}, pids: []int{5, 6}},
		{name: "CommandLineWins", args: []string{"--target", "http://c:3"}, env: map[string]string{"REFUNDRY_BENCH_TARGET": "http://a:1,http://b:2", "REFUNDRY_BENCH_KEY": "k"},
			targets: []string{"http://c:3"}},
		{name: "NoTarget"},
		{name: "EmptyTarget", args: []string{"--target", "http://a:1,,http://b:2", "--key", "k"}, usage: "empty item"},
		{name: "TrailingComma", args: []string{"--target", "http://a:1,", "--key", "k"}, usage: "empty item"},
		{name: "PIDNotANumber", args: []string{"--target", "http://a:1", "--key", "k", "--server-pid", "1,x"}, usage: `"x" is not a process id`},
		{name: "PIDNegative", args: []string{"--target", "http://a:1", "--key", "k", "--server-pid", "-3"}, usage: "not a process id"},
		{name: "PIDInEnvironment", args: []string{"--target", "http://a:1", "--key", "k"}, env: map[string]string{"REFUNDRY_BENCH_SERVER_PID": "1;2"}, usage: "REFUNDRY_BENCH_SERVER_PID"},
		{name: "FewerClientsThanTargets", args: []string{"--target", "http://a:1,http://b:2,http://c:3", "--key", "k", "--concurrency", "2"}, usage: "fewer clients than the 3 targets"},
		{name: "PIDsWithoutTarget", args: []string{"--server-pid", "1,2"}, usage: "--server-pid and --server-db describe"},
		{name: "TargetsWithoutKey", args: []string{"--target", "http://a:1,http://b:2"}, usage: "--target needs --key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr strings.Builder
			o, err := parseBenchFlags(c.args, func(k string) string { return c.env[k] }, io.Discard, &stderr)
			if c.usage != "" {
				if exitCode(err) != 2 || !strings.Contains(err.Error(), c.usage) {
					t.Fatalf("err %v (exit %d), want a usage error with %q", err, exitCode(err), c.usage)
				}
				// A twin's bad value names the variable instead of the usage.
				if c.env == nil && !strings.Contains(stderr.String(), "Usage: refundry bench") {
					t.Errorf("no usage printed:\n%s", stderr.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if !slices.Equal(o.targets, c.targets) || !slices.Equal(o.serverPIDs, c.pids) {
				t.Errorf("targets %q, pids %v; want %q, %v", o.targets, o.serverPIDs, c.targets, c.pids)
			}
			if o.concurrency != 64 || o.refunds != 10000 || o.dialect != "native" {
				t.Errorf("defaults changed: %+v", o)
			}
		})
	}
}

// bench over two serve processes of one PostgreSQL database: both
// processes make sales and refunds, the server CPU is read from both, and
// what the database holds afterwards is exactly what bench asked for,
// read with SQL of the test's own. The servers' URL carries a pool size,
// as docs/deploy.md advises for several nodes, and bench reads the
// backends' CPU through that same URL.
func TestBenchSeveralServers(t *testing.T) {
	bin := buildBinary(t)
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "5")
	u.RawQuery = q.Encode()
	db := u.String()
	key := newMerchantKey(t, db)
	a, baseA, _, _ := startServe(t, bin, "--db", db)
	b, baseB, _, _ := startServe(t, bin, "--db", db)
	const refunds = 120

	cmd := exec.Command(bin, "bench", "--target", baseA+","+baseB, "--key", key,
		"--server-pid", strconv.Itoa(a.Process.Pid), "--server-pid", strconv.Itoa(b.Process.Pid), "--server-db", db,
		"--refunds", strconv.Itoa(refunds), "--concurrency", "6", "--json")
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
	if res["invariant_ok"] != true || costNum(res["errors"]) != 0 || costNum(res["refunds"]) != refunds || costNum(res["sales_checked"]) != refunds {
		t.Fatalf("bench result %s; stderr:\n%s", out, stderr.String())
	}
	for _, k := range []string{"server_cpu_ms_per_refund", "db_cpu_ms_per_refund", "statements_per_refund"} {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a figure > 0 read from both servers: %s", k, res[k], out)
		}
	}

	// Three clients each: the refunds and the sales are split between
	// the two processes, and every one of them was answered by one.
	var sales, made float64
	for _, base := range []string{baseA, baseB} {
		m := scrape(t, base)
		s := m[`refundry_http_requests_total{code="201",dialect="native",route="POST /v1/sales"}`]
		r := m[`refundry_http_requests_total{code="201",dialect="native",route="POST /v1/refunds"}`]
		if s == 0 || r == 0 {
			t.Errorf("%s answered %v sales and %v refunds: bench did not use it", base, s, r)
		}
		sales, made = sales+s, made+r
	}
	if sales != refunds || made != refunds {
		t.Errorf("the servers made %v sales and %v refunds together; bench asked for %d of each", sales, made, refunds)
	}
	checkPostgresBench(t, db, refunds, benchRefundAmount)
}

// checkPostgresBench is checkBenchDatabase for PostgreSQL, at the level
// of sales: each holds one succeeded refund of each, and refunded_amount
// is what its pending and succeeded refunds add up to.
func checkPostgresBench(t *testing.T, db string, sales int, each int64) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db) // db may carry pool_* settings
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, exact, succeeded int
	err = conn.QueryRow(ctx, fmt.Sprintf(`SELECT COUNT(*),
			COUNT(*) FILTER (WHERE s.refunded_amount = r.reserved AND r.reserved = %d AND r.count = 1 AND r.reserved <= s.amount),
			COALESCE(SUM(r.succeeded), 0)
		FROM sales s LEFT JOIN LATERAL (
			SELECT COALESCE(SUM(amount) FILTER (WHERE status IN ('pending', 'succeeded')), 0) AS reserved,
				COUNT(*) AS count, COUNT(*) FILTER (WHERE status = 'succeeded') AS succeeded
			FROM refunds WHERE sale_id = s.id) r ON true`, each)).Scan(&n, &exact, &succeeded)
	if err != nil {
		t.Fatal(err)
	}
	if n != sales || exact != sales || succeeded != sales {
		t.Errorf("the database holds %d sales, %d of them with exactly one refund of %d accounted for, %d refunds succeeded; bench made %d",
			n, exact, each, succeeded, sales)
	}
}
