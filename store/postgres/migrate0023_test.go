package postgres

import (
	"context"
	"testing"
	"time"
)

// A database made before 0023 gets live_nodes, UNLOGGED, and a store
// opened on it announces itself there at once; Close takes its row away.
// A row left by a node that stopped without closing is forgotten by the
// next beat once it is older than the window, and never counted.
func TestMigrate0023LiveNodes(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 23)
	defer conn.Close(ctx)

	s, err := Open(ctx, dsn, withNodeBeat(testBeat, testWindow))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var persistence string
	if err := conn.QueryRow(ctx, `SELECT relpersistence FROM pg_class WHERE relname = 'live_nodes'`).Scan(&persistence); err != nil {
		t.Fatal(err)
	}
	if persistence != "u" {
		t.Errorf("live_nodes relpersistence %q, want u (UNLOGGED)", persistence)
	}
	var id string
	if err := conn.QueryRow(ctx, `SELECT id FROM live_nodes`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != s.nodeID {
		t.Errorf("live_nodes holds %q, want the store's %q", id, s.nodeID)
	}

	// A node gone a minute ago, and one that beat just now.
	if _, err := conn.Exec(ctx, `INSERT INTO live_nodes VALUES ('gone', now() - interval '1 minute'), ('other', now())`); err != nil {
		t.Fatal(err)
	}
	waitLanes(t, LaneStat{Lanes: 1, Share: 2, LiveNodes: 2}, s)
	var gone bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM live_nodes WHERE id = 'gone')`).Scan(&gone); err != nil {
		t.Fatal(err)
	}
	if gone {
		t.Errorf("the row of a node silent for a minute is still there")
	}
	// "other" never beats again: the window forgets it.
	time.Sleep(testWindow)
	waitLanes(t, LaneStat{Lanes: 1, Share: 4, LiveNodes: 1}, s)

	s.Close()
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM live_nodes WHERE id = $1`, id).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("the store's row outlived Close")
	}
}
