package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry/store/internal/group"
	"github.com/refundry/refundry/store/storetest"
)

// TestLingerFor: a small batch of a node among others waits for more
// writes after a small batch, half the time that batch ran and never
// more than maxLinger; a lone node, a batch half full, or one after a
// batch half full runs at once.
func TestLingerFor(t *testing.T) {
	const maxBatch = 64
	ms := time.Millisecond
	for _, tc := range []struct {
		name        string
		size, nodes int
		prev        group.Batch
		want        time.Duration
	}{
		{"lone node", 5, 1, group.Batch{Size: 5, Took: 8 * ms}, 0},
		{"no node counted yet", 5, 0, group.Batch{Size: 5, Took: 8 * ms}, 0},
		{"three nodes, small after small", 5, 3, group.Batch{Size: 10, Took: 8 * ms}, 4 * ms},
		{"two nodes, one write after one", 1, 2, group.Batch{Size: 1, Took: 2 * ms}, ms},
		{"a slow batch before: capped", 5, 3, group.Batch{Size: 10, Took: 40 * ms}, maxLinger},
		{"the first batch: nothing to go by", 5, 3, group.Batch{}, 0},
		{"just under half full", 31, 3, group.Batch{Size: 31, Took: 8 * ms}, 4 * ms},
		{"half full", 32, 3, group.Batch{Size: 10, Took: 8 * ms}, 0},
		{"after a batch half full", 5, 3, group.Batch{Size: 32, Took: 8 * ms}, 0},
		{"full", 64, 3, group.Batch{Size: 10, Took: 8 * ms}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lingerFor(tc.size, tc.nodes, maxBatch, tc.prev); got != tc.want {
				t.Errorf("lingerFor(%d, %d, %+v) = %v, want %v", tc.size, tc.nodes, tc.prev, got, tc.want)
			}
		})
	}
}

// TestNextLanes: a lane opens while most batches are full and leave
// writes behind, up to the node's share; one closes when one lane fewer
// would still run batches under half full; otherwise the count stays.
func TestNextLanes(t *testing.T) {
	const maxBatch = 64
	for _, tc := range []struct {
		name       string
		cur, share int
		load       laneLoad
		want       int
	}{
		{"quiet, one lane", 1, 4, laneLoad{}, 1},
		{"quiet, closes one", 3, 4, laneLoad{}, 2},
		{"most full, opens one", 1, 4, laneLoad{batches: 10, full: 6, writes: 640}, 2},
		{"half full is not most", 1, 4, laneLoad{batches: 10, full: 5, writes: 600}, 1},
		{"full batches that leave nothing behind", 1, 4, laneLoad{batches: 10, full: 0, writes: 640}, 1},
		{"most full, at the share", 2, 2, laneLoad{batches: 10, full: 10, writes: 640}, 2},
		{"share fell under the lanes in use", 4, 2, laneLoad{batches: 10, full: 10, writes: 640}, 2},
		{"share of none still runs one", 2, 0, laneLoad{}, 1},
		{"just opened, batches half the size", 2, 4, laneLoad{batches: 20, writes: 20 * 32}, 2},
		{"two lanes whose writes one fills under half", 2, 4, laneLoad{batches: 20, writes: 20 * 15}, 1},
		{"two lanes whose writes one fills half", 2, 4, laneLoad{batches: 20, writes: 20 * 16}, 2},
		{"four lanes, three would fill under half", 4, 4, laneLoad{batches: 40, writes: 40 * 23}, 3},
		{"four lanes, three would fill more", 4, 4, laneLoad{batches: 40, writes: 40 * 24}, 4},
		{"no lane below one", 1, 4, laneLoad{batches: 5, writes: 5}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextLanes(tc.cur, tc.share, tc.load, maxBatch); got != tc.want {
				t.Errorf("nextLanes(%d, %d, %+v) = %d, want %d", tc.cur, tc.share, tc.load, got, tc.want)
			}
		})
	}
}

// TestLanesOpenedByLoad: a node alone starts with one lane; a burst of
// writes that fills its batches and leaves writes waiting opens lanes up
// to its share, never past it, and once the writes stop it goes back to
// one.
func TestLanesOpenedByLoad(t *testing.T) {
	s := openNode(t, freshDatabase(t), withLanesBy(testBeat, 4))
	if got, want := s.LaneStat(), (LaneStat{Lanes: 1, Share: 4, LiveNodes: 1}); got != want {
		t.Fatalf("before any write: %+v, want %+v", got, want)
	}
	m := storetest.MustCreateMerchant(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sales []string
	for range 16 {
		sales = append(sales, storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1_000_000)).ID)
	}

	stop := make(chan struct{})
	var refunds atomic.Int64
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sales[i%len(sales)], storetest.Amount(1))); err != nil {
					t.Errorf("refund: %v", err)
					return
				}
				refunds.Add(1)
			}
		})
	}
	most := 0
	deadline := time.Now().Add(30 * time.Second)
	for most < 4 && time.Now().Before(deadline) && !t.Failed() {
		st := s.LaneStat()
		if st.Lanes > st.Share {
			t.Errorf("%+v: more lanes in use than the share", st)
		}
		most = max(most, st.Lanes)
		time.Sleep(testBeat / 5)
	}
	close(stop)
	wg.Wait()
	if most != 4 {
		t.Fatalf("under a burst of %d refunds the lanes in use reached %d, want the share of 4", refunds.Load(), most)
	}

	deadline = time.Now().Add(10 * time.Second)
	for s.LaneStat().Lanes != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("quiet: %+v, want back to one lane", s.LaneStat())
		}
		time.Sleep(testBeat / 5)
	}
}
