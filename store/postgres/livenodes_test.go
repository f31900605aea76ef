package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/internal/group"
	"github.com/refundry/refundry/store/storetest"
)

// Beats short enough for a test to watch nodes come and go.
const (
	testBeat   = 50 * time.Millisecond
	testWindow = 300 * time.Millisecond
)

// withNodeBeat sets how often the store beats in live_nodes and how long
// a silent node is counted.
func withNodeBeat(beat, window time.Duration) Option {
	return func(o *options) { o.beat, o.window = beat, window }
}

// withLanesBy sizes the lanes in use by the load every interval, and
// caps a batch at maxBatch writes, so that a few writers fill batches.
func withLanesBy(every time.Duration, maxBatch int) Option {
	return func(o *options) { o.laneEvery, o.maxBatch = every, maxBatch }
}

// loaded makes s use as many lanes as its share allows, as if the load
// had opened them all, and no longer size them by the load.
func loaded(s *Store) {
	s.stopAdapting()
	s.grown.Store(int32(len(s.lanes)))
}

// openNode opens a store on url, as a serve node would, beating fast.
func openNode(t *testing.T, url string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, append([]Option{withNodeBeat(testBeat, testWindow)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitLanes waits until every store runs want (a few beats at most).
func waitLanes(t *testing.T, want LaneStat, stores ...*Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for i, s := range stores {
		for s.LaneStat() != want {
			if time.Now().After(deadline) {
				t.Fatalf("store %d: %+v, want %+v", i, s.LaneStat(), want)
			}
			time.Sleep(testBeat / 2)
		}
	}
}

// lanesUsed counts the lanes that writes to 64 sales go to.
func lanesUsed(s *Store) int {
	used := map[*group.Queue[*write]]bool{}
	for i := range 64 {
		used[s.lane(forSale(context.Background(), "m", fmt.Sprintf("sale%d", i)))] = true
	}
	return len(used)
}

// TestLanesSharedByNodes: stores on one database see each other and
// divide the lanes their pool gives (four at the default pool) among
// them; when one closes, or stops beating and its window passes, the
// others take its share back.
func TestLanesSharedByNodes(t *testing.T) {
	url := freshDatabase(t)
	a := openNode(t, url)
	// Without writes a node runs one lane of its share.
	if got, want := a.LaneStat(), (LaneStat{Lanes: 1, Share: 4, LiveNodes: 1}); got != want {
		t.Fatalf("a node alone: %+v, want %+v", got, want)
	}
	loaded(a)
	if got, want := a.LaneStat(), (LaneStat{Lanes: 4, Share: 4, LiveNodes: 1}); got != want {
		t.Fatalf("a node alone under load: %+v, want %+v", got, want)
	}
	b := openNode(t, url)
	// A node counts the others before Open returns.
	if got, want := b.LaneStat(), (LaneStat{Lanes: 1, Share: 2, LiveNodes: 2}); got != want {
		t.Fatalf("the second node at Open: %+v, want %+v", got, want)
	}
	loaded(b)
	waitLanes(t, LaneStat{Lanes: 2, Share: 2, LiveNodes: 2}, a, b)
	c := openNode(t, url)
	loaded(c)
	waitLanes(t, LaneStat{Lanes: 1, Share: 1, LiveNodes: 3}, a, b, c)
	if n := lanesUsed(a); n != 1 {
		t.Errorf("one node of three sends writes to %d lanes, want 1", n)
	}

	c.Close()
	waitLanes(t, LaneStat{Lanes: 2, Share: 2, LiveNodes: 2}, a, b)
	if n := lanesUsed(a); n != 2 {
		t.Errorf("one node of two sends writes to %d lanes, want 2", n)
	}

	// b goes silent without leaving, as a node killed would: it is
	// counted until its last beat is a window old.
	b.stopBeating()
	time.Sleep(testWindow / 2)
	if got := a.LaneStat(); got.LiveNodes != 2 {
		t.Errorf("half a window after b's last beat: %+v, want b still counted", got)
	}
	waitLanes(t, LaneStat{Lanes: 4, Share: 4, LiveNodes: 1}, a)
	if n := lanesUsed(a); n != 4 {
		t.Errorf("a node alone sends writes to %d lanes, want 4", n)
	}
	var rows int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM live_nodes`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("live_nodes holds %d rows once b was forgotten, want a's alone", rows)
	}
}

// TestLanesFixed: WithGroupCommitLanes keeps its count whatever the
// nodes and the load, and a store without group commit runs no lanes.
func TestLanesFixed(t *testing.T) {
	url := freshDatabase(t)
	a := openNode(t, url, WithGroupCommitLanes(3))
	b := openNode(t, url, WithGroupCommitLanes(3))
	waitLanes(t, LaneStat{Lanes: 3, Share: 3, LiveNodes: 2}, a, b)
	off := openNode(t, url, WithGroupCommit(false))
	if got, want := off.LaneStat(), (LaneStat{Lanes: 0, Share: 0, LiveNodes: 1}); got != want {
		t.Errorf("group commit off: %+v, want %+v", got, want)
	}
	// Without lanes a store does not count itself among those sharing them.
	time.Sleep(2 * testBeat)
	if got := a.LaneStat(); got.LiveNodes != 2 {
		t.Errorf("a store without group commit was counted: %+v", got)
	}
}

// TestInvariant2LanesChange: refunds and releases race on a few sales
// through two stores while a third opens and closes beside them, and
// batches small enough that the writes fill them, so that the lanes in
// use change under the writes, by the nodes and by the load, and a
// sale's writes move between lanes. Every sale stays exact (invariant 2)
// and no batch deadlocks another.
func TestInvariant2LanesChange(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			url := withParam(freshDatabase(t), "default_transaction_isolation", iso)
			stores := []*Store{openNode(t, url, withLanesBy(testBeat, 4)), openNode(t, url, withLanesBy(testBeat, 4))}
			m := storetest.MustCreateMerchant(t, stores[0])
			var sales []*refundry.Sale
			for range 6 {
				sales = append(sales, storetest.MustCreateSale(t, stores[0], m.ID, storetest.Lines(3000, 7000)))
			}

			// The third node comes and goes until the refunds are done;
			// meanwhile the lanes the first store runs are recorded.
			done := make(chan struct{})
			seen := map[int]bool{}
			var churn sync.WaitGroup
			churn.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					third, err := Open(context.Background(), url, withNodeBeat(testBeat, testWindow))
					if err != nil {
						t.Errorf("Open: %v", err)
						return
					}
					time.Sleep(3 * testBeat)
					third.Close()
					time.Sleep(3 * testBeat)
				}
			})
			var watch sync.WaitGroup
			var seenMu sync.Mutex
			watch.Go(func() {
				for {
					seenMu.Lock()
					seen[stores[0].LaneStat().Lanes] = true
					seenMu.Unlock()
					select {
					case <-done:
						return
					case <-time.After(testBeat / 5):
					}
				}
			})

			race := refundRace{stores: stores, merchant: m.ID, sales: sales, refunds: 600, lineItem: 1, releaseEvery: 5, parallel: 24}
			accepted := race.ask(t)
			close(done)
			churn.Wait()
			watch.Wait()

			if len(seen) < 2 {
				t.Errorf("the lanes in use never changed during the refunds (%v): the test proves nothing", seen)
			}
			checkNoDeadlocks(t, stores...)
			race.check(t, accepted)
		})
	}
}
