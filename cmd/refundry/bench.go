package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/refundry/refundry"
)

type benchCommand struct{}

const benchUsage = `Usage: refundry bench [--target URL[,URL...] --key KEY [--server-pid PID[,PID...]] [--server-db URL]]
                      [--db URL] [--group-commit=false]
                      [--concurrency 64] [--refunds 10000] [--dialect native] [--json]

Creates one sale per refund, refunds each one over HTTP with --concurrency
clients, prints refunds/s and latency percentiles, then checks invariant 2
over every sale it made (refunded_amount equals the sum of its accepted
refunds and never exceeds its amount). Without --target it starts its own
"refundry serve" on --db (default: a SQLite file in a temporary directory).

With --target, run that server without its per-key rate limit
("refundry serve --rate-limit 0"): at the default of 100 requests a second
bench is answered 429 at once and stops.

--target may be repeated or hold several URLs separated by commas: the
servers of one database (several "refundry serve" processes on one
PostgreSQL). The clients are dealt to them in turn, client i to target
i modulo their number, for the sales, the refunds and the check alike:
whichever client takes a sale's refund, it goes through any of them, not
only the one that made the sale. --concurrency must be at least the
number of targets.

Besides speed it reports cost, which a busy machine hardly moves: the CPU
time per refund of the server, of the PostgreSQL backends serving its
database and of bench itself, and the SQL statements per refund, read
around the refunds (sales made before them and the check after are not
counted). The server's CPU is read from /proc when bench started it or
is given --server-pid; the backends' when the database is PostgreSQL on
this machine (--db, or --server-db with --target); statements from the
server's refundry_db_statements_total. A figure that cannot be read is
left out.

With several server processes, give every one of them to --server-pid
(repeated or separated by commas): the server CPU is the sum over them,
and it is left out if any one cannot be read. The statements are summed
over the targets' /metrics. The backends are every client connection to
the --server-db database, whichever process opened it.
`

// benchDialects are the APIs bench can refund through.
var benchDialects = []string{"native", "keepup", "revcent", "payop", "jetti"}

// benchSale is what bench needs of a sale it made to refund it through any
// dialect and to check it afterwards.
type benchSale struct {
	id, reference, lineItem string
	number                  int64
}

// benchSaleAmount is each sale's amount, and benchRefundAmount what a
// partial refund takes of it (KeepUp refunds whole sales only).
const (
	benchSaleAmount   = 2500
	benchRefundAmount = 1000
)

