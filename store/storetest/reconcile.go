package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// testReconciliation checks what reconciliation reads (the payments with
// recent activity) and keeps (its runs).
func testReconciliation(t *testing.T, open Opener) {
	ctx := context.Background()
	// recent pages through RecentCharges with a small limit, as the
	// engine does with a large one, and returns the transaction ids.
	recent := func(t *testing.T, s refundry.Store, merchantID, gateway string, since time.Time) []string {
		t.Helper()
		var ids []string
		after := ""
		for {
			page, err := s.RecentCharges(ctx, merchantID, gateway, since, after, 2)
			if err != nil {
				t.Fatalf("RecentCharges: %v", err)
			}
			for _, c := range page {
				ids = append(ids, c.TransactionID)
			}
			if len(page) < 2 {
				return ids
			}
			after = page[len(page)-1].TransactionID
		}
	}

	t.Run("RecentCharges", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		quiet, _ := stripeSale(t, s, m.ID)
		refunded, _ := stripeSale(t, s, m.ID)
		disputed, disputedCharge := stripeSale(t, s, m.ID)
		sim := MustCreateSale(t, s, m.ID, PaymentReferences("sim_ref_"+refundry.NewID()))
		time.Sleep(5 * time.Millisecond)
		since := time.Now()
		time.Sleep(5 * time.Millisecond)
		MustRefund(t, s, SaleRefund(m.ID, refunded.ID, Amount(100)))
		MustRefund(t, s, SaleRefund(m.ID, sim.ID, Amount(100)))
		mustApplyDispute(t, s, refundry.DisputeReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{disputedCharge},
			GatewayDisputeID: "dp_" + refundry.NewID(), Amount: 3500, Currency: "USD", Status: refundry.DisputeNeedsResponse,
			Reason: "fraudulent", Created: time.Now()}, refundry.OutcomeDispute)
		fresh, freshCharge := stripeSale(t, s, m.ID)
		stripeSale(t, s, other.ID)

		got := recent(t, s, m.ID, refundry.GatewayStripe, since)
		want := []string{refunded.Transactions[0].ID, disputed.Transactions[0].ID, fresh.Transactions[0].ID}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("stripe charges since = %v, want %v (not the quiet %s)", got, want, quiet.Transactions[0].ID)
		}
		all := recent(t, s, m.ID, refundry.GatewayStripe, since.Add(-time.Hour))
		if len(all) != 4 || !slices.IsSorted(all) {
			t.Fatalf("stripe charges in the last hour = %v, want 4 in id order", all)
		}
		if got := recent(t, s, m.ID, refundry.GatewaySimulator, since); !slices.Equal(got, []string{sim.Transactions[0].ID}) {
			t.Fatalf("simulator charges = %v, want [%s]", got, sim.Transactions[0].ID)
		}
		if got := recent(t, s, m.ID, refundry.GatewayStripe, time.Now().Add(time.Hour)); len(got) != 0 {
			t.Fatalf("charges since a future time = %v, want none", got)
		}

		// Every merchant: the other merchant's payment is there too, with
		// what the engine needs to ask the gateway and apply the answer.
		found := map[string]refundry.ChargeActivity{}
		for after := ""; ; {
			page, err := s.RecentCharges(ctx, "", refundry.GatewayStripe, since, after, refundry.MaxPageLimit)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				found[c.TransactionID] = c
			}
			if len(page) < refundry.MaxPageLimit {
				break
			}
			after = page[len(page)-1].TransactionID
		}
		c, ok := found[fresh.Transactions[0].ID]
		wantC := refundry.ChargeActivity{MerchantID: m.ID, SaleID: fresh.ID, TransactionID: fresh.Transactions[0].ID,
			Gateway: refundry.GatewayStripe, GatewayChargeID: freshCharge, Reference: fresh.Transactions[0].Reference, Currency: "USD"}
		if !ok || c != wantC {
			t.Fatalf("fresh charge = %+v, want %+v", c, wantC)
		}
		if _, ok := found[refunded.Transactions[0].ID]; !ok {
			t.Fatal("the refunded charge is missing from every merchant's charges")
		}
		if len(found) < 4 {
			t.Fatalf("every merchant's charges: %d, want at least 3 (the other merchant's too)", len(found))
		}
	})

	t.Run("Runs", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		now := time.Now().UTC().Truncate(time.Microsecond)
		var runs []*refundry.ReconciliationRun
		for i := range 3 {
			r := &refundry.ReconciliationRun{
				ID: refundry.NewID(), MerchantID: m.ID, Trigger: "sweep",
				Since: now.Add(-72 * time.Hour), Started: now, Finished: now.Add(time.Duration(i+1) * time.Millisecond),
				Charges: 4 + i, Matched: 2, Adopted: 1, Corrected: i, Mismatched: 1,
				Mismatches: []refundry.Mismatch{{Kind: refundry.MismatchMissingAtGateway, SaleID: "s", TransactionID: "t",
					RefundID: "r", GatewayRefundID: "re_1", Detail: "Stripe does not list re_1."}},
			}
			if i == 2 {
				r.Mismatched, r.Mismatches = 0, nil
			}
			if err := s.SaveReconciliationRun(ctx, r); err != nil {
				t.Fatalf("SaveReconciliationRun: %v", err)
			}
			runs = append(runs, r)
		}
		got, err := s.FindReconciliationRun(ctx, m.ID, runs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "found run", got, runs[0])
		if got.MerchantID != m.ID {
			t.Fatalf("run's merchant = %q, want %q", got.MerchantID, m.ID)
		}
		empty, err := s.FindReconciliationRun(ctx, m.ID, runs[2].ID)
		if err != nil {
			t.Fatal(err)
		}
		if empty.Mismatches == nil || len(empty.Mismatches) != 0 {
			t.Fatalf("a run without mismatches has %#v, want an empty list", empty.Mismatches)
		}

		// Tenancy: another merchant's run is missing, not forbidden.
		_, err = s.FindReconciliationRun(ctx, other.ID, runs[0].ID)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindReconciliationRun(ctx, m.ID, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)

		list, more, err := s.ListReconciliationRuns(ctx, m.ID, refundry.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || !more || list[0].ID != runs[2].ID || list[1].ID != runs[1].ID {
			t.Fatalf("first page: %d runs (more %v), want the two newest and more", len(list), more)
		}
		rest, more, err := s.ListReconciliationRuns(ctx, m.ID, refundry.Page{Limit: 2, StartingAfter: list[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != 1 || more || rest[0].ID != runs[0].ID {
			t.Fatalf("second page: %d runs (more %v), want the oldest alone", len(rest), more)
		}
		back, _, err := s.ListReconciliationRuns(ctx, m.ID, refundry.Page{Limit: 2, EndingBefore: runs[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != 2 || back[0].ID != runs[2].ID {
			t.Fatalf("ending before the oldest: %d runs, want the two newer, newest first", len(back))
		}
		none, more, err := s.ListReconciliationRuns(ctx, other.ID, refundry.Page{})
		if err != nil || len(none) != 0 || more {
			t.Fatalf("another merchant's runs = %d (more %v, err %v), want none", len(none), more, err)
		}
		_, _, err = s.ListReconciliationRuns(ctx, m.ID, refundry.Page{Limit: refundry.MaxPageLimit + 1})
		wantCode(t, err, refundry.EINVALID)
	})
}
