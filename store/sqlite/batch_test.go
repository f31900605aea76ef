package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

func TestBatchStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	storetest.RunBatches(t, func(t *testing.T) refundry.Store { return mustOpen(t, path) })
}
