package edge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/refundry/refundry"
)

// RateLimiter bounds how often each API key may call: a token bucket per
// key, refilled at a steady rate and holding at most a burst, so that one
// merchant's runaway client cannot starve the others. A nil *RateLimiter
// allows everything.
type RateLimiter struct {
	limit rate.Limit
	burst int
	// idle is how long a key's bucket takes to fill up again. A bucket
	// untouched that long is full, exactly like a new one, so dropping it
	// forgets nothing: that is what bounds the map by the keys active
	// lately rather than every key ever seen.
	idle time.Duration
	now  func() time.Time

	mu        sync.Mutex
	keys      map[string]*keyBucket
	lastSweep time.Time

	// count, when set, counts each key's requests in the database every
	// node shares, in the windows of window (see Shared).
	count  Counter
	window refundry.RateWindow
}

// Counter counts a request of key in the window that starts at start and
// returns the window's count, this request included: engine.CountRequest.
type Counter func(ctx context.Context, key string, start time.Time) (int64, error)

// sharedTimeout bounds the wait for the shared count. A database slower
// than this (or away) is passed over, and this node's own bucket decides:
// a rate limit must never be why a request hangs.
const sharedTimeout = 250 * time.Millisecond

// Shared makes l count every key's requests with count, in the database
// that every node behind a load balancer shares, so that the limit holds
// across them within the tolerance refundry.RateWindow states, instead of
// being multiplied by the number of nodes. While the count fails, each
// node falls back to its own bucket of the whole limit. It returns l; a
// nil l stays nil.
func (l *RateLimiter) Shared(count Counter) *RateLimiter {
	if l == nil {
		return nil
	}
	l.count = count
	l.window = refundry.NewRateWindow(float64(l.limit), l.burst)
	return l
}

type keyBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter allows each key perSecond requests a second on average
// and burst at once. perSecond <= 0 turns limiting off (nil).
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if perSecond <= 0 || math.IsNaN(perSecond) {
		return nil
	}
	burst = max(burst, 1)
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RateLimiter{
		limit: rate.Limit(perSecond),
		burst: burst,
		idle:  max(idle, time.Second),
		now:   time.Now,
		keys:  map[string]*keyBucket{},
	}
}

// Allow takes one token of keyID's bucket. When there is none it returns
// ERATELIMITED carrying how long until there will be one (RetryAfter
// reads it for the Retry-After header), and takes nothing: a client that
// keeps asking too fast does not push its own turn further away.
func (l *RateLimiter) Allow(keyID string) error {
	return l.AllowContext(context.Background(), keyID)
}

// AllowContext is Allow, counting in the shared database when the
// limiter is Shared.
func (l *RateLimiter) AllowContext(ctx context.Context, keyID string) error {
	if l == nil {
		return nil
	}
	now := l.now()
	if l.count != nil {
		cctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		n, err := l.count(cctx, keyID, l.window.Start(now))
		cancel()
		if err == nil {
			ok, wait := l.window.Allow(n, now)
			if ok {
				return nil
			}
			return l.refuse(wait)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		for id, b := range l.keys {
			if now.Sub(b.seen) >= l.idle {
				delete(l.keys, id)
			}
		}
		l.lastSweep = now
	}
	b := l.keys[keyID]
	if b == nil {
		b = &keyBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.keys[keyID] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if wait == 0 {
		return nil
	}
	res.CancelAt(now)
	return l.refuse(wait)
}

// refuse is the ERATELIMITED of a request that must wait wait.
func (l *RateLimiter) refuse(wait time.Duration) error {
	return &refundry.Error{Code: refundry.ERATELIMITED, Err: retryAfter(wait),
		Message: fmt.Sprintf("Too many requests with this API key; at most %s a second. Retry after %ds.", formatRate(float64(l.limit)), retrySeconds(wait))}
}

// size is how many keys have a bucket now.
func (l *RateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// retryAfter is the wait an ERATELIMITED error carries.
type retryAfter time.Duration

func (d retryAfter) Error() string { return "retry after " + time.Duration(d).String() }

// retrySeconds is a wait as Retry-After counts it: whole seconds, rounded
// up, so that a client that waits that long is let in. The message says
// the same number, never "0s" beside a header of 1.
func retrySeconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// SetRetryAfter sets the Retry-After header an error calls for: the wait
// a rate-limited key has left, rounded up to whole seconds as the header
// counts them, or a second for a dependency down for a moment. Every
// edge's error writer calls it, so each dialect tells clients alike when
// to come back.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var d retryAfter
	switch {
	case errors.As(err, &d):
		w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(time.Duration(d)), 10))
	case refundry.ErrorCode(err) == refundry.EUNAVAILABLE:
		w.Header().Set("Retry-After", "1")
	}
}

type limiterKey struct{}

// RateLimit makes Authenticate, on every edge below it, take a token of
// the bucket of each request's API key once the key is known. The limiter
// travels in the request's context so that every edge, the dialects
// included, gets it without a parameter of its own.
func RateLimit(l *RateLimiter, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), limiterKey{}, l)))
	})
}

// allowKey takes a token for keyID from the limiter RateLimit put in ctx.
func allowKey(ctx context.Context, keyID string) error {
	l, _ := ctx.Value(limiterKey{}).(*RateLimiter)
	return l.AllowContext(ctx, keyID)
}
