package sqlite

import (
	"context"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0017 keeps its merchants and keys, and stores
// dashboard sessions and leases from then on.
func TestMigrate0017KeepsRows(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0017")
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`,
		`INSERT INTO api_keys (id, merchant_id, hash, created, name, scope) VALUES ('k1', 'm1', x'00', 0, 'key k1', 'write')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	storetest.CheckUpgrade0017(t, mustOpenInternal(t, path))
}
