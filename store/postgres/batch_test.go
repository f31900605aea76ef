package postgres

import (
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// The refund batch suite, at both isolation levels, on the run's database.
func TestBatchStore(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			needServer(t)
			storetest.RunBatches(t, func(t *testing.T) refundry.Store { return sharedStore(t, iso) })
		})
	}
}
