package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry/store/storetest"
)

// A database made before 0018 (which changes nothing on PostgreSQL)
// dispatches, in one pass, exactly the events not yet dispatched, marks
// them, and makes no delivery twice.
func TestMigrate0018Dispatch(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 18)
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
	conn.Close(ctx)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 2 {
		t.Fatalf("first pass after 0018 dispatched %d (%v), want the 2 undispatched", n, err)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 0 {
		t.Fatalf("second pass dispatched %d (%v), want 0", n, err)
	}
	var deliveries, undispatched int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM deliveries), (SELECT COUNT(*) FROM events WHERE NOT dispatched)`).
		Scan(&deliveries, &undispatched); err != nil {
		t.Fatal(err)
	}
	if deliveries != 3 || undispatched != 0 {
		t.Fatalf("after dispatching: %d deliveries, %d events undispatched; want 3, 0", deliveries, undispatched)
	}
}

// TestDispatchConcurrently: two stores on one database stand for two
// processes, each dispatching while both write.
func TestDispatchConcurrently(t *testing.T) {
	dsn := freshDatabase(t)
	a, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	storetest.DispatchConcurrently(t, a, b)
}
