package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/stripemock"
	"github.com/refundry/refundry/store/sqlite"
)

// refundry reconcile compares Stripe's refunds with the ledger, adopts
// the one made in the Stripe dashboard, stores the run and prints it.
// Stripe is a stripemock.Fake: stripe-mock keeps no refunds, so the fake
// serves stripe-mock's own refund fixture, fetched from it, with the id,
// amount and payment of the situation.
func TestReconcileCommand(t *testing.T) {
	mock := stripemock.Start()
	t.Cleanup(mock.Stop)
	mock.Require(t)
	fake := mock.NewFake(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	db := "sqlite:" + path
	if err := run(ctx, []string{"merchant", "create", "--slug", "shop", "--name", "Shop", "--db", db}, noEnv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The sale goes straight into the store: a Stripe sale through the
	// engine would need Stripe to take its payment.
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.FindMerchantBySlug(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	charge := "ch_" + refundry.NewID()
	sale := &refundry.Sale{MerchantID: m.ID, Currency: "USD",
		LineItems:    []*refundry.LineItem{{Name: "Ticket", Quantity: 1, UnitAmount: 3500}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewayStripe, GatewayChargeID: charge}}}
	if err := sale.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	store.Close()
	made := fake.Hold(charge, 500, "succeeded")

	args := []string{"reconcile", "--merchant", "shop", "--db", db, "--stripe-key", stripemock.TestKey, "--stripe-api-base", fake.URL}
	var out bytes.Buffer
	if err := run(ctx, append(args, "--json"), noEnv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Merchant   string              `json:"merchant"`
		ID         string              `json:"id"`
		Trigger    string              `json:"trigger"`
		Charges    int                 `json:"charges"`
		Adopted    int                 `json:"adopted"`
		Mismatches []refundry.Mismatch `json:"mismatches"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
	if got.Merchant != m.ID || got.ID == "" || got.Trigger != "command" || got.Charges != 1 || got.Adopted != 1 || got.Mismatches == nil {
		t.Fatalf("run = %+v, want one charge and %s adopted", got, made)
	}

	// Run again, as text: the ledger agrees now; a refund the ledger
	// holds that Stripe no longer lists is printed as a mismatch.
	fake.Forget(charge)
	out.Reset()
	if err := run(ctx, args, noEnv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 charges", "0 adopted", "1 mismatched", "missing_at_gateway", made} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q does not say %q", out.String(), want)
		}
	}

	// Both runs are stored.
	store, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, _, err := store.ListReconciliationRuns(ctx, m.ID, refundry.Page{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("stored runs = %d, %v; want 2", len(runs), err)
	}
}

func TestReconcileCommandUsage(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	for _, args := range [][]string{
		{"reconcile", "--since", "-1h", "--db", db},
		{"reconcile", "--merchant", "no-such-shop", "--db", db},
		{"reconcile", "--stripe-api-base", "http://127.0.0.1:1", "--db", db},
		{"reconcile", "extra", "--db", db},
		{"serve", "--reconcile-interval", "-1m", "--db", db},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, noEnv, io.Discard, &stderr)
		if exitCode(err) != 2 {
			t.Errorf("%v: err %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	// With no gateway to ask, a merchant-less database has nothing to say.
	var out, stderr bytes.Buffer
	if err := run(context.Background(), []string{"reconcile", "--db", db}, noEnv, &out, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no payments") || !strings.Contains(stderr.String(), "--stripe-key") {
		t.Errorf("stdout %q, stderr %q: want nothing compared and a hint to give --stripe-key", out.String(), stderr.String())
	}
}
