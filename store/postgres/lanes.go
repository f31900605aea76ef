package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/refundry/refundry/store/internal/group"
)

// Lanes divided among the nodes. Every node gathers the writes it serves
// into its own batches, so the more nodes share a database, the smaller
// each node's batches and the more of them compete for the server: each
// batch pays its statements and its WAL flush whatever its size. A node
// therefore runs its share of the lanes the database is meant to have
// (clusterLanes), not that many of its own: it announces itself in
// live_nodes every nodeBeat, counts the nodes seen within nodeWindow, and
// uses max(1, lanes/nodes) of its queues (activeLanes). A node that stops
// beating (killed, cut off) is counted until its last beat is nodeWindow
// old; one that closes takes its row away at once.
const (
	nodeBeat   = 2 * time.Second
	nodeWindow = 3 * nodeBeat
)

// LaneStat is what group commit runs on: the lanes in use, the node's
// share of the lanes, and the nodes it was sized by.
type LaneStat struct {
	// Lanes is the group-commit lanes in use, 0 with group commit off.
	Lanes int
	// Share is the most lanes the node may use: its share among the
	// live nodes, or the count WithGroupCommitLanes fixed.
	Share int
	// LiveNodes is the stores on the database, this one included, that
	// beat within the window at this store's last beat; 1 while none was
	// counted yet, or with group commit off.
	LiveNodes int
}

// LaneStat returns the lanes in use, the node's share and the live
// nodes, for metrics.
func (s *Store) LaneStat() LaneStat {
	return LaneStat{Lanes: s.lanesInUse(), Share: int(s.share.Load()), LiveNodes: int(s.liveNodes.Load())}
}

// lanesInUse is the lanes writes go to: as many as the load asks for
// (adaptLanes), never more than the node's share.
func (s *Store) lanesInUse() int {
	return int(min(s.grown.Load(), s.share.Load()))
}

// activeLanes is the lanes a node of n runs: its share of the store's
// queues, unless WithGroupCommitLanes fixed them.
func (s *Store) activeLanes(n int) int {
	if s.fixedLanes {
		return len(s.lanes)
	}
	return max(1, len(s.lanes)/max(n, 1))
}

// startBeating announces the store in live_nodes, sizes its lanes by the
// nodes it finds, and goes on doing so every beat until stopBeating. The
// first beat is taken before Open returns, so that a node started beside
// others never runs more lanes than its share.
func (s *Store) startBeating(ctx context.Context, beat, window time.Duration) {
	s.nodeID = newNodeID()
	s.beat, s.window = beat, window
	s.beatOnce(ctx)
	bctx, cancel := context.WithCancel(context.Background())
	s.stopBeat = cancel
	s.beatDone = make(chan struct{})
	go func() {
		defer close(s.beatDone)
		t := time.NewTicker(beat)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
				s.beatOnce(bctx)
			}
		}
	}()
}

// beatOnce renews the store's row, forgets the nodes whose last beat is
// older than the window, and sets the lanes in use from the count. The
// clock is the database's, so nodes whose clocks disagree still agree on
// who is live. A beat that fails changes nothing: the lanes stay as they
// were until one succeeds, and this node stays counted by the others
// until its row is a window old. A beat may take up to the window, not
// just the beat: one slower than the beat, on a loaded database, still
// renews the row before the others forget it, and the first, in Open,
// must count the others for the node not to start above its share.
func (s *Store) beatOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.window)
	defer cancel()
	// The statements of a WITH see one snapshot: the count does not see
	// this beat's own row, hence the + 1, nor the rows it deletes, hence
	// the same window.
	var n int
	err := s.pool.QueryRow(ctx, `WITH beat AS (
			INSERT INTO live_nodes (id, seen) VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET seen = excluded.seen
		), gone AS (
			DELETE FROM live_nodes WHERE seen < now() - $2 * interval '1 millisecond' AND id <> $1
		)
		SELECT count(*) + 1 FROM live_nodes WHERE seen >= now() - $2 * interval '1 millisecond' AND id <> $1`,
		s.nodeID, s.window.Milliseconds()).Scan(&n)
	if err != nil {
		return
	}
	s.liveNodes.Store(int32(n))
	s.share.Store(int32(s.activeLanes(n)))
}

// stopBeating ends the beats; the row stays until the window forgets it
// or leave removes it.
func (s *Store) stopBeating() {
	if s.stopBeat == nil {
		return
	}
	s.stopBeat()
	<-s.beatDone
	s.stopBeat = nil
}

