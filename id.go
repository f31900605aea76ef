package refundry

import "github.com/rs/xid"

// IDLength is the length of every object id: RevCent's wire format demands
// exactly 20 characters, and the same ids serve every dialect.
const IDLength = 20

// NewID returns a new 20-character, URL-safe id (lower-case base32hex).
// Ids sort by creation time to the second, and within one process strictly
// by creation, so cursor pagination can order by id alone.
func NewID() string { return xid.New().String() }

// ValidID reports whether s has the shape of an id made by NewID. Edges use
// it to refuse a malformed id before any look-up.
func ValidID(s string) bool {
	_, err := xid.FromString(s)
	return err == nil
}
