package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// eventStore opens a store on a database of its own, with a merchant and
// an endpoint that wants every event.
func eventStore(t *testing.T) (dsn string, s *Store, merchantID string) {
	t.Helper()
	dsn = freshDatabase(t)
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := storetest.MustCreateMerchant(t, s)
	storetest.MustCreateEndpoint(t, s, m.ID, refundry.AllEvents)
	return dsn, s, m.ID
}

// insertEvent inserts an event as the store does, in tx.
func insertEvent(t *testing.T, tx pgx.Tx, merchantID string) string {
	t.Helper()
	ev, err := refundry.NewEvent(merchantID, refundry.EventSaleCreated, "sale", refundry.NewID(), map[string]string{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := insertEvents(context.Background(), tx, ev); err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

// deliveriesByEvent counts the deliveries of each event.
func deliveriesByEvent(t *testing.T, s *Store) map[string]int {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT event_id, COUNT(*) FROM deliveries GROUP BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var id string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// An event inserted by a transaction that took its id before another's,
// and committed after a pass had dispatched the other's event, is
// dispatched by the next pass: the case a cursor in the order of ids, or
// of a sequence, would skip.
func TestDispatchLateCommit(t *testing.T) {
	ctx := context.Background()
	dsn, s, merchantID := eventStore(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	early, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	lateEvent := insertEvent(t, early, merchantID)

	var first string
	if err := s.write(ctx, func(tx pgx.Tx) error { first = insertEvent(t, tx, merchantID); return nil }); err != nil {
		t.Fatal(err)
	}
	var earlyXid, firstXid uint64
	if err := s.pool.QueryRow(ctx, `SELECT xid::text::bigint FROM events WHERE id = $1`, first).Scan(&firstXid); err != nil {
		t.Fatal(err)
	}
	if err := early.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&earlyXid); err != nil {
		t.Fatal(err)
	}
	if earlyXid >= firstXid {
		t.Fatalf("the open transaction's id %d is not below the committed one's %d", earlyXid, firstXid)
	}

	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 1 {
		t.Fatalf("pass while a transaction is open dispatched %d (%v), want the 1 committed", n, err)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 1 {
		t.Fatalf("pass after the late commit dispatched %d (%v), want 1", n, err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 0 {
		t.Fatalf("third pass dispatched %d (%v), want 0", n, err)
	}
	got := deliveriesByEvent(t, s)
	if got[first] != 1 || got[lateEvent] != 1 || len(got) != 2 {
		t.Fatalf("deliveries by event = %v, want one each of %s and %s", got, first, lateEvent)
	}
}

// Two stores (two processes) dispatch, a few events a pass, while
// transactions of one and of many events commit: every event is
// dispatched by exactly one pass of one of them, which the sum of the
// counts they return shows, as the one delivery of each event does.
// Limits smaller than a transaction's events cut passes inside one
// transaction.
func TestDispatchTwoProcessesExactlyOnce(t *testing.T) {
	ctx := context.Background()
	dsn, a, merchantID := eventStore(t)
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	stop := make(chan struct{})
	var dispatched atomic.Int64
	var dispatchers sync.WaitGroup
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		dispatchers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := s.DispatchEvents(ctx, 3+i*2)
				if err != nil {
					errs <- err
					return
				}
				dispatched.Add(int64(n))
			}
		})
	}
	var writers sync.WaitGroup
	var written atomic.Int64
	for w := range 4 {
		writers.Go(func() {
			for i := range 12 {
				err := a.write(ctx, func(tx pgx.Tx) error {
					for range 1 + (w*12+i)%9 { // up to 9 events in one transaction
						insertEvent(t, tx, merchantID)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				written.Add(int64(1 + (w*12+i)%9))
			}
		})
	}
	writers.Wait()
	close(stop)
	dispatchers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for {
		n, err := b.DispatchEvents(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		dispatched.Add(int64(n))
	}
	if dispatched.Load() != written.Load() {
		t.Fatalf("passes dispatched %d events in all, want the %d written", dispatched.Load(), written.Load())
	}
	got := deliveriesByEvent(t, a)
	if int64(len(got)) != written.Load() {
		t.Fatalf("%d events have deliveries, want %d", len(got), written.Load())
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s has %d deliveries", id, n)
		}
	}
}

// A database restored into another cluster, one that has given out fewer
// transaction ids, holds a cursor and event ids from beyond them. On the
// next start, the event the old cluster had not dispatched is
// dispatched, the one it had is not, and so are the events this cluster
// inserts.
func TestDispatchAfterRestoreIntoAnotherCluster(t *testing.T) {
	ctx := context.Background()
	dsn, s, merchantID := eventStore(t)
	var dispatched, undispatched string
	err := s.write(ctx, func(tx pgx.Tx) error {
		dispatched, undispatched = insertEvent(t, tx, merchantID), insertEvent(t, tx, merchantID)
		// What the old cluster left: a cursor at ids far beyond this
		// cluster's, one event before it, one after.
		for _, q := range []string{
			`UPDATE event_cursor SET done = '900000000:900000010:900000005' WHERE id = 1`,
			`UPDATE events SET xid = '900000001' WHERE id = '` + dispatched + `'`,
			`UPDATE events SET xid = '900000005' WHERE id = '` + undispatched + `'`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var fresh string
	if err := s.write(ctx, func(tx pgx.Tx) error { fresh = insertEvent(t, tx, merchantID); return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 2 {
		t.Fatalf("first pass after the restore dispatched %d (%v), want 2", n, err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 0 {
		t.Fatalf("second pass dispatched %d (%v), want 0", n, err)
	}
	got := deliveriesByEvent(t, s)
	if got[undispatched] != 1 || got[fresh] != 1 || got[dispatched] != 0 {
		t.Fatalf("deliveries by event = %v, want one each of %s and %s, none of %s", got, undispatched, fresh, dispatched)
	}
}
