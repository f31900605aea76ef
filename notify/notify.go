// Package notify carries Refundry's events out of the database: signed
// webhooks (Standard Webhooks) to merchants' endpoints, and emails to
// customers whose refunds succeeded. Both are litestream-style loops over
// queues kept by a refundry.Outbox, so nothing is lost across a crash:
// the queue rows commit with the state changes they announce, and a row
// leaves the queue only when its attempt is recorded.
package notify

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// jittered spreads d by up to ±frac, so that the retries of many
// deliveries that failed together (an endpoint down for a minute) do not
// come back together.
func jittered(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + frac*(2*rand.Float64()-1)))
}

// throttle logs one message per key at most once per interval: a loop
// that fails every second while the database is down would otherwise
// bury every other log line.
type throttle struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func (t *throttle) log(logger *slog.Logger, key, msg string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	if t.last == nil {
		t.last = map[string]time.Time{}
	}
	if now.Sub(t.last[key]) < t.every {
		t.mu.Unlock()
		return
	}
	t.last[key] = now
	t.mu.Unlock()
	logger.Warn(msg, args...)
}
