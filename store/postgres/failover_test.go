package postgres

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// A connection to a server that refuses writes (an old primary back as a
// standby after a failover) leaves the pool at its first refusal: once a
// writable server answers again, the next write succeeds at once, on a
// new connection, instead of failing on the pooled read-only ones until
// they grow old.
func TestReadOnlyConnectionsLeaveThePool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := freshDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	admin("ALTER DATABASE " + name + " SET default_transaction_read_only = on")
	s.pool.Reset()
	// Several writes at once, so the pool holds several read-only
	// connections.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if err := s.CreateMerchant(ctx, storetest.NewMerchant(), nil); refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
				t.Errorf("write to a read-only server: %v, want EUNAVAILABLE", err)
			}
		})
	}
	wg.Wait()
	admin("ALTER DATABASE " + name + " RESET default_transaction_read_only")
	for i := range 6 {
		if err := s.CreateMerchant(ctx, storetest.NewMerchant(), nil); err != nil {
			t.Fatalf("write %d once the server takes writes again: %v", i+1, err)
		}
	}
}

// BenchmarkCountRequest is the cost the shared rate limit adds to each
// request: one upsert on the UNLOGGED table, all on one key's window as a
// busy client's requests are.
func BenchmarkCountRequest(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, freshDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	start := time.Now().Truncate(2 * time.Second)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CountRequest(ctx, "key", start); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
