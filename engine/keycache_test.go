package engine_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

// keyReads is a merchant store that counts the reads Authenticate makes,
// and can hold a key read after it is done until the test lets it go.
type keyReads struct {
	refundry.MerchantStore
	reads atomic.Int64
	mu    sync.Mutex
	hold  chan struct{} // non-nil: FindAPIKey waits on it after reading
	read  chan struct{} // told when a held read is done
}

func (k *keyReads) FindAPIKey(ctx context.Context, id string) (*refundry.APIKey, error) {
	k.reads.Add(1)
	key, err := k.MerchantStore.FindAPIKey(ctx, id)
	k.mu.Lock()
	hold, read := k.hold, k.read
	k.hold = nil
	k.mu.Unlock()
	if hold != nil {
		read <- struct{}{}
		<-hold
	}
	return key, err
}

func (k *keyReads) FindMerchant(ctx context.Context, id string) (*refundry.Merchant, error) {
	k.reads.Add(1)
	return k.MerchantStore.FindMerchant(ctx, id)
}

// clock is a time the test moves, shared by engines standing for
// processes on one machine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// openTwice opens the same database as two stores, as two serve processes
// would: one SQLite file, or one PostgreSQL database.
var openTwice = []struct {
	name string
	open func(t *testing.T) (refundry.Store, refundry.Store)
}{
	{"sqlite", func(t *testing.T) (refundry.Store, refundry.Store) {
		path := filepath.Join(t.TempDir(), "keys.db")
		return mustStore(t, func() (refundry.Store, error) { return sqlite.Open(context.Background(), path) }),
			mustStore(t, func() (refundry.Store, error) { return sqlite.Open(context.Background(), path) })
	}},
	{"postgres", func(t *testing.T) (refundry.Store, refundry.Store) {
		url := pgtest.NewDatabase(t)
		return mustStore(t, func() (refundry.Store, error) { return postgres.Open(context.Background(), url) }),
			mustStore(t, func() (refundry.Store, error) { return postgres.Open(context.Background(), url) })
	}},
}

func mustStore(t *testing.T, open func() (refundry.Store, error)) refundry.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func countingEngine(s refundry.Store, c *clock) (*engine.Engine, *keyReads) {
	reads := &keyReads{MerchantStore: s}
	stores := refundry.StoresOf(s)
	stores.Merchants = reads
	e := engine.NewStores(stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.Now = c.Now
	return e, reads
}

// Authentication reads a key and its merchant once per second per
// process, not on every request; a revocation is refused at once by the
// process that made it and within 1 s by another process on the same
// database (two engines, two stores, one SQLite file or one PostgreSQL
// database, one clock the test moves).
func TestAuthenticateKeyCache(t *testing.T) {
	for _, st := range openTwice {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := st.open(t)
			c := &clock{now: time.Now()}
			a, readsA := countingEngine(sa, c)
			b, readsB := countingEngine(sb, c)
			text, err := a.CreateMerchant(ctx, &refundry.Merchant{Slug: "cached", Name: "Cached"})
			if err != nil {
				t.Fatal(err)
			}
			ok := func(e *engine.Engine, who string) {
				t.Helper()
				if _, _, err := e.Authenticate(ctx, text); err != nil {
					t.Fatalf("%s: Authenticate: %v", who, err)
				}
			}
			refused := func(e *engine.Engine, who, text, want string) {
				t.Helper()
				_, _, err := e.Authenticate(ctx, text)
				if refundry.ErrorCode(err) != refundry.EUNAUTHORIZED || !strings.Contains(refundry.ErrorMessage(err), want) {
					t.Fatalf("%s: Authenticate = %v, want EUNAUTHORIZED saying %q", who, err, want)
				}
			}
			for range 50 {
				ok(a, "A")
				ok(b, "B")
			}
			if ra, rb := readsA.reads.Load(), readsB.reads.Load(); ra != 2 || rb != 2 {
				t.Fatalf("50 requests read the database %d times in A, %d in B; want 2 each (key, merchant)", ra, rb)
			}
			// The secret is checked on every request, cached or not.
			wrong := text[:len(text)-1] + "A"
			if strings.HasSuffix(text, "A") {
				wrong = text[:len(text)-1] + "B"
			}
			refused(b, "B, wrong secret", wrong, refundry.MsgUnknownAPIKey)

			c.add(keyFreshnessForTest)
			ok(b, "B after a second")
			if rb := readsB.reads.Load(); rb != 4 {
				t.Fatalf("B read %d times after a second, want 4: a kept key is read again when it is a second old", rb)
			}

			id, _, _ := refundry.ParseAPIKey(text)
			if _, err := a.RevokeAPIKey(ctx, mustMerchant(t, a, text).ID, id); err != nil {
				t.Fatal(err)
			}
			refused(a, "A, which revoked it", text, "revoked")
			c.add(keyFreshnessForTest - time.Nanosecond)
			ok(b, "B within the second (may still hold it)") // kept from the read above
			c.add(time.Nanosecond)
			refused(b, "B a second later", text, "revoked")
			refused(b, "B, wrong secret on a revoked key", wrong, refundry.MsgUnknownAPIKey)
		})
	}
}