// benchResult is the --json line. Rates and milliseconds are float64:
// they are timings, never money.
type benchResult struct {
	Refunds       int     `json:"refunds"`
	Errors        int64   `json:"errors"`
	Seconds       float64 `json:"seconds"`
	RefundsPerSec float64 `json:"refunds_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P90Ms         float64 `json:"p90_ms"`
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	Concurrency   int     `json:"concurrency"`
	Dialect       string  `json:"dialect"`
	Sales         int     `json:"sales"`
	SalesChecked  int     `json:"sales_checked"`
	InvariantOK   bool    `json:"invariant_ok"`
	Violations    int     `json:"invariant_violations"`
	FirstError    string  `json:"first_error,omitempty"`
	// Cost per refund; nil (left out) when it could not be read.
	ServerCPUMs         *float64 `json:"server_cpu_ms_per_refund,omitempty"`
	DBCPUMs             *float64 `json:"db_cpu_ms_per_refund,omitempty"`
	BenchCPUMs          *float64 `json:"bench_cpu_ms_per_refund,omitempty"`
	StatementsPerRefund *float64 `json:"statements_per_refund,omitempty"`
}

// benchOptions is what bench's command line asks for.
type benchOptions struct {
	targets     []string // empty: bench starts its own server
	key         string
	db          string
	groupCommit *bool // nil: serve's default
	concurrency int
	refunds     int
	dialect     string
	json        bool
	serverPIDs  []int
	serverDB    string
}

// listFlag is a flag that may be given several times, each time one
// value or several separated by commas, so that its environment twin
// (set once) can hold a list too.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return fmt.Errorf("empty item in %q", v)
		}
		*l = append(*l, item)
	}
	return nil
}

// pidsFlag is a listFlag of process ids.
type pidsFlag []int

func (p *pidsFlag) String() string {
	s := make([]string, len(*p))
	for i, pid := range *p {
		s[i] = strconv.Itoa(pid)
	}
	return strings.Join(s, ",")
}

func (p *pidsFlag) Set(v string) error {
	var items listFlag
	if err := items.Set(v); err != nil {
		return err
	}
	for _, item := range items {
		pid, err := strconv.Atoi(item)
		if err != nil || pid < 0 {
			return fmt.Errorf("%q is not a process id", item)
		}
		*p = append(*p, pid)
	}
	return nil
}

func (c *benchCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	return runBench(ctx, o, stdout, stderr)
}

// parseBenchFlags reads bench's flags and their REFUNDRY_BENCH_ twins and
// refuses the combinations that make no sense, with the usage.
func parseBenchFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (benchOptions, error) {
	fs := flag.NewFlagSet("refundry bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var targets listFlag
	fs.Var(&targets, "target", "base URL of a running server, e.g. http://localhost:8080 (default: start one); repeated or separated by commas for several servers of one database")
	key := fs.String("key", "", "API key of an existing merchant on --target (required with --target)")
	db := fs.String("db", "", "database of the server bench starts: sqlite:PATH or postgres://... (default: a temporary SQLite file)")
	groupCommit := fs.Bool("group-commit", true, "passed as serve --group-commit to the server bench starts")
	concurrency := fs.Int("concurrency", 64, "concurrent HTTP clients")
	refunds := fs.Int("refunds", 10000, "refunds to make (one sale each)")
	dialect := fs.String("dialect", "native", "API to refund through: "+strings.Join(benchDialects, ", "))
	asJSON := fs.Bool("json", false, "print one JSON line instead of text, and no progress bar")
	var serverPIDs pidsFlag
	fs.Var(&serverPIDs, "server-pid", "with --target: the server's process id on this machine, to report its CPU per refund; repeated or separated by commas for several processes, whose CPU is summed")
	serverDB := fs.String("server-db", "", "with --target: the server's PostgreSQL database URL, to report its backends' CPU per refund (PostgreSQL on this machine)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	if err := parseFlagsEnvPrefix(fs, args, getenv, stdout, benchEnvPrefix); err != nil {
		return benchOptions{}, err
	}
	// A flag set by its REFUNDRY_BENCH_ twin counts as set:
	// REFUNDRY_BENCH_DB with --target is the same contradiction as --db
	// with --target.
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("bench takes no arguments, got %q", fs.Arg(0))
	case len(targets) > 0 && *key == "":
		problem = "--target needs --key KEY, the API key of an existing merchant there (refundry merchant create prints one)"
	case len(targets) == 0 && *key != "":
		problem = "--key goes with --target; without --target bench makes its own merchant"
	case len(targets) > 0 && (setFlags["db"] || setFlags["group-commit"]):
		problem = "--db and --group-commit (or REFUNDRY_BENCH_DB, REFUNDRY_BENCH_GROUP_COMMIT) choose the server bench starts; with --target, set them on that server"
	case len(targets) == 0 && (setFlags["server-pid"] || setFlags["server-db"]):
		problem = "--server-pid and --server-db describe the server given by --target; bench knows the server it starts"
	case *concurrency < 1 || *refunds < 1:
		problem = "--concurrency and --refunds must be at least 1"
	case *concurrency < len(targets):
		// Each target gets clients of its own; one without any would
		// be named and never asked.
		problem = fmt.Sprintf("--concurrency %d is fewer clients than the %d targets", *concurrency, len(targets))
	case !slices.Contains(benchDialects, *dialect):
		problem = fmt.Sprintf("--dialect must be one of %s, not %q", strings.Join(benchDialects, ", "), *dialect)
	}
	if problem != "" {
		fs.Usage()
		return benchOptions{}, usageError{problem}
	}
	o := benchOptions{
		targets: targets, key: *key, db: *db, concurrency: *concurrency, refunds: *refunds,
		dialect: *dialect, json: *asJSON, serverPIDs: serverPIDs, serverDB: *serverDB,
	}
	if setFlags["group-commit"] {
		o.groupCommit = groupCommit
	}
	return o, nil
}

// runBench makes the sales, refunds them, reads the cost and checks
// invariant 2, as o asks.
func runBench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	targets, apiKey, pids, serverDatabase := o.targets, o.key, o.serverPIDs, o.serverDB
	if len(targets) == 0 {
		srv, err := startBenchServer(ctx, o.db, o.groupCommit, stderr, !o.json)
		if err != nil {
			return err
		}
		defer srv.stop()
		targets, apiKey, pids, serverDatabase = []string{srv.base}, srv.key, []int{srv.cmd.Process.Pid}, o.db
	}
	// Each client of a target has a connection of its own: the pool of
	// each is as wide as the clients dealt to it.
	perTarget := (o.concurrency + len(targets) - 1) / len(targets)
	cls := make([]*apiClient, len(targets))
	for i, t := range targets {
		cls[i] = newAPIClient(t, apiKey, perTarget)
	}
	b := &bench{cls: cls, dialect: o.dialect, concurrency: o.concurrency, stderr: stderr, quiet: o.json}
	probe, err := newCostProbe(ctx, cls, pids, serverDatabase)
	if err != nil {
		return err
	}
	defer probe.close()

	sales, err := b.createSales(ctx, o.refunds)
	if err != nil {
		return err
	}
	before := probe.read(ctx)
	res := b.refund(ctx, sales)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	select {
	case <-time.After(benchCostSettle):
	case <-ctx.Done():
		return ctx.Err()
	}
	probe.fill(&res, before, probe.read(ctx), len(sales))
	checked, violations, err := b.checkInvariant2(ctx, sales)
	if err != nil {
		return fmt.Errorf("checking invariant 2: %w", err)
	}
	res.Sales, res.SalesChecked, res.Violations, res.InvariantOK = len(sales), checked, len(violations), len(violations) == 0
	if o.json {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		servers := ""
		if len(targets) > 1 {
			servers = fmt.Sprintf(" on %d servers", len(targets))
		}
		fmt.Fprintf(stdout, "refunds:     %d through %s%s in %.2fs with %d clients: %.1f refunds/s, %d errors\n",
			res.Refunds, res.Dialect, servers, res.Seconds, res.Concurrency, res.RefundsPerSec, res.Errors)
		fmt.Fprintf(stdout, "latency:     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs)
		if cost := res.costText(); cost != "" {
			fmt.Fprintf(stdout, "per refund:  %s\n", cost)
		}
		if res.FirstError != "" {
			fmt.Fprintf(stdout, "first error: %s\n", res.FirstError)
		}
		if res.InvariantOK {
			fmt.Fprintf(stdout, "invariant 2: ok on all %d sales (refunded_amount = sum of accepted refunds <= amount)\n", checked)
		} else {
			fmt.Fprintf(stdout, "invariant 2: VIOLATED on %d of %d sales\n", len(violations), checked)
			for _, v := range violations[:min(len(violations), 10)] {
				fmt.Fprintf(stdout, "  %s\n", v)
			}
		}
	}
	if !res.InvariantOK {
		return errors.New("invariant 2 does not hold")
	}
	return nil
}

// costText is the cost figures that could be read, for the text output.
func (r benchResult) costText() string {
	var parts []string
	for _, f := range []struct {
		v    *float64
		text string
	}{{r.ServerCPUMs, "server %.3f ms CPU"}, {r.DBCPUMs, "database %.3f ms CPU"}, {r.BenchCPUMs, "bench %.3f ms CPU"}, {r.StatementsPerRefund, "%.1f statements"}} {
		if f.v != nil {
			parts = append(parts, fmt.Sprintf(f.text, *f.v))
		}
	}
	return strings.Join(parts, ", ")
}

type bench struct {
	cls         []*apiClient // one per target
	dialect     string
	concurrency int
	stderr      io.Writer
	quiet       bool
}

// parallel runs fn(cl, i) for i in [0, n) on the bench's concurrency, and
// returns the first error; the others stop taking work once one fails.
// Client w of the concurrency sends through target w modulo the targets.
func (b *bench) parallel(ctx context.Context, n int, fn func(cl *apiClient, i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := range min(b.concurrency, n) {
		cl := b.cls[w%len(b.cls)]
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(cl, i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// createSales makes n sales concurrently. It is setup, not measured.
func (b *bench) createSales(ctx context.Context, n int) ([]benchSale, error) {
	run := refundry.NewID()
	sales := make([]benchSale, n)
	bar := newProgress(b.stderr, n, "sales", b.quiet)
	defer bar.done()
	err := b.parallel(ctx, n, func(cl *apiClient, i int) error {
		ref := fmt.Sprintf("bench-%s-%d", run, i)
		body := fmt.Sprintf(`{"reference": %q, "currency": "USD", "line_items": [{"name": "Ticket", "quantity": 1, "unit_amount": %d}], "payment": {"reference": %q}}`,
			ref, benchSaleAmount, "pay-"+ref)
		a, err := cl.do(ctx, "POST", "/v1/sales", "application/json", []byte(body))
		if err != nil {
			return fmt.Errorf("create sale: %w", err)
		}
		if a.status != http.StatusCreated {
			return fmt.Errorf("create sale: %s%s", apiErrorMessage(a), rateLimitHint(a))
		}
		var s struct {
			ID        string
			LineItems []struct{ ID string }    `json:"line_items"`
			Txns      []struct{ Number int64 } `json:"transactions"`
		}
		if err := json.Unmarshal(a.body, &s); err != nil || len(s.LineItems) != 1 || len(s.Txns) != 1 {
			return fmt.Errorf("create sale: unexpected answer %s", a.body)
		}
		sales[i] = benchSale{id: s.ID, reference: ref, lineItem: s.LineItems[0].ID, number: s.Txns[0].Number}
		bar.add(1)
		return nil
	})
	return sales, err
}

// rateLimitHint says, after a 429, how to run the target so that bench
// measures the server rather than its rate limit.
func rateLimitHint(a apiAnswer) string {
	if a.status != http.StatusTooManyRequests {
		return ""
	}
	return "; the server limits each API key's requests: run it with \"refundry serve --rate-limit 0\" to benchmark it"
}

// refundRequest is the request that refunds sale s through the dialect.
func (b *bench) refundRequest(s benchSale) (method, path, body string) {
	switch b.dialect {
	case "keepup":
		return "PUT", "/v2.0/sales/refund/" + s.reference, `{"alert_customer": "no"}`
	case "revcent":
		return "POST", "/v2/product_sales/" + s.lineItem + "/refund", `{"amount": 10.00}`
	case "payop":
		return "POST", "/v1/refunds/create", fmt.Sprintf(`{"transactionIdentifier": %q, "refundType": 2, "amount": 10.00}`, "pay-"+s.reference)
	case "jetti":
		return "PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", s.number), `{"refundAmount": 10.00}`
	}
	return "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": %d}`, s.id, benchRefundAmount)
}

