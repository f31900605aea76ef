package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// mustOps builds the operational parts for a test server over eng.
func mustOps(t testing.TB, store refundry.Store, eng *engine.Engine) *ops {
	t.Helper()
	op, err := newOps()
	if err != nil {
		t.Fatal(err)
	}
	if err := op.attach(testDatabase(store), eng); err != nil {
		t.Fatal(err)
	}
	return op
}

// testDatabase is a test's store as openStore would have given it: with
// its checks and pools when it is one of the two stores, and as it is (a
// ping alone) when a test wrapped one to make it fail on purpose.
func testDatabase(store refundry.Store) *database {
	switch s := store.(type) {
	case *database:
		return s
	case *sqlite.Store:
		return sqliteDatabase(s)
	case *postgres.Store:
		return postgresDatabase(s)
	}
	return &database{Store: store}
}

// scrape fetches /metrics and returns each sample by its name and labels
// as written ("refundry_refunds_created_total{dialect=\"native\",...}").
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func post(t *testing.T, url, key, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 {
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// TestMetricsMoveWithRefunds scrapes /metrics over real HTTP, refunds
// through the native API, and scrapes again: the refund, the money it
// returned (in minor units), the request and the gateway call all show.
func TestMetricsMoveWithRefunds(t *testing.T) {
	env := testenv.New(t)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1250, 500}})

	created := `refundry_refunds_created_total{dialect="native",gateway="simulator",status="pending"}`
	settled := `refundry_refunds_settled_total{dialect="native",gateway="simulator",status="succeeded"}`
	money := `refundry_refunded_minor_units_total{currency="USD"}`
	requests := `refundry_http_requests_total{code="201",dialect="native",route="POST /v1/refunds"}`
	calls := `refundry_gateway_call_duration_seconds_count{gateway="simulator",op="refund"}`
	before := scrape(t, srv.URL)
	for _, k := range []string{"refundry_db_connections_max{pool=\"write\"}", "refundry_oldest_pending_refund_age_seconds", "go_goroutines"} {
		if _, ok := before[k]; !ok {
			t.Errorf("/metrics lacks %s", k)
		}
	}

	post(t, srv.URL+"/v1/refunds", env.KeyA, fmt.Sprintf(`{"sale": %q, "amount": 700}`, sale.ID))
	post(t, srv.URL+"/v1/refunds", env.KeyA, fmt.Sprintf(`{"sale": %q, "amount": 300}`, sale.ID))

	after := scrape(t, srv.URL)
	for _, c := range []struct {
		name string
		want float64
	}{{created, 2}, {settled, 2}, {money, 1000}, {requests, 2}, {calls, 2}} {
		if got := after[c.name] - before[c.name]; got != c.want {
			t.Errorf("%s moved by %v, want %v", c.name, got, c.want)
		}
	}
	// The scrape itself is counted, under its route, with no dialect.
	if after[`refundry_http_requests_total{code="200",dialect="none",route="GET /metrics"}`] < 1 {
		t.Error("the first scrape was not counted")
	}
}

// TestOutboxLagMetric scrapes /metrics, leaves a webhook delivery
// pending and a customer notice unsent (this server runs no workers), and
// scrapes again: both ages of the outbox lag rise above zero.
func TestOutboxLagMetric(t *testing.T) {
	env := testenv.New(t)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	o := env.Engine.Stores.Outbox
	webhook := `refundry_outbox_oldest_undelivered_age_seconds{kind="webhook"}`
	email := `refundry_outbox_oldest_undelivered_age_seconds{kind="email"}`
	before := scrape(t, srv.URL)
	if before[webhook] != 0 || before[email] != 0 || before["refundry_outbox_oldest_undelivered_scrape_ok"] != 1 {
		t.Fatalf("empty outbox: webhook %v, email %v, ok %v", before[webhook], before[email], before["refundry_outbox_oldest_undelivered_scrape_ok"])
	}

	storetest.MustCreateEndpoint(t, o, env.A.ID, "*")
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1000}, Email: "ada@example.com"})
	post(t, srv.URL+"/v1/refunds", env.KeyA, fmt.Sprintf(`{"sale": %q, "amount": 700, "notify_customer": true}`, sale.ID))
	if _, err := o.DispatchEvents(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // so that the ages are surely above zero

	after := scrape(t, srv.URL)
	for _, k := range []string{webhook, email} {
		if after[k] <= 0 {
			t.Errorf("%s = %v after leaving one undelivered, want > 0", k, after[k])
		}
	}
}

