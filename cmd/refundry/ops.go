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
	// expiry is the approval expiry sweep's; its gap follows serve's
	// --approval-sweep-interval (expiryGap).
	expiry *health.Heartbeat
	checks []health.Check
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
		email: health.NewHeartbeat("email", workerMaxGap), batches: health.NewHeartbeat("batches", workerMaxGap),
		expiry: health.NewHeartbeat("expiry", workerMaxGap)}
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// attach makes eng report to the metrics, exposes the store's pools,
// pending refunds and outbox lag, and prepares the readiness checks.
func (o *ops) attach(store *database, eng *engine.Engine) error {
	eng.Observer = opsObserver{o.metrics, o.recovery, o.expiry}
	cs := []prometheus.Collector{metrics.NewPendingCollector(oldestPending(store), time.Now)}
	if store.pools != nil {
		cs = append(cs, metrics.NewPoolCollector(store.pools))
	}
	if store.lanes != nil {
		cs = append(cs, metrics.NewLaneCollector(store.lanes))
	}
	cs = append(cs, metrics.NewOutboxCollector(store.OldestUndelivered, time.Now))
	if stats := eng.Stores.Stats; stats != nil {
		cs = append(cs, metrics.NewStatementCollector(stats.Statements))
	}
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
	if store.checkWritable != nil {
		o.checks = append(o.checks, health.Check{Name: "database_write", Run: store.checkWritable})
	}
	if store.checkMigrations != nil {
		o.checks = append(o.checks, health.Check{Name: "migrations", Run: store.checkMigrations})
	}
	o.checks = append(o.checks, o.recovery.Check(), o.webhooks.Check(), o.batches.Check(), o.expiry.Check())
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
	recovery, expiry *health.Heartbeat
}

func (o opsObserver) ExpiryPass(expired int, err error) {
	o.Metrics.ExpiryPass(expired, err)
	o.expiry.Beat()
}

// expiryGap is the longest the approval expiry sweep, run every
// interval, goes between passes when healthy: never less than the other
// loops' gap, and two intervals and a slow pass when it runs rarely.
func expiryGap(interval time.Duration) time.Duration {
	return max(workerMaxGap, 2*interval+time.Minute)
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

// database is a store as cmd opens it: the domain's contract
// (refundry.Store), which the engine is given, and what concerns the
// database itself, beyond that contract, for the people who run it: a
// readiness check that proves writes are accepted (a read-only file or
// database pings and reads as usual, so ping alone would call ready a
// server whose every write fails), one that the schema is the one this
// build migrates to, the connection pools' figures, and (PostgreSQL) the
// group-commit lanes with the live nodes they are divided among. Each is taken
// from the concrete store where it is opened, so the compiler checks
// that both stores offer them; none is found by a type assertion.
type database struct {
	refundry.Store
	checkWritable   func(context.Context) error
	checkMigrations func(context.Context) error
	pools           metrics.PoolSource // nil for a store without pools
	lanes           metrics.LaneSource // nil for a store whose lanes do not depend on other nodes
}

// sqliteDatabase is an opened SQLite store with its checks and pools.
func sqliteDatabase(s *sqlite.Store) *database {
	return &database{Store: s, checkWritable: s.CheckWritable, checkMigrations: s.CheckMigrations,
		pools: func() map[string]metrics.PoolStats {
			w, r := s.PoolStats()
			return map[string]metrics.PoolStats{"write": sqlStats(w), "read": sqlStats(r)}
		}}
}

// postgresDatabase is an opened PostgreSQL store with its checks and pool.
func postgresDatabase(s *postgres.Store) *database {
	return &database{Store: s, checkWritable: s.CheckWritable, checkMigrations: s.CheckMigrations,
		pools: func() map[string]metrics.PoolStats {
			st := s.PoolStat()
			return map[string]metrics.PoolStats{"main": {
				Open: int64(st.TotalConns()), InUse: int64(st.AcquiredConns()), Idle: int64(st.IdleConns()),
				MaxOpen: int64(st.MaxConns()), Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime(),
			}}
		},
		lanes: func() (int, int, int) {
			st := s.LaneStat()
			return st.Lanes, st.Share, st.LiveNodes
		}}
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
