// Package testenv builds a live Refundry for tests: a real SQLite file, the
// engine with the simulator gateway, and two merchants, so that every edge
// is tested against the same real parts.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/store/sqlite"
)

// Env is one live engine with merchants A and B.
type Env struct {
	T      testing.TB
	Store  refundry.Store
	Engine *engine.Engine
	Sim    *simulator.Gateway
	Logger *slog.Logger
	A, B   *refundry.Merchant
	KeyA   string // API key text of A
	KeyB   string // API key text of B
}

// New opens a fresh SQLite store in a temporary directory and makes the
// merchants "store-a" and "store-b" (USD).
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "refundry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := simulator.New()
	e := &Env{T: t, Store: store, Engine: engine.New(store, logger, sim), Sim: sim, Logger: logger}
	e.A = &refundry.Merchant{Slug: "store-a", Name: "Store A", Currency: "USD"}
	e.B = &refundry.Merchant{Slug: "store-b", Name: "Store B", Currency: "USD"}
	if e.KeyA, err = e.Engine.CreateMerchant(ctx, e.A); err != nil {
		t.Fatal(err)
	}
	if e.KeyB, err = e.Engine.CreateMerchant(ctx, e.B); err != nil {
		t.Fatal(err)
	}
	return e
}

// SaleSpec describes a sale to create; zero fields take defaults.
type SaleSpec struct {
	Merchant  *refundry.Merchant // default A
	Reference string
	Currency  string  // default the merchant's
	Units     []int64 // unit amounts of one-quantity line items; default {1250, 500}
	PayRefs   []string
	// PayAmounts split the sale over several payments (one per PayRefs
	// entry); absent, one payment pays it all.
	PayAmounts []int64
	Gateway    string // default simulator
	Email      string
	FirstName  string
	LastName   string
	Campaign   [2]string // id, name
}

// Sale creates a sale through the engine and returns it as stored.
func (e *Env) Sale(spec SaleSpec) *refundry.Sale {
	e.T.Helper()
	m := spec.Merchant
	if m == nil {
		m = e.A
	}
	s := &refundry.Sale{MerchantID: m.ID, Reference: spec.Reference, Currency: spec.Currency,
		Customer: refundry.Customer{Email: spec.Email, FirstName: spec.FirstName, LastName: spec.LastName}, CampaignID: spec.Campaign[0], CampaignName: spec.Campaign[1]}
	if s.Currency == "" {
		s.Currency = m.Currency
	}
	units := spec.Units
	if len(units) == 0 {
		units = []int64{1250, 500}
	}
	for i, u := range units {
		s.LineItems = append(s.LineItems, &refundry.LineItem{Name: fmt.Sprintf("item %d", i+1), Quantity: 1, UnitAmount: u})
	}
	refs := spec.PayRefs
	if len(refs) == 0 {
		refs = []string{""}
	}
	for i, ref := range refs {
		t := &refundry.Transaction{Gateway: spec.Gateway, Reference: ref}
		if i < len(spec.PayAmounts) {
			t.Amount = spec.PayAmounts[i]
		}
		s.Transactions = append(s.Transactions, t)
	}
	if _, err := e.Engine.CreateSale(context.Background(), s, nil); err != nil {
		e.T.Fatalf("create sale: %v", err)
	}
	got, err := e.Engine.FindSale(context.Background(), m.ID, refundry.SaleLookup{ID: s.ID})
	if err != nil {
		e.T.Fatal(err)
	}
	return got
}

// Reload returns the sale as it is now.
func (e *Env) Reload(s *refundry.Sale) *refundry.Sale {
	e.T.Helper()
	got, err := e.Engine.FindSale(context.Background(), s.MerchantID, refundry.SaleLookup{ID: s.ID})
	if err != nil {
		e.T.Fatal(err)
	}
	return got
}