// TestReadyz checks /readyz is ready with a live database that takes a
// write and running background loops, and fails, naming the database, once
// the store is closed.
func TestReadyz(t *testing.T) {
	env := testenv.New(t)
	op := mustOps(t, env.Store, env.Engine)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, op))
	t.Cleanup(srv.Close)
	ready := func() (int, map[string]string) {
		t.Helper()
		res, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var rep struct {
			Status string
			Checks []struct{ Name, Status, Error string }
		}
		if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		checks := map[string]string{"": rep.Status}
		for _, c := range rep.Checks {
			checks[c.Name] = c.Status
		}
		return res.StatusCode, checks
	}
	// The background loops have not started: not ready.
	if code, c := ready(); code != 503 || c["recovery"] != "fail" || c["webhooks"] != "fail" || c["batches"] != "fail" || c["database"] != "ok" {
		t.Fatalf("before the loops start: %d %v", code, c)
	}
	op.recovery.Start()
	op.webhooks.Start()
	if code, c := ready(); code != 503 || c["batches"] != "fail" || c["webhooks"] != "ok" {
		t.Fatalf("batch worker not started: %d %v", code, c)
	}
	op.batches.Start()
	if code, c := ready(); code != 503 || c["expiry"] != "fail" || c["batches"] != "ok" {
		t.Fatalf("expiry sweep not started: %d %v", code, c)
	}
	op.expiry.Start()
	if code, c := ready(); code != 200 || c[""] != "ready" || c["database"] != "ok" || c["database_write"] != "ok" || c["migrations"] != "ok" ||
		c["recovery"] != "ok" || c["webhooks"] != "ok" || c["batches"] != "ok" || c["expiry"] != "ok" {
		t.Fatalf("ready: %d %v", code, c)
	}
	env.Store.Close()
	if code, c := ready(); code != 503 || c[""] != "not_ready" || c["database"] != "fail" || c["database_write"] != "fail" {
		t.Fatalf("closed database: %d %v", code, c)
	}
	// /healthz only says the process answers.
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
}

