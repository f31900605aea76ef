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

// keyCacheMax bounds the keys kept. Only keys that exist are kept, so
// this is the number of real keys in use at once; past it the cache
// starts again empty rather than grow.
const keyCacheMax = 4096

// keyCache keeps recently proved API keys and their merchants, so that
// authenticating a request costs no read of the database. A merchant
// never changes once made and a key only by its revocation, which this
// process learns at once from RevokeAPIKey (forget) and from any other
// process within keyFreshness.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]keyEntry
	// reading holds the read of each key under way: the requests that
	// find a key stale at once (every client of a busy key, each second)
	// wait for one read instead of each making its own.
	reading map[string]*keyRead
	// gen counts the revocations made through this engine. A read that
	// began before one may have seen the key unrevoked; load neither
	// keeps nor shares what such a read found.
	gen uint64
}

type keyEntry struct {
	merchant *refundry.Merchant
	key      *refundry.APIKey
	read     time.Time // when the read that found it began
}

// keyRead is one read of a key under way; done is closed when its
// fields are set.
type keyRead struct {
	done     chan struct{}
	merchant *refundry.Merchant
	key      *refundry.APIKey
	err      error
	gen      uint64 // the revocations counted when the read began
}

// load returns the key kept for id if it is fresh at now, else reads it
// with read, or waits for the read of it another request began. A read
// that began before a revocation made through this engine is neither
// kept nor handed to a request that came after the revocation.
func (c *keyCache) load(id string, now time.Time, read func() (*refundry.Merchant, *refundry.APIKey, error)) (*refundry.Merchant, *refundry.APIKey, error) {
	c.mu.Lock()
	if e, ok := c.entries[id]; ok {
		// A clock that went back makes an entry stale too, never immortal.
		if age := now.Sub(e.read); age >= 0 && age < keyFreshness {
			c.mu.Unlock()
			return e.merchant, e.key, nil
		}
	}
	if r, ok := c.reading[id]; ok && r.gen == c.gen {
		c.mu.Unlock()
		<-r.done
		c.mu.Lock()
		current := r.gen == c.gen
		c.mu.Unlock()
		if current && r.err == nil {
			return r.merchant, r.key, nil
		}
		// Revoked meanwhile, or the read failed (perhaps only its own
		// request was canceled): this request reads for itself.
		return read()
	}
	r := &keyRead{done: make(chan struct{}), gen: c.gen}
	if c.reading == nil {
		c.reading = make(map[string]*keyRead)
	}
	c.reading[id] = r
	c.mu.Unlock()

	r.merchant, r.key, r.err = read()
	c.mu.Lock()
	if c.reading[id] == r {
		delete(c.reading, id)
	}
	if r.err == nil && r.key != nil && r.gen == c.gen {
		if c.entries == nil || len(c.entries) >= keyCacheMax {
			c.entries = make(map[string]keyEntry)
		}
		c.entries[id] = keyEntry{merchant: r.merchant, key: r.key, read: now}
	}
	c.mu.Unlock()
	close(r.done)
	return r.merchant, r.key, r.err
}

// forget drops a key this process has just revoked, so that its next
// request is refused, and makes reads already under way keep nothing.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}
