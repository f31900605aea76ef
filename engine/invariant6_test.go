package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// holdGateway is the simulator with one call held: once armed, the next
// refund call waits until the test releases it (or its deadline ends),
// and every other call goes through at once.
type holdGateway struct {
	*simulator.Gateway
	armed   atomic.Bool
	entered chan refundry.GatewayRefund // the held call has begun
	release chan struct{}
}

func newHoldGateway() *holdGateway {
	return &holdGateway{Gateway: simulator.New(), entered: make(chan refundry.GatewayRefund, 1), release: make(chan struct{})}
}

func (g *holdGateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	if g.armed.CompareAndSwap(true, false) {
		g.entered <- r
		select {
		case <-g.release:
		case <-ctx.Done():
			return refundry.GatewayResult{}, ctx.Err()
		}
	}
	return g.Gateway.Refund(ctx, r)
}

// invariant6Store is a store under test, and a look from outside it at
// whether any of its transactions is open (nil where the store's own
// single writer is the look).
type invariant6Store struct {
	name string
	open func(t *testing.T) (refundry.Store, func(t *testing.T) int)
}

var invariant6Stores = []invariant6Store{
	// SQLite has one writer: a write transaction held across a gateway
	// call would stop every other write of the process, so the second
	// refund below could not be made while the call hangs.
	{"sqlite", func(t *testing.T) (refundry.Store, func(*testing.T) int) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	}},
	// PostgreSQL: the second refund of the same sale updates the same sale
	// row, which a transaction held across the call would keep locked; and
	// such a transaction shows in pg_stat_activity as idle in transaction
	// while the gateway is being waited for.
	{"postgres", func(t *testing.T) (refundry.Store, func(*testing.T) int) {
		url := pgtest.NewDatabase(t)
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, func(t *testing.T) int {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}},
}

