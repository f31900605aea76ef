package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0017 keeps its merchants and keys, and stores
// dashboard sessions and leases from then on.
func TestMigrate0017KeepsRows(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 17)
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', now())`,
		`INSERT INTO api_keys (id, merchant_id, hash, created, name, scope) VALUES ('k1', 'm1', '\x00', now(), 'key k1', 'write')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgrade0017(t, s)
}
