package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel
// exports them in USER_HZ, which is 100 on every architecture Linux
// builds for (sysconf(_SC_CLK_TCK), which Go cannot call without cgo).
const userHZ = 100

// benchCostSettle is how long bench waits after the last refund is
// answered before it reads the CPU clocks again: work the refunds set off
// in the background (the webhook worker passes every 250 ms) is part of
// what they cost.
const benchCostSettle = 500 * time.Millisecond

// costProbe reads what the refunds cost, the figures refunds/s cannot
// give on a busy machine: the CPU time of the server, of the PostgreSQL
// backends serving its database and of bench itself, and the statements
// the server's store executed. Each figure it cannot read is left out,
// never guessed.
type costProbe struct {
	cls        []*apiClient // one per target, each scraped for its statements
	serverPIDs []int        // every server process; none: unknown
	pg         *pgx.Conn    // the servers' PostgreSQL database; nil: not known or not PostgreSQL
}

// costReading is one reading of every clock and counter the probe has.
type costReading struct {
	server       int64           // ticks, summed over the server processes; -1 when any is unreadable
	backends     map[int64]int64 // backend pid → ticks
	self         time.Duration   // bench's own user + system time
	statements   float64
	statementsOK bool
}

// newCostProbe opens what the probe reads. db is the server's database
// URL when it is PostgreSQL; PostgreSQL must run on this machine for its
// backends' /proc to be bench's to read, and a database it cannot reach
// is reported, not ignored, since the caller asked for it.
func newCostProbe(ctx context.Context, cls []*apiClient, serverPIDs []int, db string) (*costProbe, error) {
	p := &costProbe{cls: cls, serverPIDs: serverPIDs}
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		// The server's own URL may carry pgxpool's pool_* settings, which
		// a single connection refuses as unknown server parameters.
		cfg, err := pgxpool.ParseConfig(db)
		if err != nil {
			return nil, fmt.Errorf("bench: the server's database URL: %w", err)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
		if err != nil {
			return nil, fmt.Errorf("bench: connecting to the server's database to read its backends' CPU: %w", err)
		}
		p.pg = conn
	}
	return p, nil
}

func (p *costProbe) close() {
	if p.pg != nil {
		_ = p.pg.Close(context.Background())
	}
}

func (p *costProbe) read(ctx context.Context) costReading {
	r := costReading{server: p.serverTicks(), self: selfCPU()}
	if p.pg != nil {
		r.backends = p.backendTicks(ctx)
	}
	r.statements, r.statementsOK = p.statements(ctx)
	return r
}

// serverTicks sums the CPU ticks of the server processes, or is -1 if
// it cannot read one of them: a sum that leaves a process out would be
// too low, and look like a saving.
func (p *costProbe) serverTicks() int64 {
	if len(p.serverPIDs) == 0 {
		return -1
	}
	var sum int64
	for _, pid := range p.serverPIDs {
		if pid <= 0 {
			return -1
		}
		t, err := procTicks(pid)
		if err != nil {
			return -1
		}
		sum += t
	}
	return sum
}

// backendTicks reads the CPU ticks of every client backend connected to
// the server's database, bench's own connection left out.
func (p *costProbe) backendTicks(ctx context.Context) map[int64]int64 {
	rows, err := p.pg.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := make(map[int64]int64, len(pids))
	for _, pid := range pids {
		if t, err := procTicks(int(pid)); err == nil {
			out[int64(pid)] = t
		}
	}
	return out
}

// statements sums the targets' refundry_db_statements_total; without
// one of them there is no sum.
func (p *costProbe) statements(ctx context.Context) (float64, bool) {
	var sum float64
	for _, cl := range p.cls {
		v, ok := scrapeStatements(ctx, cl)
		if !ok {
			return 0, false
		}
		sum += v
	}
	return sum, len(p.cls) > 0
}

// scrapeStatements reads one server's refundry_db_statements_total.
func scrapeStatements(ctx context.Context, cl *apiClient) (float64, bool) {
	a, err := cl.do(ctx, "GET", "/metrics", "", nil)
	if err != nil || a.status != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(a.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "refundry_db_statements_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// fill sets the cost fields of res from two readings around n refunds.
// A backend that connected during the run counts from zero: the pool
// opens connections as the load needs them. One that closed during the
// run is lost, which only undercounts (the pools keep connections for
// minutes).
func (p *costProbe) fill(res *benchResult, before, after costReading, n int) {
	per := func(ticks int64) *float64 {
		v := float64(ticks) * 1000 / userHZ / float64(n)
		return &v
	}
	if before.server >= 0 && after.server >= before.server {
		res.ServerCPUMs = per(after.server - before.server)
	}
	if p.pg != nil && after.backends != nil {
		var sum int64
		for pid, t := range after.backends {
			sum += t - before.backends[pid]
		}
		res.DBCPUMs = per(sum)
	}
	self := float64((after.self - before.self).Microseconds()) / 1000 / float64(n)
	res.BenchCPUMs = &self
	// A store that does not count its statements reports 0 throughout:
	// no figure rather than a false zero.
	if before.statementsOK && after.statementsOK && after.statements > before.statements {
		v := (after.statements - before.statements) / float64(n)
		res.StatementsPerRefund = &v
	}
}

// procTicks returns the CPU time (user + system) process pid has used,
// in ticks of 1/userHZ s, from /proc/PID/stat.
func procTicks(pid int) (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return statTicks(raw)
}

// statTicks reads utime + stime from the text of a /proc/PID/stat.
func statTicks(raw []byte) (int64, error) {
	// The command name is in parentheses and may hold spaces or ")":
	// the fields that follow start after the last ")". utime and stime
	// are the 12th and 13th of them (14 and 15 of the whole line).
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", raw)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: %d fields after the command name", raw, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q, stime %q", f[11], f[12])
	}
	return utime + stime, nil
}

// selfCPU is bench's own CPU time so far, children (the server it
// started) not included.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