// Invariant 6: a gateway call never runs inside a database transaction.
// While one call for a sale hangs, another refund of the same sale (of
// another line item, or of everything that remains) is reserved, sent
// and settled; had the hanging call been made inside the transaction
// that reserved its refund (or the one that settles it, or recovery's),
// that transaction's locks would stop the second refund until the
// deadline and the test would fail. The held call is then answered and
// settles as usual, and invariant 2 holds at the end.
func TestInvariant6_GatewayCallOutsideTransaction(t *testing.T) {
	cases := []struct {
		name string
		// recovery makes the first refund's payment one the simulator
		// holds pending, and the held call recovery's, not the refund's.
		recovery bool
		// second refunds the other line item, or with lineItem false
		// what remains of the sale.
		lineItem bool
	}{
		{"refund/other line item", false, true},
		{"refund/remainder", false, false},
		{"recovery/other line item", true, true},
		{"recovery/remainder", true, false},
	}
	for _, st := range invariant6Stores {
		for _, c := range cases {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				ctx := context.Background()
				store, openTx := st.open(t)
				gw := newHoldGateway()
				eng := engine.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), gw)
				eng.GatewayTimeout = time.Minute // the test, not the timeout, ends the hang
				m := storetest.NewMerchant()
				if _, err := eng.CreateMerchant(ctx, m); err != nil {
					t.Fatal(err)
				}
				sale := storetest.NewSale(m.ID, storetest.Lines(1250, 500))
				if c.recovery {
					sale.Transactions[0].Reference = simulator.PrefixPending + "-" + sale.ID
				}
				if _, err := eng.CreateSale(ctx, sale, nil); err != nil {
					t.Fatal(err)
				}
				first := refundry.RefundRequest{MerchantID: m.ID, Target: refundry.RefundTarget{LineItemID: sale.LineItems[0].ID},
					Amount: storetest.Amount(1000), Source: refundry.SourceNative}
				second := refundry.RefundRequest{MerchantID: m.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Source: refundry.SourceNative}
				if c.lineItem {
					second.Target = refundry.RefundTarget{LineItemID: sale.LineItems[1].ID}
				}

				// Start the call that hangs: the first refund's own, or,
				// for a refund the gateway left pending, recovery's.
				type outcome struct {
					refund *refundry.Refund
					err    error
				}
				held := make(chan outcome, 1)
				finished := make(chan struct{})
				var firstID string
				if c.recovery {
					res, err := eng.Refund(ctx, first)
					if err != nil || len(res.Refunds) != 1 || res.Refunds[0].Status != refundry.RefundPending {
						t.Fatalf("first refund: %+v, %v; want it pending", res, err)
					}
					firstID = res.Refunds[0].ID
					gw.Settle(firstID, refundry.RefundSucceeded)
					gw.armed.Store(true)
					go func() {
						defer close(finished)
						_, err := eng.Recover(ctx, time.Now().Add(time.Hour), 10)
						r, _ := store.FindRefund(ctx, m.ID, firstID)
						held <- outcome{r, err}
					}()
				} else {
					gw.armed.Store(true)
					go func() {
						defer close(finished)
						res, err := eng.Refund(ctx, first)
						if err == nil && len(res.Refunds) != 1 {
							err = fmt.Errorf("%d refunds made, want 1", len(res.Refunds))
						}
						if err != nil {
							held <- outcome{nil, err}
							return
						}
						held <- outcome{res.Refunds[0], nil}
					}()
				}
				select {
				case r := <-gw.entered:
					if firstID == "" {
						firstID = r.RefundID
					}
				case o := <-held:
					t.Fatalf("the first call never reached the gateway: %+v", o)
				case <-time.After(20 * time.Second):
					t.Fatal("the first call did not reach the gateway in 20s")
				}
				// However this test ends, the held call is let go, so that
				// the store closes with nothing in flight.
				released := false
				let := func() {
					if !released {
						released = true
						close(gw.release)
					}
				}
				defer func() { let(); <-finished }()

				// The call hangs. Another refund of the same sale must
				// be made now, to the end, not after the hang. It runs
				// apart, so that a store that would wait for the hang
				// makes the test fail at the deadline, not hang with it.
				secondCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				type made struct {
					res *refundry.RefundResult
					err error
				}
				secondDone := make(chan made, 1)
				go func() {
					res, err := eng.Refund(secondCtx, second)
					secondDone <- made{res, err}
				}()
				var res *refundry.RefundResult
				select {
				case m := <-secondDone:
					if m.err != nil {
						t.Fatalf("a refund of the same sale while a gateway call hangs: %v", m.err)
					}
					res = m.res
				case <-time.After(25 * time.Second):
					t.Fatal("a refund of the same sale waited 25s for a gateway call that hangs")
				}
				if len(res.Refunds) != 1 || res.Refunds[0].Status == refundry.RefundFailed {
					t.Fatalf("second refund: %+v", res.Refunds)
				}
				select {
				case o := <-held:
					t.Fatalf("the held call ended before it was released: %+v", o)
				default:
				}
				if openTx != nil {
					if n := openTx(t); n != 0 {
						t.Fatalf("%d transactions stay open while the gateway call hangs", n)
					}
				}

				let()
				var o outcome
				select {
				case o = <-held:
				case <-time.After(20 * time.Second):
					t.Fatal("the released call did not settle in 20s")
				}
				if o.err != nil || o.refund == nil || o.refund.ID != firstID || o.refund.Status != refundry.RefundSucceeded {
					t.Fatalf("the held refund after its answer: %+v", o)
				}
				if got := gw.Moved(firstID); got != 1000 {
					t.Fatalf("the gateway moved %d for the held refund, want 1000", got)
				}
				got := storetest.MustFindSale(t, store, m.ID, sale.ID)
				if want := 1000 + res.Refunds[0].Amount; got.RefundedAmount != want {
					t.Fatalf("sale refunded %d, want %d", got.RefundedAmount, want)
				}
				storetest.CheckInvariants(t, store, m.ID)
			})
		}
	}
}
