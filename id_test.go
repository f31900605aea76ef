package refundry_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/refundry/refundry"
)

func TestNewID(t *testing.T) {
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = refundry.NewID()
	}
	t.Run("OKShape", func(t *testing.T) {
		for _, id := range ids {
			if refundry.IDLength != 20 || len(id) != refundry.IDLength {
				t.Fatalf("id %q has %d characters, want 20", id, len(id))
			}
			if strings.Trim(id, "0123456789abcdefghijklmnopqrstuv") != "" {
				t.Fatalf("id %q has characters outside lower-case base32hex", id)
			}
			if !refundry.ValidID(id) {
				t.Fatalf("ValidID(%q) = false for a new id", id)
			}
		}
	})
	t.Run("OKAscending", func(t *testing.T) {
		for i := 1; i < n; i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("id %d %q does not sort after id %d %q", i, ids[i], i-1, ids[i-1])
			}
		}
	})
}

func TestNewID_Concurrent(t *testing.T) {
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	out := make([][]string, workers)
	for w := range out {
		wg.Go(func() {
			for range each {
				out[w] = append(out[w], refundry.NewID())
			}
		})
	}
	wg.Wait()
	var all []string
	for _, ids := range out {
		if !slices.IsSorted(ids) {
			t.Fatal("one goroutine's ids are not ascending")
		}
		all = append(all, ids...)
	}
	slices.Sort(all)
	if len(slices.Compact(all)) != workers*each {
		t.Fatal("NewID returned a duplicate")
	}
}

// TestNewID_CounterWrap makes more ids than xid's 3-byte counter holds, so
// that it wraps once, and checks that the ids still ascend. Before the fix in
// NewID, the id made just after the wrap sorted before the one made just
// before it.
func TestNewID_CounterWrap(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 2^24 ids")
	}
	prev := refundry.NewID()
	for i := range 1<<24 + 2 {
		id := refundry.NewID()
		if id <= prev {
			t.Fatalf("id %d %q does not sort after %q", i, id, prev)
		}
		prev = id
	}
}

func TestValidID(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, id := range []string{refundry.NewID(), "9m4e2mr0ui3e8a215n4g", "00000000000000000000"} {
			if !refundry.ValidID(id) {
				t.Fatalf("ValidID(%q) = false", id)
			}
		}
	})
	id := refundry.NewID()
	for _, tt := range []struct {
		name string
		in   string
	}{
		{"ErrEmpty", ""},
		{"ErrJunk", "not-an-id"},
		{"ErrTooShort", id[:19]},
		{"ErrTooLong", id + "0"},
		{"ErrUpperCase", strings.ToUpper(id)},
		{"ErrOutsideAlphabet", id[:19] + "w"},
		{"ErrNonCanonicalLastChar", id[:19] + "1"},
		{"ErrPathTraversal", "../../../../../etc/p"},
		{"ErrPathTraversalEncoded", "..%2f..%2f..%2fetc%2f"[:20]},
		{"ErrSlash", id[:10] + "/" + id[11:]},
		{"ErrSpace", id[:19] + " "},
		{"ErrNUL", id[:19] + "\x00"},
		{"ErrUnicode", id[:18] + "é"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if refundry.ValidID(tt.in) {
				t.Fatalf("ValidID(%q) = true", tt.in)
			}
		})
	}
}
