package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// Invariant 2 whatever the edge: partial refunds of one transaction arrive
// at once through Payop, RevCent, Jetti and the native API, and the
// transaction is never refunded past what was paid, on either store.
func TestMixedDialectsNeverOverRefund(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var store refundry.Store
			var err error
			if backend == "sqlite" {
				store, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mixed.db"))
			} else {
				store, err = postgres.Open(context.Background(), pgtest.NewDatabase(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			mixedDialects(t, store)
		})
	}
}

func mixedDialects(t *testing.T, store refundry.Store) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(store, logger, simulator.New())
	m := &refundry.Merchant{Slug: "mixed", Name: "Mixed", Currency: "USD"}
	key, err := eng.CreateMerchant(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	sale := &refundry.Sale{MerchantID: m.ID, Currency: "USD", Reference: "MIX-1",
		LineItems:    []*refundry.LineItem{{Name: "ticket", Quantity: 1, UnitAmount: 10000}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Reference: "mix-pay"}}}
	if _, err := eng.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(eng, logger, mustOps(t, store, eng)))
	t.Cleanup(srv.Close)
	li, txn := sale.LineItems[0], sale.Transactions[0]

	// Each way in, with an amount in minor units (the dialects take major).
	ways := []func(cents int64) (method, path, body string, auth [2]string){
		func(c int64) (string, string, string, [2]string) {
			return "POST", "/v1/refunds", fmt.Sprintf(`{"transaction": %q, "amount": %d}`, txn.ID, c), [2]string{"Authorization", "Bearer " + key}
		},
		func(c int64) (string, string, string, [2]string) {
			return "POST", "/v1/refunds/create", fmt.Sprintf(`{"transactionIdentifier": "mix-pay", "refundType": 2, "amount": %s}`, major(c)), [2]string{"Authorization", "Bearer " + key}
		},
		func(c int64) (string, string, string, [2]string) {
			return "POST", "/v2/product_sales/" + li.ID + "/refund", fmt.Sprintf(`{"amount": %s}`, major(c)), [2]string{"X-API-Key", key}
		},
		func(c int64) (string, string, string, [2]string) {
			return "PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", txn.Number), fmt.Sprintf(`{"refundAmount": %s}`, major(c)), [2]string{"Authorization", "Bearer " + key}
		},
	}
	var mu sync.Mutex
	var accepted int64
	answers := map[int]int{}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range 5 {
				way := rng.IntN(len(ways))
				cents := 1 + rng.Int64N(1200)
				method, path, body, auth := ways[way](cents)
				req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
				req.Header.Set(auth[0], auth[1])
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				mu.Lock()
				answers[res.StatusCode]++
				if res.StatusCode/100 == 2 {
					accepted += cents
				}
				mu.Unlock()
				if res.StatusCode/100 != 2 && res.StatusCode/100 != 4 {
					t.Errorf("%s %s answered %d: %s", method, path, res.StatusCode, raw)
				}
			}
		})
	}
	wg.Wait()
	got, err := store.FindSale(ctx, m.ID, refundry.SaleLookup{ID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	if refunded := got.Transactions[0].RefundedAmount; refunded != accepted || refunded > 10000 {
		t.Fatalf("transaction refunded %d; accepted refunds add up to %d; paid 10000 (answers %v)", refunded, accepted, answers)
	}
	if answers[200]+answers[201] == 0 {
		t.Fatalf("no refund accepted: %v", answers)
	}
	storetest.CheckInvariants(t, store, m.ID)
	t.Logf("answers by status: %v; refunded %d of 10000", answers, accepted)
}

// major writes cents as USD major units, exactly.
func major(cents int64) string { return refundry.FormatMajor(cents, refundry.MustCurrency("USD")) }
