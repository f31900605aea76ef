package postgres

import (
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// The outbox suite, at both isolation levels, on the run's database.
func TestOutbox(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			needServer(t)
			start := time.Now()
			storetest.RunOutbox(t, func(t *testing.T) refundry.Store { return sharedStore(t, iso) })
			t.Logf("%s: outbox suite took %v", iso, time.Since(start))
		})
	}
}
