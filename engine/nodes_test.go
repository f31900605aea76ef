package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/storetest"
)

// Invariant 6 across nodes: two nodes, each with its own pool and its own
// gateway, both run recovery over one PostgreSQL database at once. Every
// refund a crash left pending is asked about once in all, by one node or
// the other, never by both: the gateways' call counts add up to exactly
// one per refund.
func TestRecoveryTwoNodesAskOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	type node struct {
		store *postgres.Store
		gw    *countingGateway
		eng   *engine.Engine
	}
	var nodes [2]node
	for i := range nodes {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.Now = now
		gw := &countingGateway{Gateway: simulator.New(), calls: map[string]int{}}
		eng := engine.New(s, logger, gw)
		eng.Now = now
		nodes[i] = node{s, gw, eng}
	}

	m := storetest.NewMerchant()
	if _, err := nodes[0].eng.CreateMerchant(ctx, m); err != nil {
		t.Fatal(err)
	}
	// The crash: refunds recorded on either node, their gateway calls
	// never made.
	const sales, perSale = 20, 10
	var pending []string
	for i := range sales {
		s := nodes[i%2].store
		sale := storetest.MustCreateSale(t, s, m.ID, storetest.PaymentReferences(fmt.Sprintf("pay-%d", i)))
		for range perSale {
			r := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1))).Refunds[0]
			pending = append(pending, r.ID)
		}
	}
	clock.Add(int64(3 * time.Second))

	// Both nodes pass at once, in small batches, so that their claims
	// overlap, until every refund was asked about or passes run out.
	total := func() int { return nodes[0].gw.total("") + nodes[1].gw.total("") }
	for pass := 0; total() < len(pending); pass++ {
		if pass > 2*len(pending) {
			t.Fatalf("%d passes asked about %d of %d refunds", pass, total(), len(pending))
		}
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				if _, err := nodes[i].eng.Recover(ctx, now(), 7); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	for _, id := range pending {
		a, b := nodes[0].gw.count(id), nodes[1].gw.count(id)
		if a+b != 1 {
			t.Errorf("refund %s asked %d times by node A and %d by node B, want once in all", id, a, b)
		}
		r, err := nodes[0].store.FindRefund(ctx, m.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != refundry.RefundSucceeded {
			t.Errorf("refund %s is %s after recovery, want succeeded", id, r.Status)
		}
	}
	t.Logf("%d refunds recovered: %d by node A, %d by node B", len(pending), nodes[0].gw.total(""), nodes[1].gw.total(""))
}

// The reconciliation sweep runs on every node, but one node sweeps each
// interval: the lease goes to one of two nodes asking at once, its holder
// keeps it at its next tick, and the other takes it once the holder has
// missed one.
func TestReconcileLeaseOneNode(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	t0 := time.Now()
	const interval = 15 * time.Minute
	var mu sync.Mutex
	winners := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		for i, s := range stores {
			wg.Go(func() {
				holder := fmt.Sprintf("node-%d", i)
				got, err := s.TakeLease(ctx, "reconcile", holder, t0, t0.Add(interval))
				if err != nil {
					t.Error(err)
				}
				if got {
					mu.Lock()
					winners[holder]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("nodes holding the lease at once: %v, want one", winners)
	}
}
