package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// clockedStore opens one backend with its clock set to now, on a database
// of the test's own: recovery reads every merchant's refunds.
type clockedStore struct {
	name string
	open func(t *testing.T, now func() time.Time) refundry.Store
}

var clockedStores = []clockedStore{
	{"sqlite", func(t *testing.T, now func() time.Time) refundry.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.Now = now
		return s
	}},
	{"postgres", func(t *testing.T, now func() time.Time) refundry.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.Now = now
		return s
	}},
}

// countingGateway is the simulator, counting the refund calls it gets.
type countingGateway struct {
	*simulator.Gateway
	mu    sync.Mutex
	calls map[string]int
}

func (g *countingGateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	g.mu.Lock()
	g.calls[r.RefundID]++
	g.mu.Unlock()
	return g.Gateway.Refund(ctx, r)
}

// total counts the calls about every refund but the one named.
func (g *countingGateway) total(except string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for id, c := range g.calls {
		if id != except {
			n += c
		}
	}
	return n
}

func (g *countingGateway) count(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[id]
}

// Invariant 6: refunds a gateway legitimately holds pending (a bank
// transfer refund takes days) never stop recovery from reaching a refund
// a crash left unasked. 2,000 of them, already asked and still pending,
// are ahead of it in age; one recovery pass of 500 settles it anyway, and
// once their backoff has passed, passes reach each of the 2,000 again,
// each once.
func TestRecoveryReachesUnaskedBehindLongPending(t *testing.T) {
	const longPending = 2000
	for _, cs := range clockedStores {
		t.Run(cs.name, func(t *testing.T) {
			ctx := context.Background()
			// One clock for the store and the engine, moved by the test, so
			// that how long the set-up takes on a busy machine changes
			// nothing.
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			now := func() time.Time { return time.Unix(0, clock.Load()) }
			advance := func(d time.Duration) { clock.Add(int64(d)) }
			store := cs.open(t, now)
			gw := &countingGateway{Gateway: simulator.New(), calls: map[string]int{}}
			eng := engine.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), gw)
			eng.Now = now
			m := storetest.NewMerchant()
			if _, err := eng.CreateMerchant(ctx, m); err != nil {
				t.Fatal(err)
			}
			// Eight sales, one per worker, so the refunds of one do not all
			// queue on one sale's row.
			const workers = 8
			var held [workers]*refundry.Sale
			for w := range held {
				held[w] = storetest.MustCreateSale(t, store, m.ID, storetest.Lines(longPending),
					storetest.PaymentReferences(fmt.Sprintf("sim_pending_manual-%d", w)))
			}
			var wg sync.WaitGroup
			errs := make(chan error, longPending)
			for w := range workers {
				wg.Go(func() {
					for i := w; i < longPending; i += workers {
						res, err := eng.Refund(ctx, storetest.SaleRefund(m.ID, held[w].ID, storetest.Amount(1)))
						if err == nil && len(res.Refunds) != 1 {
							// Reported, not an index panic that would end
							// the whole test binary.
							err = fmt.Errorf("a refund answered with %d refunds, want 1", len(res.Refunds))
						}
						if err != nil {
							errs <- err
							return
						}
						if res.Refunds[0].Status != refundry.RefundPending {
							t.Errorf("a sim_pending refund is %s", res.Refunds[0].Status)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			// The crash: a refund recorded, its gateway call never made.
			advance(time.Second)
			paid := storetest.MustCreateSale(t, store, m.ID, storetest.PaymentReferences("pay-after-crash"))
			crashed := storetest.MustRefund(t, store, storetest.SaleRefund(m.ID, paid.ID, storetest.Amount(700))).Refunds[0]

			n, err := eng.Recover(ctx, now(), 500)
			if err != nil {
				t.Fatal(err)
			}
			got, err := store.FindRefund(ctx, m.ID, crashed.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != refundry.RefundSucceeded || n != 1 {
				t.Fatalf("after one recovery pass the crash-interrupted refund is %s (%d settled), behind %d long-pending refunds",
					got.Status, n, longPending)
			}
			if c := gw.count(crashed.ID); c != 1 || gw.Moved(crashed.ID) != 700 {
				t.Fatalf("crash-interrupted refund asked %d times, moved %d", c, gw.Moved(crashed.ID))
			}

			// Past their backoff, passes of 500 reach every long-pending
			// refund once more, each once, and then stop.
			advance(refundry.RecoveryBackoff(0))
			passes := 0
			for gw.total(crashed.ID) < 2*longPending {
				if passes++; passes > longPending/500+1 {
					t.Fatalf("%d passes asked %d times about %d refunds", passes-1, gw.total(crashed.ID), longPending)
				}
				if _, err := eng.Recover(ctx, now(), 500); err != nil {
					t.Fatal(err)
				}
			}
			gw.mu.Lock()
			for id, c := range gw.calls {
				if id != crashed.ID && c != 2 {
					t.Errorf("long-pending refund %s asked %d times, want twice (its request, one recovery)", id, c)
				}
			}
			gw.mu.Unlock()
			t.Logf("%d long-pending refunds asked again in %d passes", longPending, passes)
		})
	}
}

// flakyStore is a store whose database is down while down is set: recovery's
// claims and pings fail.
type flakyStore struct {
	refundry.Store
	down  atomic.Bool
	pings atomic.Int64
}

func (s *flakyStore) ClaimRefunds(ctx context.Context, c refundry.RecoveryClaim) ([]*refundry.Refund, error) {
	if s.down.Load() {
		return nil, refundry.Errorf(refundry.EUNAVAILABLE, "The database is unavailable.")
	}
	return s.Store.ClaimRefunds(ctx, c)
}

func (s *flakyStore) Ping(ctx context.Context) error {
	s.pings.Add(1)
	if s.down.Load() {
		return refundry.Errorf(refundry.EUNAVAILABLE, "The database is unavailable.")
	}
	return s.Store.Ping(ctx)
}

// After an outage recovery resumes as soon as the database answers a
// probe, not after a backoff that grew while the outage lasted: with
// passes every 20 ms, three seconds down would have grown a doubling
// backoff past two seconds.
func TestRecoveryResumesWhenDatabaseAnswers(t *testing.T) {
	env := testenv.New(t)
	flaky := &flakyStore{Store: env.Store}
	flaky.down.Store(true)
	env.Engine.Stores = refundry.StoresOf(flaky)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.Engine.RunRecovery(ctx, 20*time.Millisecond, 0)
	}()
	t.Cleanup(func() { cancel(); <-done })

	time.Sleep(3 * time.Second)
	// Left pending by the outage: recorded, never sent to the gateway.
	sale := env.Sale(testenv.SaleSpec{PayRefs: []string{"pay-outage"}})
	r := storetest.MustRefund(t, env.Store, storetest.SaleRefund(env.A.ID, sale.ID, storetest.Amount(300))).Refunds[0]
	probes := flaky.pings.Load()
	back := time.Now()
	flaky.down.Store(false)

	deadline := back.Add(1500 * time.Millisecond)
	for {
		got, err := env.Store.FindRefund(context.Background(), env.A.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == refundry.RefundSucceeded {
			t.Logf("settled %v after the database came back; %d probes while it was down", time.Since(back).Round(time.Millisecond), probes)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund still %s %v after the database came back: recovery did not resume", got.Status, time.Since(back))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if probes < 10 {
		t.Errorf("only %d probes in 3 s down at a 20 ms interval", probes)
	}
}