// TestFlagEnvTwins runs the command in-process: every flag of every
// subcommand names its REFUNDRY_ twin in -h, a twin sets its flag, and a
// flag on the command line wins over its twin.
func TestFlagEnvTwins(t *testing.T) {
	none := func(string) string { return "" }
	flagLine := regexp.MustCompile(`^  -(\S+)`)
	for _, c := range []struct {
		cmd    []string
		prefix string
	}{{[]string{"serve"}, envPrefix}, {[]string{"merchant", "create"}, envPrefix}, {[]string{"backup"}, envPrefix},
		{[]string{"bench"}, benchEnvPrefix}, {[]string{"refund"}, envPrefix}} {
		cmd := c.cmd
		var help bytes.Buffer
		_ = run(context.Background(), append(cmd, "-h"), none, &help, io.Discard)
		lines := strings.Split(help.String(), "\n")
		n := 0
		for i, l := range lines {
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n++
			text := l
			if i+1 < len(lines) {
				text += lines[i+1] // the help text is on the next line
			}
			fs := flag.NewFlagSet("refundry "+strings.Join(cmd, " "), flag.ContinueOnError)
			if want := twinName(fs, c.prefix, m[1]); !strings.Contains(text, "env "+want) {
				t.Errorf("%v -h: flag -%s does not name %s:\n%s", cmd, m[1], want, text)
			}
		}
		if n == 0 {
			t.Errorf("%v -h lists no flags:\n%s", cmd, help.String())
		}
	}

	// REFUNDRY_SLUG, _MERCHANT_NAME, _CURRENCY and _DB make a merchant;
	// --name on the command line wins over REFUNDRY_MERCHANT_NAME.
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	env := map[string]string{"REFUNDRY_SLUG": "from-env", "REFUNDRY_MERCHANT_NAME": "Env Name", "REFUNDRY_CURRENCY": "JPY", "REFUNDRY_DB": db}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"merchant", "create", "--name", "Flag Name"}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Merchant struct{ Slug, Name, Currency string }
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if got.Merchant.Slug != "from-env" || got.Merchant.Name != "Flag Name" || got.Merchant.Currency != "JPY" {
		t.Fatalf("merchant = %+v", got.Merchant)
	}

	// bench reads none of serve's twins: with REFUNDRY_KEY exported as the
	// demo says and REFUNDRY_DB naming a live database, bench still makes
	// its own server (here it stops at its own --concurrency check).
	serveEnv := map[string]string{"REFUNDRY_KEY": "rfk_live", "REFUNDRY_DB": "postgres://live.example/prod"}
	err := run(context.Background(), []string{"bench", "--concurrency", "0"}, func(k string) string { return serveEnv[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--concurrency") {
		t.Fatalf("bench with serve's REFUNDRY_KEY and REFUNDRY_DB set: %v", err)
	}

	// bench and refund read their twins too: REFUNDRY_BENCH_DIALECT reaches
	// bench's check of --dialect, and REFUNDRY_CSV names refund's input
	// file (both fail before any server is started or dialled).
	err = run(context.Background(), []string{"bench"}, func(k string) string {
		if k == "REFUNDRY_BENCH_DIALECT" {
			return "no-such-dialect"
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "no-such-dialect") {
		t.Fatalf("bench with REFUNDRY_BENCH_DIALECT=no-such-dialect: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "from-env.csv")
	renv := map[string]string{"REFUNDRY_CSV": missing, "REFUNDRY_TARGET": "http://127.0.0.1:1", "REFUNDRY_KEY": "k"}
	err = run(context.Background(), []string{"refund"}, func(k string) string { return renv[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "from-env.csv") {
		t.Fatalf("refund with REFUNDRY_CSV=%s: %v", missing, err)
	}

	// A twin with a value its flag refuses is a usage error naming it.
	err = run(context.Background(), []string{"serve"}, func(k string) string {
		if k == "REFUNDRY_DEMO" {
			return "maybe"
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "REFUNDRY_DEMO") {
		t.Fatalf("REFUNDRY_DEMO=maybe: %v", err)
	}
}

// TestServeConfigCheck checks that contradictory settings are refused at
// start, before anything is opened, with a message naming them.
func TestServeConfigCheck(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--stripe-api-base", "http://localhost:12111"}, nil, "--stripe-api-base needs --stripe-key"},
		{[]string{"serve"}, map[string]string{"REFUNDRY_STRIPE_API_BASE": "http://localhost:12111"}, "--stripe-api-base needs --stripe-key"},
		{[]string{"serve", "--stripe-key", "pk_test_123"}, nil, "publishable key"},
		{[]string{"serve", "--addr", "8080"}, nil, "--addr"},
		{[]string{"serve", "--stripe-webhook-secret", "sk_test_123"}, nil, "--stripe-webhook-secret must be a Stripe webhook signing secret"},
		{[]string{"serve"}, map[string]string{"REFUNDRY_STRIPE_WEBHOOK_SECRET": "secret"}, "--stripe-webhook-secret must be"},
		{[]string{"serve", "--inbox-delay", "-1s"}, nil, "--inbox-delay"},
	} {
		err := run(context.Background(), c.args, func(k string) string { return c.env[k] }, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v; want a usage error about %q", c.args, c.env, err, c.want)
		}
	}
}

// TestBackupCommand backs up a database in-process, refuses to
// overwrite, and points PostgreSQL users to pg_dump.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	m := storetest.MustCreateMerchant(t, s)
	s.Close()

	none := func(string) string { return "" }
	out := filepath.Join(dir, "copy.db")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--db", "sqlite:" + path, "--out", out}, none, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.FindMerchant(context.Background(), m.ID); err != nil {
		t.Fatalf("merchant in the backup: %v", err)
	}
	err = run(context.Background(), []string{"backup", "--db", "sqlite:" + path, "--out", out}, none, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup over an existing file: %v", err)
	}
	err = run(context.Background(), []string{"backup", "--out", out}, func(k string) string {
		if k == "REFUNDRY_DB" {
			return "postgres://localhost/refundry"
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of PostgreSQL: %v", err)
	}
}

// fixedStatements is a store's statement counter standing at n.
type fixedStatements struct{ n *atomic.Int64 }

func (f fixedStatements) Statements() int64 { return f.n.Load() }

// refundry_db_statements_total is the engine's Stores.Stats as it is at
// each scrape: what `refundry bench` divides by its refunds.
func TestStatementsMetric(t *testing.T) {
	env := testenv.New(t)
	var n atomic.Int64
	n.Store(41)
	env.Engine.Stores.Stats = fixedStatements{&n}
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	const name = "refundry_db_statements_total"
	if got := scrape(t, srv.URL)[name]; got != 41 {
		t.Fatalf("%s = %v, want 41", name, got)
	}
	n.Add(1000)
	if got := scrape(t, srv.URL)[name]; got != 1041 {
		t.Fatalf("%s = %v after 1000 more, want 1041", name, got)
	}
}
