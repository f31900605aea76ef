package edge

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func TestRateLimiter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at    time.Duration // since start
		key   string
		ok    bool
		retry string // Retry-After when refused
	}
	for _, c := range []struct {
		name       string
		rate       float64
		burst      int
		steps      []step
		wantBucket int // buckets kept after the last step
	}{
		{"BurstThenRefused", 2, 3, []step{
			{0, "k1", true, ""}, {0, "k1", true, ""}, {0, "k1", true, ""},
			{0, "k1", false, "1"},
			// Half a second refills one token at 2/s.
			{500 * time.Millisecond, "k1", true, ""},
			{500 * time.Millisecond, "k1", false, "1"},
		}, 1},
		{"KeysApart", 1, 1, []step{
			{0, "k1", true, ""}, {0, "k1", false, "1"},
			{0, "k2", true, ""}, {0, "k2", false, "1"},
		}, 2},
		{"RefusedAsksTakeNothing", 1, 1, []step{
			{0, "k1", true, ""},
			{100 * time.Millisecond, "k1", false, "1"},
			{200 * time.Millisecond, "k1", false, "1"},
			// Had the refusals queued, the turn would be at 3s.
			{time.Second, "k1", true, ""},
		}, 1},
		{"SlowRateRetryAfterRoundsUp", 0.25, 1, []step{
			{0, "k1", true, ""}, {time.Second, "k1", false, "3"},
		}, 1},
		// A wait of a microsecond used to read "Retry after 0s" beside
		// a header of 1: body and header count the same whole seconds.
		{"TinyWaitSaysOneSecond", 1e6, 1, []step{
			{0, "k1", true, ""}, {0, "k1", false, "1"},
		}, 1},
		{"IdleBucketsDropped", 10, 10, []step{
			{0, "k1", true, ""}, {0, "k2", true, ""},
			// A second fills a 10/s bucket of 10: both are full again,
			// and the next ask sweeps them.
			{2 * time.Second, "k3", true, ""},
		}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := NewRateLimiter(c.rate, c.burst)
			var now time.Time
			l.now = func() time.Time { return now }
			for i, s := range c.steps {
				now = start.Add(s.at)
				err := l.Allow(s.key)
				if (err == nil) != s.ok {
					t.Fatalf("step %d (%s at %s): err %v, want allowed %v", i, s.key, s.at, err, s.ok)
				}
				if err == nil {
					continue
				}
				if refundry.ErrorCode(err) != refundry.ERATELIMITED {
					t.Fatalf("step %d: code %q", i, refundry.ErrorCode(err))
				}
				w := httptest.NewRecorder()
				SetRetryAfter(w, err)
				if got := w.Header().Get("Retry-After"); got != s.retry {
					t.Fatalf("step %d: Retry-After %q, want %q", i, got, s.retry)
				}
				if msg := refundry.ErrorMessage(err); !strings.HasSuffix(msg, "Retry after "+s.retry+"s.") {
					t.Fatalf("step %d: message %q disagrees with Retry-After %s", i, msg, s.retry)
				}
			}
			if got := l.size(); got != c.wantBucket {
				t.Fatalf("%d buckets kept, want %d", got, c.wantBucket)
			}
		})
	}
}

func TestRateLimiterOff(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		l := NewRateLimiter(rate, 10)
		if l != nil {
			t.Fatalf("NewRateLimiter(%v) = %v, want nil (off)", rate, l)
		}
		for range 1000 {
			if err := l.Allow("k"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSetRetryAfter(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{refundry.Errorf(refundry.EUNAVAILABLE, "down"), "1"},
		{&refundry.Error{Code: refundry.ERATELIMITED, Err: retryAfter(2100 * time.Millisecond)}, "3"},
		{refundry.Errorf(refundry.EINVALID, "bad"), ""},
		{errors.New("foreign"), ""},
	} {
		w := httptest.NewRecorder()
		SetRetryAfter(w, c.err)
		if got := w.Header().Get("Retry-After"); got != c.want {
			t.Errorf("%v: Retry-After %q, want %q", c.err, got, c.want)
		}
	}
}

// BenchmarkRateLimiterAllow is the limiter's cost per request, many keys
// asked from many goroutines at once, as serve's edges ask it.
func BenchmarkRateLimiterAllow(b *testing.B) {
	l := NewRateLimiter(1e9, 1e9) // never refuses: the cost of the take alone
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = refundry.NewID()
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := l.Allow(keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
