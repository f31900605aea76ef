package sqlite

import (
	"context"
	"testing"
)

// A database made before 0018 keeps every event and its deliveries
// through the rebuild of events; the cursor starts past the events
// already dispatched, so the next pass dispatches exactly the others,
// in the order they would have been, and none twice.
func TestMigrate0018EventCursor(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0018")
	event := `INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created, dispatched)
		VALUES (?, 'm1', 'refund.created', 'refund', ?, '{}', ?, ?)`
	for _, q := range []struct {
		text string
		args []any
	}{
		{`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`, nil},
		{`INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, secret, status, disabled_reason, failure_streak,
			failing_since, created, updated) VALUES ('w1', 'm1', 'https://example.com/hook', '["*"]', 'whsec_x', 'enabled', '', 0, 0, 0, 0)`, nil},
		// Inserted out of their time order, and with a dispatched event
		// after an undispatched one, as a crash between passes can leave.
		{event, []any{"e3", "r3", 30, 0}},
		{event, []any{"e1", "r1", 10, 1}},
		{event, []any{"e2", "r2", 20, 0}},
		{event, []any{"e0", "r0", 5, 1}},
		{`INSERT INTO deliveries (id, merchant_id, endpoint_id, event_id, event_type, event_created, object_id, status,
			attempts, next_attempt, locked_until, delivered_at, created)
			VALUES ('d1', 'm1', 'w1', 'e1', 'refund.created', 10, 'r1', 'delivered', 1, 0, 0, 11, 10)`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.text, q.args...); err != nil {
			t.Fatalf("%s: %v", q.text, err)
		}
	}
	db.Close()

	s := mustOpenInternal(t, path)
	var events, deliveries, cursor int
	if err := s.write.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM deliveries WHERE event_id = 'e1'),
		(SELECT seq FROM event_cursor)`).Scan(&events, &deliveries, &cursor); err != nil {
		t.Fatal(err)
	}
	if events != 4 || deliveries != 1 || cursor != 2 {
		t.Fatalf("after 0018: %d events, %d deliveries of e1, cursor %d; want 4, 1, 2", events, deliveries, cursor)
	}
	n, err := s.DispatchEvents(ctx, 10)
	if err != nil || n != 2 {
		t.Fatalf("first pass after 0018 dispatched %d (%v), want the 2 undispatched", n, err)
	}
	rows, err := s.write.QueryContext(ctx, `SELECT event_id FROM deliveries WHERE id <> 'd1' ORDER BY event_created`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	rows.Close()
	if len(got) != 2 || got[0] != "e2" || got[1] != "e3" {
		t.Fatalf("deliveries made after 0018 for %v, want [e2 e3]", got)
	}
	if n, err := s.DispatchEvents(ctx, 10); err != nil || n != 0 {
		t.Fatalf("second pass dispatched %d (%v), want 0", n, err)
	}
	// Deliveries still refer to events, enforced.
	if _, err := s.write.ExecContext(ctx, `INSERT INTO deliveries (id, merchant_id, endpoint_id, event_id, event_type, event_created,
		object_id, status, attempts, next_attempt, locked_until, delivered_at, created)
		VALUES ('d9', 'm1', 'w1', 'nope', 'refund.created', 0, 'r9', 'pending', 0, 0, 0, 0, 0)`); err == nil {
		t.Fatal("a delivery of a missing event was stored")
	}
}
