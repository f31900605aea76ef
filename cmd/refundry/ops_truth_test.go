package main

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// TestOverRefundedMetric scrapes /metrics while a refund made at the
// gateway puts a sale over what was paid and then fails late: the gauge
// of over-refunded sales follows the ledger, 0, 1, 0; and it reports a
// failed count, not a stale one, once the database is gone.
func TestOverRefundedMetric(t *testing.T) {
	env := testenv.New(t)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	const gauge, ok = "refundry_over_refunded_sales", "refundry_over_refunded_sales_scrape_ok"
	expect := func(when string, want float64) {
		t.Helper()
		got := scrape(t, srv.URL)
		if got[ok] != 1 {
			t.Fatalf("%s: %s = %v, want 1", when, ok, got[ok])
		}
		if v, found := got[gauge]; !found || v != want {
			t.Errorf("%s: %s = %v (present %v), want %v", when, gauge, v, found, want)
		}
	}
	expect("empty ledger", 0)

	sale := env.Sale(testenv.SaleSpec{Units: []int64{1000}, PayRefs: []string{"pay_metric_1"}})
	amount := int64(700)
	if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
		Amount: &amount, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	expect("a refund within the caps", 0)

	report := refundry.RefundReport{Gateway: refundry.GatewaySimulator, ChargeIDs: []string{"pay_metric_1"},
		GatewayRefundID: "re_metric_1", Amount: 600, Currency: "USD", Status: refundry.RefundSucceeded}
	res, err := env.Engine.ApplyReport(ctx, refundry.GatewayReport{Refund: &report})
	if err != nil || res.Outcome != refundry.OutcomeAdopted {
		t.Fatalf("adopting a gateway refund: %+v, %v", res, err)
	}
	expect("a gateway refund adopted past the caps", 1)

	report.Status, report.FailureReason = refundry.RefundFailed, "expired_or_canceled_card"
	if res, err = env.Engine.ApplyReport(ctx, refundry.GatewayReport{Refund: &report}); err != nil || res.Outcome != refundry.OutcomeCorrected {
		t.Fatalf("the gateway refund failing late: %+v, %v", res, err)
	}
	expect("the gateway refund failed late", 0)

	env.Store.Close()
	got := scrape(t, srv.URL)
	if _, found := got[gauge]; found || got[ok] != 0 {
		t.Errorf("closed database: %s present %v, %s = %v; want absent and 0", gauge, found, ok, got[ok])
	}
}

// TestOpenDisputesMetric scrapes /metrics while a dispute is recorded
// and then won: the gauge of open disputes goes 0, 1, 0, and a lost
// dispute, closed, is not counted.
func TestOpenDisputesMetric(t *testing.T) {
	env := testenv.New(t)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	const gauge, ok = "refundry_open_disputes", "refundry_open_disputes_scrape_ok"
	expect := func(when string, want float64) {
		t.Helper()
		got := scrape(t, srv.URL)
		if got[ok] != 1 {
			t.Fatalf("%s: %s = %v, want 1", when, ok, got[ok])
		}
		if v, found := got[gauge]; !found || v != want {
			t.Errorf("%s: %s = %v (present %v), want %v", when, gauge, v, found, want)
		}
	}
	expect("no disputes", 0)
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1000}})
	d, err := env.Engine.RecordDispute(ctx, env.A.ID, refundry.DisputeReport{TransactionID: sale.Transactions[0].ID,
		Amount: 1000, Currency: "USD", Status: refundry.DisputeNeedsResponse, Reason: "fraudulent"})
	if err != nil {
		t.Fatal(err)
	}
	expect("a dispute opened", 1)
	lost := env.Sale(testenv.SaleSpec{Units: []int64{1000}})
	if _, err := env.Engine.RecordDispute(ctx, env.A.ID, refundry.DisputeReport{TransactionID: lost.Transactions[0].ID,
		Amount: 500, Currency: "USD", Status: refundry.DisputeLost, Reason: "fraudulent"}); err != nil {
		t.Fatal(err)
	}
	expect("and a lost one", 1)
	if _, err := env.Engine.UpdateDispute(ctx, env.A.ID, d.ID, refundry.DisputeWon); err != nil {
		t.Fatal(err)
	}
	expect("the open one won", 0)
	env.Store.Close()
	if got := scrape(t, srv.URL); got[ok] != 0 {
		t.Errorf("closed database: %s = %v, want 0", ok, got[ok])
	}
}
