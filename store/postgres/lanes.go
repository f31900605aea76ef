package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"
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

// LaneStat is what group commit runs on: the lanes in use and the nodes
// they were sized by.
type LaneStat struct {
	// Lanes is the group-commit lanes in use, 0 with group commit off.
	Lanes int
	// LiveNodes is the stores on the database, this one included, that
	// beat within the window at this store's last beat; 1 while none was
	// counted yet, or with group commit off.
	LiveNodes int
}

// LaneStat returns the lanes in use and the live nodes, for metrics.
func (s *Store) LaneStat() LaneStat {
	return LaneStat{Lanes: int(s.active.Load()), LiveNodes: int(s.liveNodes.Load())}
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
// until its row is a window old.
func (s *Store) beatOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.beat)
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
	s.active.Store(int32(s.activeLanes(n)))
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
