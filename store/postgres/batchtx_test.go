package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestLaneKeepsConnection: a lane's batches run on one backend while
// they follow each other, however the pool's other connections are taken
// and returned between them, and the lane gives its connection back once
// idle, so that Close does not wait for it.
func TestLaneKeepsConnection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(t *testing.T, s *Store) // what the pool does between two batches
	}{
		{"PoolIdle", func(*testing.T, *Store) {}},
		{"PoolBusy", func(t *testing.T, s *Store) {
			// Take three connections at once and return them, the last
			// returned being another than the lane's: a lane taking from
			// the pool would be handed that one next.
			ctx := context.Background()
			var conns []*pgxpool.Conn
			for range 3 {
				c, err := s.pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				c.Release()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
			pids := map[uint32]bool{}
			for range 5 {
				tc.between(t, s)
				// Two closures, so that they go through a batch, not the
				// plain path of a lone write.
				s.batch.Gather(2)
				var wg sync.WaitGroup
				var mu sync.Mutex
				for range 2 {
					wg.Go(func() {
						err := s.grouped(context.Background(), func(tx pgx.Tx) error {
							var pid uint32
							if err := tx.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
								return err
							}
							mu.Lock()
							pids[pid] = true
							mu.Unlock()
							return nil
						})
						if err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			if len(pids) != 1 {
				t.Errorf("5 batches one after another ran on %d backends, want 1", len(pids))
			}
			// The pool counts the lane's connection as acquired until the
			// lane has been idle for laneIdle.
			deadline := time.Now().Add(10 * laneIdle)
			for s.pool.Stat().AcquiredConns() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the idle lane still holds its connection")
				}
				time.Sleep(laneIdle / 10)
			}
		})
	}
}

// TestLaneDropsConnectionAfterFailure: a batch that fails gives its
// connection back to the pool at once rather than keep it for the next
// batch, so that a connection in a state the pool would mend (broken, or
// to a server that turned standby) is not used again by the lane.
func TestLaneDropsConnectionAfterFailure(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
	s.batch.Gather(2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, stmt := range []string{`SELECT 1`, `INSERT INTO no_such_table VALUES (1)`} {
		wg.Go(func() {
			errs[i] = s.grouped(context.Background(), func(tx pgx.Tx) error {
				_, err := tx.Exec(context.Background(), stmt)
				return err
			})
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("batch of a good and a broken write: %v, %v; want nil and an error", errs[0], errs[1])
	}
	if n := s.pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("after a failed batch %d connections are out of the pool, want 0", n)
	}
}