// leave removes the store's row, so that the other nodes take up its
// share of the lanes at their next beat instead of a window later.
func (s *Store) leave() {
	if s.nodeID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultConnectTimeout)
	defer cancel()
	_, _ = s.pool.Exec(ctx, `DELETE FROM live_nodes WHERE id = $1`, s.nodeID)
}

// newNodeID names this store in live_nodes: the host and process, for
// the operator who reads the table, and a random part, since one process
// may open several stores.
func newNodeID() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Lanes opened by the load. One lane gathers all of a node's writes into
// the largest batches, whose set-based statements and WAL flush are
// shared by the most refunds: it costs the database about half the CPU
// per refund of four. But one lane runs its batches one after another on
// one backend, which caps a node's throughput on a server with cores to
// spare. So a node starts with one lane and opens another only while the
// lanes in use cannot keep up: when most batches of an interval were
// full and left writes waiting for the next. It closes one when the
// batches of an interval were small enough that one lane fewer would
// still fill them less than half: the gap between the two keeps the
// count from flapping, as do the decisions taken once an interval.
const laneEvery = time.Second

// laneLoad is what the batches of all lanes did in an interval.
type laneLoad struct {
	batches int // batches taken
	full    int // of them, full ones that left writes waiting
	writes  int // writes they held
}

// nextLanes is the lanes to use in the next interval, given the lanes in
// use, the node's share, the load of the last interval and the most
// writes a batch holds.
func nextLanes(cur, share int, load laneLoad, maxBatch int) int {
	share = max(share, 1)
	cur = min(max(cur, 1), share)
	switch {
	case load.full*2 > load.batches && cur < share:
		return cur + 1
	case cur > 1 && (load.batches == 0 || 2*load.writes*cur < (cur-1)*load.batches*maxBatch):
		return cur - 1
	}
	return cur
}

// tookBatch counts a batch taken by a lane for the interval's load.
func (s *Store) tookBatch(size, left int) {
	s.load.batches.Add(1)
	s.load.writes.Add(int64(size))
	if size >= s.maxBatch && left > 0 {
		s.load.full.Add(1)
	}
}

// adaptLanes sets the lanes in use from each interval's load until
// stopAdapt.
func (s *Store) adaptLanes(every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopAdapt = cancel
	s.adaptDone = make(chan struct{})
	go func() {
		defer close(s.adaptDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				load := laneLoad{
					batches: int(s.load.batches.Swap(0)),
					full:    int(s.load.full.Swap(0)),
					writes:  int(s.load.writes.Swap(0)),
				}
				s.grown.Store(int32(nextLanes(s.lanesInUse(), int(s.share.Load()), load, s.maxBatch)))
			}
		}
	}()
}

// stopAdapting ends adaptLanes.
func (s *Store) stopAdapting() {
	if s.stopAdapt == nil {
		return
	}
	s.stopAdapt()
	<-s.adaptDone
	s.stopAdapt = nil
}

// Lingering beside other nodes. With several nodes on the database each
// gathers only the writes it serves, so its batches are smaller than one
// node's would be, and each batch pays its statements, their planning
// and its WAL flush whatever its size: the database works more per
// refund the more nodes share it. A lane of a node that is not alone
// therefore lets a small batch wait a little for more writes, when the
// batch before it was small too: at most half of how long that batch
// took to run (lingerPart), so the wait stays in proportion to the wait
// for a commit the writes already pay, and never more than maxLinger.
// The wait ends as soon as the batch is full. A lone node never waits:
// its batches already gather every write of the load. Nor does a batch
// at least half full, or one after a batch that was: the load fills
// them without help.
const (
	lingerPart = 2 // the wait is at most the batch before's run / lingerPart
	maxLinger  = 5 * time.Millisecond
)

// lingerFor is how long a batch of size writes waits for more before it
// runs, on a node among nodes live ones whose batches hold at most
// maxBatch writes, after the batch prev.
func lingerFor(size, nodes, maxBatch int, prev group.Batch) time.Duration {
	if nodes <= 1 || 2*size >= maxBatch || 2*prev.Size >= maxBatch {
		return 0
	}
	return min(prev.Took/lingerPart, maxLinger)
}

// linger is lingerFor for the store's lanes.
func (s *Store) linger(size int, prev group.Batch) time.Duration {
	return lingerFor(size, int(s.liveNodes.Load()), s.maxBatch, prev)
}
