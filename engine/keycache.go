package engine

import (
	"sync"
	"time"

	"github.com/refundry/refundry"
)

// keyFreshness is how long Authenticate trusts a key it read, and so the
// longest a revocation made by another process sharing the database
// takes to be refused here. A key is read again once it is older: one
// read of the key and its merchant per key and second, whatever the
// request rate.
const keyFreshness = time.Second

// keyCacheMax bounds the keys kept. Only keys whose secret was proved are
// kept, so this is the number of real keys in use at once; past it the
// cache starts again empty rather than grow.
const keyCacheMax = 4096

// keyCache keeps recently proved API keys and their merchants, so that
// authenticating a request costs no read of the database. A merchant
// never changes once made and a key only by its revocation, which this
// process learns at once from RevokeAPIKey (forget) and from any other
// process within keyFreshness.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]keyEntry
	// gen counts the revocations made through this engine. A read that
	// began before one may have seen the key unrevoked; put refuses to
	// keep what such a read found.
	gen uint64
}

type keyEntry struct {
	merchant *refundry.Merchant
	key      *refundry.APIKey
	read     time.Time // when the read that found it began
}

// get returns the key kept for id if it is fresh at now, else nils; gen
// is to be handed to put with what the caller then reads.
func (c *keyCache) get(id string, now time.Time) (*refundry.Merchant, *refundry.APIKey, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	// A clock that went back makes an entry stale too, never immortal.
	if age := now.Sub(e.read); !ok || age < 0 || age >= keyFreshness {
		return nil, nil, c.gen
	}
	return e.merchant, e.key, c.gen
}

// put keeps a key read by a read that began at read, unless a
// revocation was made through this engine since get returned gen.
func (c *keyCache) put(id string, m *refundry.Merchant, k *refundry.APIKey, read time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= keyCacheMax {
		c.entries = make(map[string]keyEntry)
	}
	c.entries[id] = keyEntry{merchant: m, key: k, read: read}
}

// forget drops a key this process has just revoked, so that its next
// request is refused, and makes reads already under way keep nothing.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}