// refund refunds every sale once and measures it. Latencies are kept as
// integer nanoseconds, one slot per refund, and sorted once at the end.
func (b *bench) refund(ctx context.Context, sales []benchSale) benchResult {
	lat := make([]int64, len(sales))
	var errs atomic.Int64
	var firstErr atomic.Value
	bar := newProgress(b.stderr, len(sales), "refunds", b.quiet)
	start := time.Now()
	_ = b.parallel(ctx, len(sales), func(cl *apiClient, i int) error {
		method, path, body := b.refundRequest(sales[i])
		t0 := time.Now()
		a, err := cl.do(ctx, method, path, "application/json", []byte(body))
		lat[i] = int64(time.Since(t0))
		if err == nil && (a.status < 200 || a.status > 299) {
			err = errors.New(apiErrorMessage(a) + rateLimitHint(a))
		}
		if err != nil && ctx.Err() == nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
		bar.add(1)
		return nil // a failed refund is counted, and the run goes on
	})
	elapsed := time.Since(start)
	bar.done()
	slices.Sort(lat)
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	res := benchResult{
		Refunds: len(sales), Errors: errs.Load(), Seconds: elapsed.Seconds(),
		RefundsPerSec: float64(len(sales)) / elapsed.Seconds(),
		P50Ms:         ms(percentile(lat, 50)), P90Ms: ms(percentile(lat, 90)), P99Ms: ms(percentile(lat, 99)), MaxMs: ms(lat[len(lat)-1]),
		Concurrency: b.concurrency, Dialect: b.dialect,
	}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []int64, pct int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (len(sorted)*pct + 99) / 100 // ceil(n * pct / 100)
	return sorted[max(rank, 1)-1]
}

