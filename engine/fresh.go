package engine

import (
	"sync"
	"time"
)

// freshness is how long the engine trusts what it read of a key or of a
// merchant's settings, and so the longest a change made by another
// process sharing the database takes to be seen here. What is older is
// read again: one read per key or merchant and second, whatever the
// request rate.
const freshness = time.Second

// freshMax bounds the entries one cache keeps. Only what exists is kept
// (real keys, merchants in use), so this is what is in use at once;
// past it the cache starts again empty rather than grow.
const freshMax = 4096

// freshCache keeps what the engine read for up to freshness: the API
// keys Authenticate proved, and the settings a refund is checked
// against. A change made through this engine forgets the entry at once;
// one made by another process is seen within freshness.
type freshCache[V any] struct {
	mu      sync.Mutex
	entries map[string]freshEntry[V]
	// reading holds the read of each id under way: the requests that
	// find an entry stale at once (every client of a busy merchant,
	// each second) wait for one read instead of each making its own.
	reading map[string]*freshRead[V]
	// gen counts the changes made through this engine. A read that began
	// before one may have seen the old value; load neither keeps nor
	// shares what such a read found.
	gen uint64
}

type freshEntry[V any] struct {
	v    V
	read time.Time // when the read that found it began
}

// freshRead is one read under way; done is closed when its fields are
// set.
type freshRead[V any] struct {
	done chan struct{}
	v    V
	err  error
	gen  uint64 // the changes counted when the read began
}

// load returns what is kept for id if it is fresh at now, else reads it
// with read, or waits for the read of it another request began. read
// says whether its answer may be kept (a key that does not exist is
// not). A read that began before a change made through this engine is
// neither kept nor handed to a request that came after the change.
func (c *freshCache[V]) load(id string, now time.Time, read func() (V, bool, error)) (V, error) {
	c.mu.Lock()
	if e, ok := c.entries[id]; ok {
		// A clock that went back makes an entry stale too, never immortal.
		if age := now.Sub(e.read); age >= 0 && age < freshness {
			c.mu.Unlock()
			return e.v, nil
		}
	}
	if r, ok := c.reading[id]; ok && r.gen == c.gen {
		c.mu.Unlock()
		<-r.done
		c.mu.Lock()
		current := r.gen == c.gen
		c.mu.Unlock()
		if current && r.err == nil {
			return r.v, nil
		}
		// Changed meanwhile, or the read failed (perhaps only its own
		// request was canceled): this request reads for itself.
		v, _, err := read()
		return v, err
	}
	r := &freshRead[V]{done: make(chan struct{}), gen: c.gen}
	if c.reading == nil {
		c.reading = make(map[string]*freshRead[V])
	}
	c.reading[id] = r
	c.mu.Unlock()

	var keep bool
	r.v, keep, r.err = read()
	c.mu.Lock()
	if c.reading[id] == r {
		delete(c.reading, id)
	}
	if r.err == nil && keep && r.gen == c.gen {
		if c.entries == nil || len(c.entries) >= freshMax {
			c.entries = make(map[string]freshEntry[V])
		}
		c.entries[id] = freshEntry[V]{v: r.v, read: now}
	}
	c.mu.Unlock()
	close(r.done)
	return r.v, r.err
}

// forget drops what is kept for id after this process changed it, so
// that the next request reads the change, and makes reads already under
// way keep nothing.
func (c *freshCache[V]) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}
