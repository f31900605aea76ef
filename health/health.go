// Package health answers the two questions an orchestrator asks: is the
// process up (/healthz), and can it do its work right now (/readyz). Ready
// means every check passes: the database answers, its schema is the one
// this binary expects, and the background workers are running.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Check is one named readiness check; nil means it passes.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Result is one check's outcome as /readyz shows it.
type Result struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // ok or fail
	Error    string `json:"error,omitempty"`
	Duration string `json:"duration"`
}

// Report is the /readyz body.
type Report struct {
	Status string   `json:"status"` // ready or not_ready
	Checks []Result `json:"checks"`
}

// Run runs every check at once, each bounded by timeout, so that one hung
// dependency makes the probe fail in time instead of hang.
func Run(ctx context.Context, timeout time.Duration, checks ...Check) Report {
	rep := Report{Status: "ready", Checks: make([]Result, len(checks))}
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := c.Run(cctx)
			res := Result{Name: c.Name, Status: "ok", Duration: time.Since(start).Round(time.Microsecond).String()}
			if err != nil {
				res.Status, res.Error = "fail", err.Error()
			}
			rep.Checks[i] = res
		})
	}
	wg.Wait()
	for _, r := range rep.Checks {
		if r.Status != "ok" {
			rep.Status = "not_ready"
		}
	}
	return rep
}

// ReadyHandler answers 200 with the report when every check passes and
// 503 when one fails, so that a load balancer takes the process out of
// rotation and a person can read which check failed and why.
func ReadyHandler(timeout time.Duration, checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := Run(r.Context(), timeout, checks...)
		status := http.StatusOK
		if rep.Status != "ready" {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep) // the prober has gone if this fails
	})
}

// Heartbeat tells whether a background loop is alive: the loop beats
// after every pass, and the check fails if it never started or has not
// beaten for longer than its longest expected pause.
type Heartbeat struct {
	name   string
	maxGap time.Duration
	now    func() time.Time

	mu      sync.Mutex
	started bool
	last    time.Time
	stopped bool
}

// NewHeartbeat returns a heartbeat for the named loop; maxGap is the
// longest a healthy loop goes between beats (its longest backoff plus
// the longest pass).
func NewHeartbeat(name string, maxGap time.Duration) *Heartbeat {
	return &Heartbeat{name: name, maxGap: maxGap, now: time.Now}
}

// Start marks the loop as running; a loop counts as alive from here until
// its first pass is overdue.
func (h *Heartbeat) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.started, h.stopped, h.last = true, false, h.now()
}

// Beat records a pass.
func (h *Heartbeat) Beat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = h.now()
}

// Stop marks the loop as ended.
func (h *Heartbeat) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
}

// Check is the readiness check of the loop.
func (h *Heartbeat) Check() Check {
	return Check{Name: h.name, Run: func(context.Context) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case !h.started:
			return fmt.Errorf("%s has not started", h.name)
		case h.stopped:
			return fmt.Errorf("%s has stopped", h.name)
		case h.now().Sub(h.last) > h.maxGap:
			return fmt.Errorf("%s last ran %s ago (expected within %s)", h.name, h.now().Sub(h.last).Round(time.Second), h.maxGap)
		}
		return nil
	}}
}
