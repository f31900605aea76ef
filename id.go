package refundry

import (
	"sync"

	"github.com/rs/xid"
)

// IDLength is the length of every object id: RevCent's wire format demands
// exactly 20 characters, and the same ids serve every dialect.
const IDLength = 20

var (
	idMu   sync.Mutex
	lastID xid.ID
)

// NewID returns a new 20-character, URL-safe id (lower-case base32hex).
// Ids sort by creation time to the second, and within one process strictly
// by creation, so cursor pagination can order by id alone.
func NewID() string {
	id := xid.New()
	idMu.Lock()
	defer idMu.Unlock()
	id = nextID(lastID, id)
	lastID = id
	return id.String()
}

// nextID returns fresh, or the successor of last when fresh does not sort
// after it. xid's 3-byte counter wraps every 2^24 ids (from a random start)
// and the wall clock can step back; either would give a newer id a smaller
// value. The successor adds one to last's counter, carrying into its
// timestamp; the machine and process bytes stay this process's own, so ids
// stay unique across processes.
func nextID(last, fresh xid.ID) xid.ID {
	if fresh.Compare(last) > 0 {
		return fresh
	}
	id := last
	for _, i := range [...]int{11, 10, 9, 3, 2, 1, 0} {
		id[i]++
		if id[i] != 0 {
			break
		}
	}
	return id
}

// ValidID reports whether s has the shape of an id made by NewID. Edges use
// it to refuse a malformed id before any look-up.
func ValidID(s string) bool {
	_, err := xid.FromString(s)
	return err == nil
}
