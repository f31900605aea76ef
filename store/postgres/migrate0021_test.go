package postgres

import (
	"context"
	"testing"
	"time"
)

// A database made before 0021: the events not yet dispatched then are
// dispatched once by the first pass, those already dispatched never
// again; so is the event of a transaction that was open while 0021 ran
// and inserted it afterwards, as a process on the older binary would in
// a rolling upgrade. That process then finds nothing to dispatch: events
// are inserted dispatched, and none is updated.
func TestMigrate0021Dispatch(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 21)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	event := `INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created, dispatched)
		VALUES ($1, 'm1', 'refund.created', 'refund', $1, '{}', $2, $3)`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', $1)`, []any{at}},
		{`INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status, disabled_reason, failure_streak,
			failing_since, created, updated) VALUES ('w1', 'm1', 'https://example.com/hook', '["*"]', 'whsec_x', 'enabled', '', 0, $1, $1, $1)`,
			[]any{at}},
		{event, []any{"e1", at.Add(time.Second), true}},
		{event, []any{"e2", at.Add(2 * time.Second), false}},
		{event, []any{"e3", at.Add(3 * time.Second), false}},
		{`INSERT INTO deliveries (id, merchant_id, endpoint_id, event_id, event_type, event_created, object_id, status,
			attempts, next_attempt, locked_until, delivered_at, created)
			VALUES ('d1', 'm1', 'w1', 'e1', 'refund.created', $1, 'e1', 'delivered', 1, $1, $1, $1, $1)`, []any{at}},
	} {
		if _, err := conn.Exec(ctx, q.text, q.args...); err != nil {
			t.Fatalf("%s: %v", q.text, err)
		}
	}
	// A transaction of the older binary, open across the migration: it
	// has its id, from another write, before 0021 runs, and inserts its
	// event after.
	old, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback(ctx)
	if _, err := old.Exec(ctx, `INSERT INTO merchants VALUES ('m2', 'older', 'Older', 'USD', $1)`, at); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := old.Exec(ctx, `INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created)
		VALUES ('e4', 'm1', 'refund.created', 'refund', 'e4', '{}', $1)`, at.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 2 {
		t.Fatalf("first pass after 0021 dispatched %d (%v), want the 2 undispatched", n, err)
	}
	if err := old.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 1 {
		t.Fatalf("pass after the open transaction committed dispatched %d (%v), want its event", n, err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 0 {
		t.Fatalf("third pass dispatched %d (%v), want 0", n, err)
	}
	got := deliveriesByEvent(t, s)
	for _, id := range []string{"e1", "e2", "e3", "e4"} {
		if got[id] != 1 {
			t.Errorf("event %s has %d deliveries, want 1", id, got[id])
		}
	}

	// What the older binary's pass reads.
	var undispatched int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE NOT dispatched`).Scan(&undispatched); err != nil {
		t.Fatal(err)
	}
	if undispatched != 0 {
		t.Fatalf("%d events undispatched for an older binary, want 0", undispatched)
	}
}
