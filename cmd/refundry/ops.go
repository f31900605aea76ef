package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/health"
	"github.com/refundry/refundry/metrics"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

// ops is what serve adds for the people who run it: metrics, readiness,
// and the API reference. Built once per serve, over its store and engine.
type ops struct {
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	// Each background loop beats after every pass; /readyz fails if one
	// has stopped or stalled. email runs only with a mail server.
	recovery, webhooks, email, batches *health.Heartbeat
	checks                             []health.Check
}

// migrationChecker and writeChecker are what both stores offer for
// readiness beyond the domain's contract (refundry.Store), asked for here
// so that it stays the domain's.
type migrationChecker interface {
	CheckMigrations(ctx context.Context) error
}

// writeChecker is a store that can prove, with a real write, that its
// database accepts writes: a read-only file or database pings and reads
// as usual, so ping alone would call ready a server whose every write
// fails.
type writeChecker interface {
	CheckWritable(ctx context.Context) error
}

// workerMaxGap is the longest a healthy background loop goes between
// passes: its longest backoff (a minute) plus a slow pass.
const workerMaxGap = 3 * time.Minute

// newOps registers the metrics. It comes before the store is opened, so
// that the store can report its group-commit batches to them.
func newOps() (*ops, error) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return nil, err
	}
	o := &ops{registry: reg, metrics: m,
		recovery: health.NewHeartbeat("recovery", workerMaxGap), webhooks: health.NewHeartbeat("webhooks", workerMaxGap),
		email: health.NewHeartbeat("email", workerMaxGap), batches: health.NewHeartbeat("batches", workerMaxGap)}
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// attach makes eng report to the metrics, exposes the store's pools,
// pending refunds and outbox lag, and prepares the readiness checks.
func (o *ops) attach(store refundry.Store, eng *engine.Engine) error {
	eng.Observer = opsObserver{o.metrics, o.recovery}
	cs := []prometheus.Collector{metrics.NewPendingCollector(oldestPending(store), time.Now)}
	if pools := poolSource(store); pools != nil {
		cs = append(cs, metrics.NewPoolCollector(pools))
	}
	cs = append(cs, metrics.NewOutboxCollector(store.OldestUndelivered, time.Now))
	cs = append(cs, metrics.NewOverRefundedCollector(store.CountOverRefundedSales))
	cs = append(cs, metrics.NewOpenDisputesCollector(store.CountOpenDisputes))
	cs = append(cs, metrics.NewInboxCollector(eng.CountGatewayEvents))
	cs = append(cs, metrics.NewQueueCollector(func(ctx context.Context) ([]refundry.RefundQueue, error) {
		return eng.RefundQueues(ctx, "")
	}, time.Now))
	for _, c := range cs {
		if err := o.registry.Register(c); err != nil {
			return err
		}
	}
	o.checks = append(o.checks, health.Check{Name: "database", Run: store.Ping})
	if wc, ok := store.(writeChecker); ok {
		o.checks = append(o.checks, health.Check{Name: "database_write", Run: wc.CheckWritable})
	}
	if mc, ok := store.(migrationChecker); ok {
		o.checks = append(o.checks, health.Check{Name: "migrations", Run: mc.CheckMigrations})
	}
	o.checks = append(o.checks, o.recovery.Check(), o.webhooks.Check(), o.batches.Check())
	return nil
}

// mount adds the operational routes. /healthz stays with the server: it
// says only that the process answers.
func (o *ops) mount(mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{
		Registry: o.registry, // counts its own scrape errors
	}))
	mux.Handle("GET /readyz", health.ReadyHandler(5*time.Second, o.checks...))
	mux.Handle("GET /openapi.json", api.OpenAPIHandler())
	mux.Handle("GET /docs", api.ReferenceHandler())
}

// opsObserver feeds the engine's reports to the metrics, and the recovery
// loop's passes to its heartbeat too.
type opsObserver struct {
	*metrics.Metrics
	recovery *health.Heartbeat
}

func (o opsObserver) RecoveryPass(settled int, err error) {
	o.Metrics.RecoveryPass(settled, err)
	o.recovery.Beat()
}

// oldestPending reads the oldest pending refund of any merchant.
func oldestPending(store refundry.Store) metrics.OldestPending {
	return func(ctx context.Context) (time.Time, bool, error) {
		rs, err := store.PendingRefunds(ctx, time.Now().Add(time.Hour), 1)
		if err != nil || len(rs) == 0 {
			return time.Time{}, false, err
		}
		return rs[0].Created, true, nil
	}
}

// poolSource describes the store's connection pools in the terms both
// backends share, or nil for a store without pools.
func poolSource(store refundry.Store) metrics.PoolSource {
	switch s := store.(type) {
	case *sqlite.Store:
		return func() map[string]metrics.PoolStats {
			w, r := s.PoolStats()
			return map[string]metrics.PoolStats{"write": sqlStats(w), "read": sqlStats(r)}
		}
	case *postgres.Store:
		return func() map[string]metrics.PoolStats {
			st := s.PoolStat()
			return map[string]metrics.PoolStats{"main": {
				Open: int64(st.TotalConns()), InUse: int64(st.AcquiredConns()), Idle: int64(st.IdleConns()),
				MaxOpen: int64(st.MaxConns()), Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime(),
			}}
		}
	}
	return nil
}

func sqlStats(s sql.DBStats) metrics.PoolStats {
	return metrics.PoolStats{Open: int64(s.OpenConnections), InUse: int64(s.InUse), Idle: int64(s.Idle),
		MaxOpen: int64(s.MaxOpenConnections), Waits: s.WaitCount, WaitTime: s.WaitDuration}
}

// checkServeConfig refuses settings that contradict each other or cannot
// work, before anything is opened, with a message that says which.
func checkServeConfig(addr, stripeKey, stripeBase string) error {
	if stripeBase != "" && stripeKey == "" {
		return usageError{"--stripe-api-base needs --stripe-key"}
	}
	if len(stripeKey) > 3 && stripeKey[:3] == "pk_" {
		return usageError{"--stripe-key is a publishable key (pk_...); refunds need a secret (sk_...) or restricted (rk_...) key"}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usageError{fmt.Sprintf("--addr %q: want host:port or :port (%v)", addr, err)}
	}
	return nil
}
