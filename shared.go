package refundry

import (
	"context"
	"math"
	"time"
)

// RateWindow is the per-key rate limit as every node sharing a database
// keeps it together: at most Limit requests of a key in each window of
// Length, counted in the database, so that the limit holds whichever
// node each request lands on.
//
// A limit of r a second with a burst of b becomes windows of b/r seconds
// (at least one) of b requests each: the same average, and b at once.
// Over any T seconds a key gets at most r·T + 2·b requests across all
// nodes (a burst at the end of one window and another at the start of
// the next), where one token bucket would allow r·T + b. Windows are cut
// from each node's clock, so nodes must keep time (NTP): a node s seconds
// off counts into a neighbouring window for s seconds of each window,
// which adds up to r·s more.
type RateWindow struct {
	Limit  int64
	Length time.Duration
}

// NewRateWindow is the window of a limit of perSecond a second with a
// burst of burst.
func NewRateWindow(perSecond float64, burst int) RateWindow {
	burst = max(burst, 1)
	length := time.Duration(float64(burst) / perSecond * float64(time.Second))
	length = max(length, time.Second).Truncate(time.Millisecond)
	return RateWindow{Limit: max(int64(math.Round(perSecond*length.Seconds())), 1), Length: length}
}

// Start is the start of the window now is in: the same on every node.
func (w RateWindow) Start(now time.Time) time.Time { return now.Truncate(w.Length) }

// Allow decides the request that made count the count of its window
// (this one included): allowed, or refused with the wait until the next
// window opens.
func (w RateWindow) Allow(count int64, now time.Time) (bool, time.Duration) {
	if count <= w.Limit {
		return true, 0
	}
	return false, w.Start(now).Add(w.Length).Sub(now)
}

// RateCounter counts requests per key per window in the database that
// every node shares (see RateWindow).
type RateCounter interface {
	// CountRequest adds one to key's count in the window that starts at
	// start and returns the count, this request included. Windows that
	// ended long ago are forgotten.
	CountRequest(ctx context.Context, key string, start time.Time) (int64, error)
}

// LeaseStore hands out named leases, so that a background task every node
// runs (the reconciliation sweep) is done by one node at a time.
type LeaseStore interface {
	// TakeLease gives the lease name to holder until until if, at now, it
	// is free: never taken, ended, or holder's own already. Returns
	// whether holder has it.
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
}