// keyFreshnessForTest is engine's keyFreshness: the bound the operations
// guide promises.
const keyFreshnessForTest = time.Second

func mustMerchant(t *testing.T, e *engine.Engine, text string) *refundry.Merchant {
	t.Helper()
	m, _, err := e.Authenticate(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A read of a key that began before this process revoked it, and ended
// after, is used for its own request (it began first) but not kept: the
// next request is refused at once.
func TestAuthenticateRevokedDuringRead(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, func() (refundry.Store, error) {
		return sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "race.db"))
	})
	c := &clock{now: time.Now()}
	e, reads := countingEngine(s, c)
	text, err := e.CreateMerchant(ctx, &refundry.Merchant{Slug: "race", Name: "Race"})
	if err != nil {
		t.Fatal(err)
	}
	m := mustMerchant(t, e, text)
	c.add(keyFreshnessForTest) // what mustMerchant kept is stale

	hold, read := make(chan struct{}), make(chan struct{})
	reads.mu.Lock()
	reads.hold, reads.read = hold, read
	reads.mu.Unlock()
	done := make(chan error)
	go func() {
		_, _, err := e.Authenticate(ctx, text)
		done <- err
	}()
	<-read // the key is read, unrevoked
	id, _, _ := refundry.ParseAPIKey(text)
	if _, err := e.RevokeAPIKey(ctx, m.ID, id); err != nil {
		t.Fatal(err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatalf("the request whose read began before the revocation: %v", err)
	}
	if _, _, err := e.Authenticate(ctx, text); err == nil || !strings.Contains(refundry.ErrorMessage(err), "revoked") {
		t.Fatalf("the next request: %v, want refused as revoked", err)
	}
}

// The requests that find a key stale together wait for one read of it,
// instead of each reading it: a busy key costs one read a second, not
// one per client.
func TestAuthenticateOneReadForMany(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, func() (refundry.Store, error) {
		return sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "herd.db"))
	})
	c := &clock{now: time.Now()}
	e, reads := countingEngine(s, c)
	text, err := e.CreateMerchant(ctx, &refundry.Merchant{Slug: "herd", Name: "Herd"})
	if err != nil {
		t.Fatal(err)
	}
	hold, read := make(chan struct{}), make(chan struct{})
	reads.mu.Lock()
	reads.hold, reads.read = hold, read
	reads.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 21)
	auth := func() {
		_, _, err := e.Authenticate(ctx, text)
		errs <- err
	}
	wg.Go(auth)
	<-read // the first request's read is under way
	for range 20 {
		wg.Go(auth)
	}
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.reads.Load(); n != 2 {
		t.Fatalf("21 requests at once read the database %d times; want 2 (the key and its merchant, once)", n)
	}
}
