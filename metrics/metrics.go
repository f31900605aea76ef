// Package metrics exposes Refundry's Prometheus metrics: HTTP requests by
// route and dialect, refunds and refunded amounts, gateway calls, the
// database pools and how far behind the background work is.
//
// Everything is registered on a registry the caller passes in, never on
// the client library's global default, so that two servers in one test
// process (or one binary embedding another) never share or clash.
//
// Money: Prometheus samples are float64. Amounts are counted in integer
// minor units (refundry_refunded_minor_units_total), so a sample is a
// whole number, exact up to 2^53 minor units, and is never a decimal
// amount to be rounded; nothing here feeds back into the ledger.
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
)

// Namespace prefixes every metric of Refundry's own.
const Namespace = "refundry"

var _ engine.Observer = (*Metrics)(nil)

// Metrics holds Refundry's collectors. It is the engine's Observer.
type Metrics struct {
	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	refunds       *prometheus.CounterVec
	settled       *prometheus.CounterVec
	refundedMinor *prometheus.CounterVec
	gatewayCalls  *prometheus.HistogramVec
	gatewayErrors *prometheus.CounterVec
	recovery      *prometheus.CounterVec
	batchSize     prometheus.Histogram
	reports       *prometheus.CounterVec
	reconRuns     prometheus.Counter
	reconCounts   *prometheus.CounterVec
	mismatches    *prometheus.CounterVec
	reviewed      *prometheus.CounterVec
	expiryPasses  *prometheus.CounterVec
	expired       prometheus.Counter

	// The children counted in on every request or refund, kept.
	httpRequestsBy  *series[prometheus.Counter]
	httpDurationBy  *series[prometheus.Observer]
	refundsBy       *series[prometheus.Counter]
	settledBy       *series[prometheus.Counter]
	refundedMinorBy *series[prometheus.Counter]
	gatewayCallsBy  *series[prometheus.Observer]
}

// New makes the collectors and registers them on reg. It fails only if
// reg already holds metrics of the same names.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, dialect and status code.",
		}, []string{"route", "dialect", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and dialect.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "dialect"}),
		refunds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refunds_created_total",
			Help: "Refunds recorded, by status at creation, gateway and dialect (the edge they came through).",
		}, []string{"status", "gateway", "dialect"}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refunds_settled_total",
			Help: "Pending refunds moved to a final status by this process, by status, gateway and dialect.",
		}, []string{"status", "gateway", "dialect"}),
		refundedMinor: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refunded_minor_units_total",
			Help: "Money refunded (refunds that succeeded), in integer minor units of the currency (cents for USD, yen for JPY).",
		}, []string{"currency"}),
		gatewayCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "gateway_call_duration_seconds",
			Help:    "Time a gateway took to answer, by gateway and operation (refund, cancel).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"gateway", "op"}),
		gatewayErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "gateway_call_errors_total",
			Help: "Gateway calls that ended in an error (outcome unknown, or refused by the gateway), by gateway, operation and error code.",
		}, []string{"gateway", "op", "code"}),
		recovery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "recovery_passes_total",
			Help: "Passes of the recovery loop over pending refunds, by result (ok, error).",
		}, []string{"result"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "group_commit_batch_size",
			Help:    "Refunds committed together in one durable database transaction by group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 .. 1024
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "gateway_reports_total",
			Help: "Reports of what a gateway did after the call (inbound events, reconciliation), by gateway and outcome (matched, settled, corrected, adopted, dispute, unknown_charge, refused, ignored).",
		}, []string{"gateway", "outcome"}),
		reconRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "reconciliation_runs_total",
			Help: "Reconciliation runs stored (one per merchant reconciled).",
		}),
		reconCounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "reconciliation_refunds_total",
			Help: "Gateway refunds reconciliation compared with the ledger, by result (matched, adopted, corrected).",
		}, []string{"result"}),
		mismatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "reconciliation_mismatches_total",
			Help: "Differences between the ledger and a gateway that reconciliation could not resolve, by kind.",
		}, []string{"kind"}),
		reviewed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refunds_sent_to_review_total",
			Help: "Pending refunds recovery sent to manual review (requires_action) because their gateway gave no final answer within the review limits, by gateway.",
		}, []string{"gateway"}),
		expiryPasses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "approval_expiry_passes_total",
			Help: "Passes of the sweep that releases refunds nobody approved by their deadline, by result (ok, error).",
		}, []string{"result"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "approvals_expired_total",
			Help: "Refunds awaiting approval that the sweep released because nobody approved them by their deadline (refund.expired).",
		}),
	}
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.refunds, m.settled,
		m.refundedMinor, m.gatewayCalls, m.gatewayErrors, m.recovery, m.batchSize,
		m.reports, m.reconRuns, m.reconCounts, m.mismatches, m.reviewed, m.expiryPasses, m.expired} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.httpRequestsBy = statusCounters(m.httpRequests)
	m.httpDurationBy = observers2(m.httpDuration)
	m.refundsBy = counters3(m.refunds)
	m.settledBy = counters3(m.settled)
	m.refundedMinorBy = counters1(m.refundedMinor)
	m.gatewayCallsBy = observers2(m.gatewayCalls)
	return m, nil
}