// checkInvariant2 reads every sale bench made and its refunds, and returns
// how many it checked and a line for each sale where invariant 2 fails:
// refunded_amount must equal the sum of its pending and succeeded refunds
// and must not exceed the sale's amount.
func (b *bench) checkInvariant2(ctx context.Context, sales []benchSale) (int, []string, error) {
	var mu sync.Mutex
	var violations []string
	bar := newProgress(b.stderr, len(sales), "checks", b.quiet)
	defer bar.done()
	err := b.parallel(ctx, len(sales), func(cl *apiClient, i int) error {
		id := sales[i].id
		var sale struct {
			Amount   json.Number
			Refunded json.Number `json:"refunded_amount"`
		}
		if err := cl.getJSON(ctx, "/v1/sales/"+id, &sale); err != nil {
			return err
		}
		var accepted int64
		after := ""
		for {
			var page struct {
				Data []struct {
					ID     string
					Amount json.Number
					Status string
				}
				HasMore bool `json:"has_more"`
			}
			path := "/v1/refunds?limit=100&sale=" + id
			if after != "" {
				path += "&starting_after=" + after
			}
			if err := cl.getJSON(ctx, path, &page); err != nil {
				return err
			}
			for _, r := range page.Data {
				n, err := r.Amount.Int64()
				if err != nil {
					return fmt.Errorf("refund %s: amount %q", r.ID, r.Amount)
				}
				if refundry.RefundReserves(r.Status) {
					accepted += n
				}
				after = r.ID
			}
			if !page.HasMore || len(page.Data) == 0 {
				break
			}
		}
		amount, err1 := sale.Amount.Int64()
		refunded, err2 := sale.Refunded.Int64()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("sale %s: amounts %q, %q", id, sale.Amount, sale.Refunded)
		}
		if refunded != accepted || refunded > amount {
			mu.Lock()
			violations = append(violations, fmt.Sprintf("sale %s: amount %d, refunded_amount %d, accepted refunds add up to %d", id, amount, refunded, accepted))
			mu.Unlock()
		}
		bar.add(1)
		return nil
	})
	return len(sales), violations, err
}

