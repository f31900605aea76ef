package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/refundry/refundry"
)

// PoolStats is one database connection pool as both stores can describe
// it: database/sql's DBStats for SQLite, pgxpool's Stat for PostgreSQL.
type PoolStats struct {
	Open, InUse, Idle, MaxOpen int64
	// Waits counts the times a caller had to wait for a connection, and
	// WaitTime is how long they waited in all; both only grow.
	Waits    int64
	WaitTime time.Duration
}

// PoolSource reports each pool of a store by name ("write" and "read" for
// SQLite, "main" for PostgreSQL). It is called at every scrape.
type PoolSource func() map[string]PoolStats

var (
	poolOpen     = prometheus.NewDesc(Namespace+"_db_connections_open", "Connections open in the pool, in use or idle.", []string{"pool"}, nil)
	poolInUse    = prometheus.NewDesc(Namespace+"_db_connections_in_use", "Connections in use.", []string{"pool"}, nil)
	poolIdle     = prometheus.NewDesc(Namespace+"_db_connections_idle", "Idle connections.", []string{"pool"}, nil)
	poolMax      = prometheus.NewDesc(Namespace+"_db_connections_max", "Largest number of connections the pool opens.", []string{"pool"}, nil)
	poolWaits    = prometheus.NewDesc(Namespace+"_db_connection_waits_total", "Times a caller waited for a free connection.", []string{"pool"}, nil)
	poolWaitTime = prometheus.NewDesc(Namespace+"_db_connection_wait_seconds_total", "Time spent waiting for a free connection.", []string{"pool"}, nil)
)

type poolCollector struct{ source PoolSource }

// NewPoolCollector exposes a store's connection pools at every scrape.
func NewPoolCollector(source PoolSource) prometheus.Collector { return poolCollector{source} }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpen, poolInUse, poolIdle, poolMax, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.source() {
		ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(s.Open), name)
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(s.InUse), name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxOpen), name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.Waits), name)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.WaitTime.Seconds(), name)
	}
}

// OldestPending returns when the oldest refund still pending was
// recorded, and false when none is pending.
type OldestPending func(ctx context.Context) (time.Time, bool, error)

var (
	pendingAge = prometheus.NewDesc(Namespace+"_oldest_pending_refund_age_seconds",
		"Age of the oldest refund still pending (0 when none is): how far behind the gateways and the recovery loop are.", nil, nil)
	pendingUp = prometheus.NewDesc(Namespace+"_oldest_pending_refund_scrape_ok",
		"1 if the oldest pending refund could be read from the database at this scrape, 0 if not.", nil, nil)
)

type pendingCollector struct {
	oldest OldestPending
	now    func() time.Time
}

// NewPendingCollector exposes the age of the oldest pending refund, read
// from the store at every scrape with a short deadline so that a slow
// database makes a scrape report failure rather than hang.
func NewPendingCollector(oldest OldestPending, now func() time.Time) prometheus.Collector {
	return pendingCollector{oldest, now}
}

func (c pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pendingAge; ch <- pendingUp }