// RefundCreated counts a refund as recorded; one that starts succeeded
// (offsite) adds its amount to the money refunded.
func (m *Metrics) RefundCreated(r *refundry.Refund) {
	m.refundsBy.get(labels3{a: r.Status, b: r.Gateway, c: r.Source}).Inc()
	if r.Status == refundry.RefundSucceeded {
		m.refundedMinorBy.get(labels3{a: r.Currency}).Add(float64(r.Amount))
	}
}

// RefundSettled counts a refund moved to a final status; one that
// succeeded adds its amount to the money refunded.
func (m *Metrics) RefundSettled(r *refundry.Refund) {
	m.settledBy.get(labels3{a: r.Status, b: r.Gateway, c: r.Source}).Inc()
	if r.Status == refundry.RefundSucceeded {
		m.refundedMinorBy.get(labels3{a: r.Currency}).Add(float64(r.Amount))
	}
}

// GatewayCall records one call's latency, and its error if it had one.
func (m *Metrics) GatewayCall(gateway, op string, d time.Duration, err error) {
	m.gatewayCallsBy.get(labels3{a: gateway, b: op}).Observe(d.Seconds())
	if err != nil {
		code := refundry.ErrorCode(err)
		if errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		m.gatewayErrors.WithLabelValues(gateway, op, code).Inc()
	}
}

// RecoveryPass counts one pass of the recovery loop.
func (m *Metrics) RecoveryPass(_ int, err error) {
	if err != nil {
		m.recovery.WithLabelValues("error").Inc()
		return
	}
	m.recovery.WithLabelValues("ok").Inc()
}

// GroupCommitBatch records how many refunds one group commit made
// durable together.
func (m *Metrics) GroupCommitBatch(n int) { m.batchSize.Observe(float64(n)) }

// GatewayReport counts one gateway report applied, by its outcome.
func (m *Metrics) GatewayReport(gateway, outcome string) {
	m.reports.WithLabelValues(gateway, outcome).Inc()
}

// ReconciliationRun counts a stored run, what it compared and each
// mismatch it could not resolve.
func (m *Metrics) ReconciliationRun(run *refundry.ReconciliationRun) {
	m.reconRuns.Inc()
	m.reconCounts.WithLabelValues("matched").Add(float64(run.Matched))
	m.reconCounts.WithLabelValues("adopted").Add(float64(run.Adopted))
	m.reconCounts.WithLabelValues("corrected").Add(float64(run.Corrected))
	for _, mm := range run.Mismatches {
		m.mismatches.WithLabelValues(mm.Kind).Inc()
	}
}

// RefundReviewed counts a refund recovery sent to manual review.
func (m *Metrics) RefundReviewed(r *refundry.Refund) {
	m.reviewed.WithLabelValues(r.Gateway).Inc()
}

// ExpiryPass counts one pass of the approval expiry sweep and the
// refunds it released.
func (m *Metrics) ExpiryPass(expired int, err error) {
	m.expired.Add(float64(expired))
	if err != nil {
		m.expiryPasses.WithLabelValues("error").Inc()
		return
	}
	m.expiryPasses.WithLabelValues("ok").Inc()
}