// benchServer is the "refundry serve" bench started for itself.
type benchServer struct {
	cmd  *exec.Cmd
	base string
	key  string
	dir  string
	done chan struct{}
}

var benchListenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startBenchServer makes a merchant on the database and starts this same
// binary's serve on it, on a free port of the loopback, and returns once
// the server has logged the address it listens on.
func startBenchServer(ctx context.Context, db string, groupCommit *bool, stderr io.Writer, say bool) (*benchServer, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: cannot find its own binary to start a server: %w", err)
	}
	s := &benchServer{done: make(chan struct{})}
	if db == "" {
		if s.dir, err = os.MkdirTemp("", "refundry-bench-"); err != nil {
			return nil, err
		}
		db = "sqlite:" + filepath.Join(s.dir, "bench.db")
	}
	env := append(os.Environ(), "REFUNDRY_DB=", "REFUNDRY_ADDR=")
	// A slug of its own, so that bench can run again and again on one
	// PostgreSQL database.
	mc := exec.CommandContext(ctx, bin, "merchant", "create", "--slug", "bench-"+strings.ToLower(refundry.NewID()), "--name", "Bench", "--db", db)
	mc.Env = env
	mc.Stderr = stderr
	out, err := mc.Output()
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("bench: merchant create: %w", err)
	}
	var made struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &made); err != nil || made.APIKey == "" {
		s.cleanup()
		return nil, fmt.Errorf("bench: merchant create printed %q", out)
	}
	s.key = made.APIKey

	// Rate limiting off: bench measures the engine, and its one key asks
	// far faster than serve lets a key by default.
	args := []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--rate-limit=0"}
	if groupCommit != nil {
		args = append(args, "--group-commit="+strconv.FormatBool(*groupCommit))
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, err
	}
	addr := make(chan string, 1)
	var logs strings.Builder
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			if !found {
				logs.WriteString(sc.Text() + "\n")
				if m := benchListenLine.FindStringSubmatch(sc.Text()); m != nil {
					found = true
					addr <- m[1]
				}
			}
			// Keep reading: a server whose stderr pipe fills up blocks.
		}
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-s.done:
		_ = s.cmd.Wait()
		s.cleanup()
		return nil, fmt.Errorf("bench: the server exited before listening:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, errors.New("bench: the server did not say where it listens within 60s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if say {
		fmt.Fprintf(stderr, "bench: started %s serve on %s at %s\n", filepath.Base(bin), db, s.base)
	}
	return s, nil
}

// stop ends the server with SIGTERM (a clean shutdown), or SIGKILL if it
// has not stopped in 20 seconds, and removes the temporary database.
func (s *benchServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
	}
	_ = s.cmd.Wait()
	s.cleanup()
}

func (s *benchServer) cleanup() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