func (c pendingCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	created, ok, err := c.oldest(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(pendingUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingUp, prometheus.GaugeValue, 1)
	age := 0.0
	if ok {
		age = max(0, c.now().Sub(created).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(pendingAge, prometheus.GaugeValue, age)
}

// OldestUndelivered returns when the oldest webhook delivery still pending
// and the oldest customer notification still unsent were created; a zero
// time when there is none (refundry.Outbox.OldestUndelivered).
type OldestUndelivered func(ctx context.Context) (delivery, notification time.Time, err error)

var (
	outboxAge = prometheus.NewDesc(Namespace+"_outbox_oldest_undelivered_age_seconds",
		"Age of the oldest webhook delivery still pending (kind=webhook) or customer notice still unsent (kind=email), 0 when none is: how far behind the outbox is.",
		[]string{"kind"}, nil)
	outboxUp = prometheus.NewDesc(Namespace+"_outbox_oldest_undelivered_scrape_ok",
		"1 if the outbox's oldest undelivered items could be read from the database at this scrape, 0 if not.", nil, nil)
)

type outboxCollector struct {
	oldest OldestUndelivered
	now    func() time.Time
}

// NewOutboxCollector exposes the outbox's lag, read from the store at
// every scrape with a short deadline, as NewPendingCollector does.
func NewOutboxCollector(oldest OldestUndelivered, now func() time.Time) prometheus.Collector {
	return outboxCollector{oldest, now}
}

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxAge; ch <- outboxUp }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	delivery, notification, err := c.oldest(ctx)
	if err != nil {
		// No age rather than a stale or made-up one; the _scrape_ok
		// gauge says why it is missing.
		ch <- prometheus.MustNewConstMetric(outboxUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxUp, prometheus.GaugeValue, 1)
	now := c.now()
	for kind, created := range map[string]time.Time{"webhook": delivery, "email": notification} {
		age := 0.0
		if !created.IsZero() {
			age = max(0, now.Sub(created).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(outboxAge, prometheus.GaugeValue, age, kind)
	}
}

// Count returns a number read from the store at a scrape
// (refundry.ReportStore.CountOverRefundedSales, CountOpenDisputes).
type Count func(ctx context.Context) (int64, error)

var (
	overRefunded = prometheus.NewDesc(Namespace+"_over_refunded_sales",
		"Sales whose refunds add up to more than was paid: refunds made at the gateway, adopted past the caps (sale.over_refunded). Each needs a person.", nil, nil)
	overRefundedUp = prometheus.NewDesc(Namespace+"_over_refunded_sales_scrape_ok",
		"1 if the over-refunded sales could be counted in the database at this scrape, 0 if not.", nil, nil)
	openDisputes = prometheus.NewDesc(Namespace+"_open_disputes",
		"Disputes still open (warning_needs_response, warning_under_review, needs_response, under_review): each refuses refunds of its payment with charge_disputed.", nil, nil)
	openDisputesUp = prometheus.NewDesc(Namespace+"_open_disputes_scrape_ok",
		"1 if the open disputes could be counted in the database at this scrape, 0 if not.", nil, nil)
)

// countCollector exposes one count read from the store at every scrape,
// with a short deadline, as NewPendingCollector does, and whether it could
// be read.
type countCollector struct {
	count     Count
	value, up *prometheus.Desc
}

// NewOverRefundedCollector exposes the number of over-refunded sales: an
// alert on it above zero finds money the gateway returned twice.
func NewOverRefundedCollector(count Count) prometheus.Collector {
	return countCollector{count, overRefunded, overRefundedUp}
}

// NewOpenDisputesCollector exposes the number of open disputes.
func NewOpenDisputesCollector(count Count) prometheus.Collector {
	return countCollector{count, openDisputes, openDisputesUp}
}

func (c countCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.value
	ch <- c.up
}

func (c countCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.count(ctx)
	if err != nil {
		// No count rather than a stale one; _scrape_ok says why.
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, float64(n))
}

// GatewayEventCounts returns the stored inbound gateway events by
// outcome, "" for those not applied yet (engine.CountGatewayEvents).
type GatewayEventCounts func(ctx context.Context) (map[string]int64, error)

var (
	inboxUnapplied = prometheus.NewDesc(Namespace+"_gateway_events_unapplied",
		"Inbound gateway events stored and acknowledged but not applied yet: how far behind the inbox worker is.", nil, nil)
	inboxStored = prometheus.NewDesc(Namespace+"_gateway_events_stored",
		"Inbound gateway events stored and applied, by what applying them did (outcome).", []string{"outcome"}, nil)
	inboxUp = prometheus.NewDesc(Namespace+"_gateway_events_scrape_ok",
		"1 if the inbound gateway events could be counted at this scrape, 0 if not.", nil, nil)
)

type inboxCollector struct{ count GatewayEventCounts }

// NewInboxCollector exposes the inbox of gateway events, counted in the
// store at every scrape with a short deadline, as NewPendingCollector
// does.
func NewInboxCollector(count GatewayEventCounts) prometheus.Collector { return inboxCollector{count} }

func (c inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- inboxUnapplied
	ch <- inboxStored
	ch <- inboxUp
}

func (c inboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(inboxUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(inboxUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(inboxUnapplied, prometheus.GaugeValue, float64(counts[""]))
	for outcome, n := range counts {
		if outcome != "" {
			ch <- prometheus.MustNewConstMetric(inboxStored, prometheus.GaugeValue, float64(n), outcome)
		}
	}
}

// RefundQueues returns the queues of refunds waiting for a person, of
// every merchant (engine.RefundQueues with no merchant).
type RefundQueues func(ctx context.Context) ([]refundry.RefundQueue, error)

// queueNames label each queue status in the metrics.
var queueNames = map[string]string{refundry.RefundRequiresApproval: "approval", refundry.RefundRequiresAction: "review"}

var (
	queueSize = prometheus.NewDesc(Namespace+"_refund_queue_size",
		"Refunds waiting for a person, by queue: approval (requires_approval, waiting for a second person) and review (requires_action, its gateway gave no final answer).",
		[]string{"queue"}, nil)
	queueOldest = prometheus.NewDesc(Namespace+"_refund_queue_oldest_seconds",
		"How long the refund waiting longest in each queue has waited (0 when the queue is empty).", []string{"queue"}, nil)
	queueUp = prometheus.NewDesc(Namespace+"_refund_queue_scrape_ok",
		"1 if the refund queues could be read from the database at this scrape, 0 if not.", nil, nil)
)

type queueCollector struct {
	queues RefundQueues
	now    func() time.Time
}

// NewQueueCollector exposes the approval and review queues, read from
// the store at every scrape with a short deadline, as NewPendingCollector
// does: an alert on the review queue's size, or on the approval queue's
// age nearing the approval expiry, finds refunds nobody is deciding.
func NewQueueCollector(queues RefundQueues, now func() time.Time) prometheus.Collector {
	return queueCollector{queues, now}
}

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueSize
	ch <- queueOldest
	ch <- queueUp
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	qs, err := c.queues(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 1)
	now := c.now()
	// Every queue is reported, empty or not, so that an alert on it
	// never sees the series vanish.
	seen := map[string]bool{}
	for _, q := range qs {
		name, ok := queueNames[q.Status]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		age := 0.0
		if q.Count > 0 && !q.Oldest.IsZero() {
			age = max(0, now.Sub(q.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(queueSize, prometheus.GaugeValue, float64(q.Count), name)
		ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, age, name)
	}
	for _, name := range queueNames {
		if !seen[name] {
			ch <- prometheus.MustNewConstMetric(queueSize, prometheus.GaugeValue, 0, name)
			ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, 0, name)
		}
	}
}

var dbStatements = prometheus.NewDesc(Namespace+"_db_statements_total",
	"SQL statements the store has executed since the process started (each statement of a batch or pipeline counted once). Stays 0 on a store that does not count them.", nil, nil)

type statementCollector struct{ count func() int64 }

// NewStatementCollector exposes the statements a store has executed
// (refundry.StatementCounter), read at every scrape. It is what
// `refundry bench` divides by the refunds it made to report statements
// per refund; the counter lives in the store, so a scrape costs no query.
func NewStatementCollector(count func() int64) prometheus.Collector {
	return statementCollector{count}
}

func (c statementCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dbStatements }

func (c statementCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dbStatements, prometheus.CounterValue, float64(c.count()))
}

var (
	groupCommitLanes = prometheus.NewDesc(Namespace+"_group_commit_lanes",
		"Group-commit lanes this process runs: batches that may be in flight at once, each on a connection of its own. One while one keeps up with the writes, more while full batches leave writes waiting.", nil, nil)
	groupCommitLaneShare = prometheus.NewDesc(Namespace+"_group_commit_lanes_share",
		"Most group-commit lanes this process may run: its share of the database's lanes among the live nodes.", nil, nil)
	liveNodes = prometheus.NewDesc(Namespace+"_db_live_nodes",
		"Processes on the database, this one included, that announced themselves within the liveness window; the lanes are divided among them.", nil, nil)
)

// LaneSource reports the group-commit lanes a store runs, the most it
// may run, and the live nodes it divided them among. It is called at
// every scrape.
type LaneSource func() (lanes, share, nodes int)

type laneCollector struct{ source LaneSource }

// NewLaneCollector exposes a store's group-commit lanes and live nodes,
// read at every scrape from what the store keeps (no query).
func NewLaneCollector(source LaneSource) prometheus.Collector { return laneCollector{source} }

func (c laneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupCommitLanes
	ch <- groupCommitLaneShare
	ch <- liveNodes
}

func (c laneCollector) Collect(ch chan<- prometheus.Metric) {
	lanes, share, nodes := c.source()
	ch <- prometheus.MustNewConstMetric(groupCommitLanes, prometheus.GaugeValue, float64(lanes))
	ch <- prometheus.MustNewConstMetric(groupCommitLaneShare, prometheus.GaugeValue, float64(share))
	ch <- prometheus.MustNewConstMetric(liveNodes, prometheus.GaugeValue, float64(nodes))
}
