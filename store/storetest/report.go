package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/refundry/refundry"
)

// stripeSale stores a 35.00 USD sale paid through Stripe by one charge
// with ids unique to the test (reports find payments across merchants,
// and the database may be shared), and returns it with the charge id.
func stripeSale(t *testing.T, s refundry.Store, merchantID string, opts ...SaleOption) (*refundry.Sale, string) {
	t.Helper()
	charge := "ch_" + refundry.NewID()
	opts = append([]SaleOption{Gateway(refundry.GatewayStripe), func(s *refundry.Sale) {
		s.Transactions[0].GatewayChargeID = charge
		s.Transactions[0].Reference = "pi_" + charge[3:]
	}}, opts...)
	return MustCreateSale(t, s, merchantID, opts...), charge
}

func refundReport(charge, gatewayRefundID, status string, amount int64) refundry.RefundReport {
	return refundry.RefundReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{charge}, GatewayRefundID: gatewayRefundID,
		Amount: amount, Currency: "USD", Status: status}
}

func mustApplyRefund(t *testing.T, s refundry.Store, rep refundry.RefundReport, outcome string) *refundry.ReportResult {
	t.Helper()
	res, err := s.ApplyRefundReport(context.Background(), rep)
	if err != nil {
		t.Fatalf("ApplyRefundReport(%s %s): %v", rep.GatewayRefundID, rep.Status, err)
	}
	if res.Outcome != outcome {
		t.Fatalf("ApplyRefundReport(%s %s) = %s (%s), want %s", rep.GatewayRefundID, rep.Status, res.Outcome, res.Detail, outcome)
	}
	return res
}

func mustApplyDispute(t *testing.T, s refundry.Store, rep refundry.DisputeReport, outcome string) *refundry.ReportResult {
	t.Helper()
	res, err := s.ApplyDisputeReport(context.Background(), rep)
	if err != nil {
		t.Fatalf("ApplyDisputeReport(%s %s): %v", rep.GatewayDisputeID, rep.Status, err)
	}
	if res.Outcome != outcome {
		t.Fatalf("ApplyDisputeReport(%s %s) = %s (%s), want %s", rep.GatewayDisputeID, rep.Status, res.Outcome, res.Detail, outcome)
	}
	return res
}

// eventCount counts the merchant's events of each type about object ("":
// any).
func eventCount(t *testing.T, s refundry.Store, merchantID, objectID string) map[string]int {
	t.Helper()
	evs, _, err := s.ListEvents(context.Background(), merchantID, refundry.EventFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}, ObjectID: objectID})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		n[e.Type]++
	}
	return n
}

func testReports(t *testing.T, open Opener) {
	ctx := context.Background()

	// Ten workers apply one report of a refund made at the gateway at
	// once: the sale's lock serializes them, and the ledger adopts it once.
	t.Run("ConcurrentAdoption", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		rep := refundReport(charge, "re_"+refundry.NewID(), refundry.RefundSucceeded, 1200)
		var wg sync.WaitGroup
		outcomes := make([]string, 10)
		errs := make([]error, 10)
		for i := range outcomes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.ApplyRefundReport(ctx, rep)
				errs[i] = err
				if err == nil {
					outcomes[i] = res.Outcome
				}
			}()
		}
		wg.Wait()
		adopted := 0
		for i, o := range outcomes {
			if errs[i] != nil {
				t.Fatalf("worker %d: %v", i, errs[i])
			}
			switch o {
			case refundry.OutcomeAdopted:
				adopted++
			case refundry.OutcomeMatched:
			default:
				t.Fatalf("worker %d: outcome %s", i, o)
			}
		}
		refunds, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
		if err != nil {
			t.Fatal(err)
		}
		if adopted != 1 || len(refunds) != 1 {
			t.Fatalf("%d adopted, %d refunds stored; want one", adopted, len(refunds))
		}
		r := refunds[0]
		if r.Source != refundry.SourceGateway || r.Status != refundry.RefundSucceeded || r.Amount != 1200 ||
			r.GatewayRefundID != rep.GatewayRefundID || r.TransactionID != sale.Transactions[0].ID || r.Gateway != refundry.GatewayStripe {
			t.Fatalf("adopted refund %+v", r)
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 1200 || got.Transactions[0].RefundedAmount != 1200 {
			t.Fatalf("sale refunded %d, transaction %d; want 1200", got.RefundedAmount, got.Transactions[0].RefundedAmount)
		}
		if n := eventCount(t, s, m.ID, r.ID); n[refundry.EventRefundCreated] != 1 || n[refundry.EventRefundSucceeded] != 1 {
			t.Fatalf("events of the adopted refund: %v", n)
		}
		CheckInvariants(t, s, m.ID)
	})

	// Found by the payment's other id (the PaymentIntent, kept as the
	// transaction's reference), adopted pending, then settled by a second
	// report of the same refund.
	t.Run("AdoptPendingThenSettle", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		rep := refundReport("pi_"+charge[3:], "re_"+refundry.NewID(), refundry.RefundPending, 500)
		res := mustApplyRefund(t, s, rep, refundry.OutcomeAdopted)
		if res.MerchantID != m.ID || res.Refund == nil || res.Refund.Status != refundry.RefundPending || res.Sale.RefundedAmount != 500 {
			t.Fatalf("result %+v", res)
		}
		rep.Status = refundry.RefundSucceeded
		res = mustApplyRefund(t, s, rep, refundry.OutcomeSettled)
		if got := mustFindRefund(t, s, m.ID, res.Refund.ID); got.Status != refundry.RefundSucceeded {
			t.Fatalf("refund %+v", got)
		}
		mustApplyRefund(t, s, rep, refundry.OutcomeMatched)
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 500 {
			t.Fatalf("sale refunded %d, want 500", got.RefundedAmount)
		}
		CheckInvariants(t, s, m.ID)
	})

	// A refund Refundry made, not yet knowing the gateway's id, is found by
	// its own id (Stripe's metadata) and settled, learning the id.
	t.Run("MatchByRefundID", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		r := MustRefund(t, s, TransactionRefund(m.ID, sale.Transactions[0].ID, Amount(700))).Refunds[0]
		rep := refundReport(charge, "re_"+refundry.NewID(), refundry.RefundSucceeded, 700)
		rep.RefundID = r.ID
		mustApplyRefund(t, s, rep, refundry.OutcomeSettled)
		got := mustFindRefund(t, s, m.ID, r.ID)
		if got.Status != refundry.RefundSucceeded || got.GatewayRefundID != rep.GatewayRefundID || got.Source != refundry.SourceNative {
			t.Fatalf("refund %+v", got)
		}
		// Now found by the gateway's id, without Refundry's.
		rep.RefundID = ""
		mustApplyRefund(t, s, rep, refundry.OutcomeMatched)
		if refunds, _, _ := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID}); len(refunds) != 1 {
			t.Fatalf("%d refunds, want the one", len(refunds))
		}
	})

	// A refund the gateway reported succeeded fails late: the amount is
	// refundable again, and a new refund of it succeeds.
	t.Run("LateFailure", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil)).Refunds[0]
		gid := "re_" + refundry.NewID()
		if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded, GatewayRefundID: gid}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(1))); refundry.ErrorCode(err) != refundry.EREFUNDED {
			t.Fatalf("a refunded sale refunded again: %v", err)
		}
		rep := refundReport(charge, gid, refundry.RefundFailed, r.Amount)
		rep.FailureReason = "The customer's card was closed."
		res := mustApplyRefund(t, s, rep, refundry.OutcomeCorrected)
		got := mustFindRefund(t, s, m.ID, r.ID)
		if got.Status != refundry.RefundFailed || got.FailureReason != rep.FailureReason || res.Refund.Status != refundry.RefundFailed {
			t.Fatalf("refund after a late failure %+v", got)
		}
		after := MustFindSale(t, s, m.ID, sale.ID)
		if after.RefundedAmount != 0 || after.Refundable() != sale.Amount || after.Status != refundry.PaymentPaid {
			t.Fatalf("sale after a late failure: refunded %d, refundable %d, status %s", after.RefundedAmount, after.Refundable(), after.Status)
		}
		if n := eventCount(t, s, m.ID, r.ID); n[refundry.EventRefundFailed] != 1 {
			t.Fatalf("events %v, want one refund.failed", n)
		}
		// Heard twice (an event and a reconciliation): once.
		mustApplyRefund(t, s, rep, refundry.OutcomeMatched)
		// The failed refund cannot come back.
		rep.Status = refundry.RefundSucceeded
		mustApplyRefund(t, s, rep, refundry.OutcomeRefused)
		again := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil))
		if len(again.Refunds) != 1 || again.Refunds[0].Amount != sale.Amount {
			t.Fatalf("the refund after a late failure: %+v", again.Refunds)
		}
		CheckInvariants(t, s, m.ID)
	})

	// A refund made at the gateway above what remains is recorded all the
	// same: the money is gone. The sale is flagged over-refunded.
	t.Run("AdoptOverRefund", func(t *testing.T) {
		s := open(t)
		before, err := s.CountOverRefundedSales(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(3000)))
		rep := refundReport(charge, "re_"+refundry.NewID(), refundry.RefundSucceeded, 1000)
		res := mustApplyRefund(t, s, rep, refundry.OutcomeAdopted)
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.RefundedAmount != 4000 || got.Transactions[0].RefundedAmount != 4000 || !got.OverRefunded() || got.Refundable() != 0 {
			t.Fatalf("sale refunded %d of %d (over-refunded %v, refundable %d)", got.RefundedAmount, got.Amount, got.OverRefunded(), got.Refundable())
		}
		if !res.Sale.OverRefunded() {
			t.Fatal("the result's sale is not over-refunded")
		}
		n := eventCount(t, s, m.ID, sale.ID)
		if n[refundry.EventSaleOverRefunded] != 1 || n[refundry.EventSaleRefunded] != 1 {
			t.Fatalf("sale events %v, want one sale.refunded and one sale.over_refunded", n)
		}
		if after, err := s.CountOverRefundedSales(ctx); err != nil || after < before+1 {
			t.Fatalf("CountOverRefundedSales = %d, %v; was %d", after, err, before)
		}
		if _, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(1))); refundry.ErrorCode(err) != refundry.EREFUNDED {
			t.Fatalf("an over-refunded sale refunded again: %v", err)
		}
		// A Refundry refund still cannot go over: the cap holds for all
		// but adoption.
		CheckInvariants(t, s, m.ID)
	})

	t.Run("RefusedAndUnknown", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		gid := "re_" + refundry.NewID()
		mustApplyRefund(t, s, refundReport(charge, gid, refundry.RefundSucceeded, 900), refundry.OutcomeAdopted)
		for _, tt := range []struct {
			name    string
			rep     refundry.RefundReport
			outcome string
		}{
			{"BackToPending", refundReport(charge, gid, refundry.RefundPending, 900), refundry.OutcomeRefused},
			{"AmountDiffers", refundReport(charge, gid, refundry.RefundSucceeded, 901), refundry.OutcomeRefused},
			{"UnknownCharge", refundReport("ch_"+refundry.NewID(), "re_"+refundry.NewID(), refundry.RefundSucceeded, 900), refundry.OutcomeUnknownCharge},
			{"OtherGateway", func() refundry.RefundReport {
				r := refundReport(charge, "re_"+refundry.NewID(), refundry.RefundSucceeded, 900)
				r.Gateway = refundry.GatewaySimulator
				return r
			}(), refundry.OutcomeUnknownCharge},
			{"FailedNeverHad", refundReport(charge, "re_"+refundry.NewID(), refundry.RefundFailed, 900), refundry.OutcomeIgnored},
		} {
			res := mustApplyRefund(t, s, tt.rep, tt.outcome)
			if res.Detail == "" {
				t.Errorf("%s: no detail", tt.name)
			}
		}
		refunds, _, _ := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
		if len(refunds) != 1 || refunds[0].Status != refundry.RefundSucceeded || refunds[0].Amount != 900 {
			t.Fatalf("refunds %+v", refunds)
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 900 {
			t.Fatalf("sale refunded %d, want 900", got.RefundedAmount)
		}
	})

	t.Run("Disputes", func(t *testing.T) { testDisputes(t, open) })
}

func disputeReport(charge, id, status string, amount int64) refundry.DisputeReport {
	return refundry.DisputeReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{charge}, GatewayDisputeID: id,
		Amount: amount, Currency: "USD", Status: status, Reason: "fraudulent"}
}

func testDisputes(t *testing.T, open Opener) {
	ctx := context.Background()

	// An open dispute refuses refunds of its payment, on every target.
	t.Run("OpenRefusesRefunds", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		res := mustApplyDispute(t, s, disputeReport(charge, "dp_"+refundry.NewID(), refundry.DisputeNeedsResponse, 3500), refundry.OutcomeDispute)
		if res.MerchantID != m.ID || res.Dispute == nil || res.Dispute.TransactionID != sale.Transactions[0].ID || res.Dispute.SaleID != sale.ID {
			t.Fatalf("result %+v", res)
		}
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.Transactions[0].DisputeStatus != refundry.DisputeNeedsResponse || got.Transactions[0].DisputedAmount != 0 {
			t.Fatalf("transaction %+v", got.Transactions[0])
		}
		// Lists carry the dispute state too.
		listed, _, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{})
		if err != nil || len(listed) != 1 || len(listed[0].Transactions) != 1 ||
			listed[0].Transactions[0].DisputeStatus != refundry.DisputeNeedsResponse {
			t.Fatalf("ListSales = %+v, %v", listed, err)
		}
		for _, req := range []refundry.RefundRequest{
			SaleRefund(m.ID, sale.ID, Amount(100)),
			LineItemRefund(m.ID, sale.LineItems[0].ID, nil),
			TransactionRefund(m.ID, sale.Transactions[0].ID, nil),
		} {
			if _, err := s.CreateRefunds(ctx, req); refundry.ErrorCode(err) != refundry.ECHARGEDISPUTED {
				t.Fatalf("refund of %+v under an open dispute: %v, want %s", req.Target, err, refundry.ECHARGEDISPUTED)
			}
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 0 {
			t.Fatalf("a refused refund reserved %d", got.RefundedAmount)
		}
		if n := eventCount(t, s, m.ID, res.Dispute.ID); n[refundry.EventDisputeCreated] != 1 {
			t.Fatalf("dispute events %v", n)
		}
	})

	// A lost dispute takes its amount off what remains refundable.
	t.Run("LostReducesRefundable", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		id := "dp_" + refundry.NewID()
		mustApplyDispute(t, s, disputeReport(charge, id, refundry.DisputeNeedsResponse, 1000), refundry.OutcomeDispute)
		res := mustApplyDispute(t, s, disputeReport(charge, id, refundry.DisputeLost, 1000), refundry.OutcomeDispute)
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.Transactions[0].DisputeStatus != refundry.DisputeLost || got.Transactions[0].DisputedAmount != 1000 || got.Refundable() != 2500 {
			t.Fatalf("after a lost dispute: %+v, refundable %d", got.Transactions[0], got.Refundable())
		}
		if n := eventCount(t, s, m.ID, res.Dispute.ID); n[refundry.EventDisputeClosed] != 1 {
			t.Fatalf("dispute events %v", n)
		}
		if _, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(2501))); refundry.ErrorCode(err) != refundry.ETOOLARGE {
			t.Fatalf("refund above what a lost dispute left: %v", err)
		}
		r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil))
		if r.Refunds[0].Amount != 2500 {
			t.Fatalf("refunded %d, want the 2500 left", r.Refunds[0].Amount)
		}
		// A closed dispute does not reopen.
		mustApplyDispute(t, s, disputeReport(charge, id, refundry.DisputeUnderReview, 1000), refundry.OutcomeRefused)
		mustApplyDispute(t, s, disputeReport(charge, id, refundry.DisputeLost, 1000), refundry.OutcomeMatched)
	})

	// A won dispute frees the payment again.
	t.Run("WonFrees", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale, charge := stripeSale(t, s, m.ID)
		id := "dp_" + refundry.NewID()
		mustApplyDispute(t, s, disputeReport(charge, id, refundry.DisputeWarningNeedsResponse, 3500), refundry.OutcomeDispute)
		mustApplyDispute(t, s, disputeReport(charge, id, refundry.DisputeUnderReview, 3500), refundry.OutcomeDispute)
		if _, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, nil)); refundry.ErrorCode(err) != refundry.ECHARGEDISPUTED {
			t.Fatalf("refund under review: %v", err)
		}
		withdrawn := true
		rep := disputeReport(charge, id, refundry.DisputeWon, 3500)
		rep.FundsWithdrawn = &withdrawn
		res := mustApplyDispute(t, s, rep, refundry.OutcomeDispute)
		if !res.Dispute.FundsWithdrawn {
			t.Fatal("funds withdrawn not kept")
		}
		if r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil)); r.Refunds[0].Amount != 3500 {
			t.Fatalf("refunded %d after a won dispute, want all", r.Refunds[0].Amount)
		}
		d, err := s.FindDispute(ctx, m.ID, res.Dispute.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != refundry.DisputeWon || !d.FundsWithdrawn || d.Amount != 3500 || d.Reason != "fraudulent" || d.GatewayDisputeID != id {
			t.Fatalf("dispute %+v", d)
		}
		sameJSON(t, "FindDispute", d, res.Dispute)
		n := eventCount(t, s, m.ID, d.ID)
		if n[refundry.EventDisputeCreated] != 1 || n[refundry.EventDisputeUpdated] != 1 || n[refundry.EventDisputeClosed] != 1 {
			t.Fatalf("dispute events %v", n)
		}
	})

	// A dispute recorded by hand, for a payment whose gateway sends none,
	// and updated by its id.
	t.Run("ByHand", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		txn := sale.Transactions[0]
		rep := refundry.DisputeReport{MerchantID: m.ID, TransactionID: txn.ID, Amount: 1500, Status: refundry.DisputeNeedsResponse}
		res := mustApplyDispute(t, s, rep, refundry.OutcomeDispute)
		if res.Dispute.Gateway != refundry.GatewaySimulator || res.Dispute.Currency != "USD" || res.Dispute.GatewayDisputeID != "" {
			t.Fatalf("dispute %+v", res.Dispute)
		}
		// A second one by hand is another dispute, not the first.
		other := mustApplyDispute(t, s, rep, refundry.OutcomeDispute)
		if other.Dispute.ID == res.Dispute.ID {
			t.Fatal("a second dispute by hand updated the first")
		}
		upd := mustApplyDispute(t, s, refundry.DisputeReport{MerchantID: m.ID, DisputeID: res.Dispute.ID, Status: refundry.DisputeLost},
			refundry.OutcomeDispute)
		if upd.Dispute.ID != res.Dispute.ID || upd.Dispute.Amount != 1500 || upd.Dispute.Status != refundry.DisputeLost {
			t.Fatalf("updated %+v", upd.Dispute)
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.Transactions[0].DisputedAmount != 1500 {
			t.Fatalf("disputed %d, want 1500", got.Transactions[0].DisputedAmount)
		}
		for _, tt := range []struct {
			name string
			rep  refundry.DisputeReport
			code string
		}{
			{"AboveTransaction", refundry.DisputeReport{MerchantID: m.ID, TransactionID: txn.ID, Amount: 3501, Status: refundry.DisputeNeedsResponse}, refundry.EINVALID},
			{"UnknownStatus", refundry.DisputeReport{MerchantID: m.ID, TransactionID: txn.ID, Amount: 1, Status: "open"}, refundry.EINVALID},
			{"OtherMerchant", refundry.DisputeReport{MerchantID: MustCreateMerchant(t, s).ID, TransactionID: txn.ID, Amount: 1, Status: refundry.DisputeNeedsResponse}, refundry.ENOTFOUND},
			{"NoSuchDispute", refundry.DisputeReport{MerchantID: m.ID, DisputeID: refundry.NewID(), Status: refundry.DisputeWon}, refundry.ENOTFOUND},
		} {
			if _, err := s.ApplyDisputeReport(ctx, tt.rep); refundry.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			}
		}
		if _, err := s.FindDispute(ctx, MustCreateMerchant(t, s).ID, res.Dispute.ID); refundry.ErrorCode(err) != refundry.ENOTFOUND {
			t.Fatalf("another merchant's dispute: %v", err)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		res := mustApplyDispute(t, s, disputeReport("ch_"+refundry.NewID(), "dp_"+refundry.NewID(), refundry.DisputeNeedsResponse, 100),
			refundry.OutcomeUnknownCharge)
		if res.Detail == "" || res.Dispute != nil {
			t.Fatalf("result %+v", res)
		}
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		var ids []string
		var sales []*refundry.Sale
		for i := range 5 {
			sale, charge := stripeSale(t, s, m.ID)
			sales = append(sales, sale)
			status := refundry.DisputeNeedsResponse
			if i%2 == 1 {
				status = refundry.DisputeWon
			}
			res := mustApplyDispute(t, s, disputeReport(charge, "dp_"+refundry.NewID(), status, 100), refundry.OutcomeDispute)
			ids = append(ids, res.Dispute.ID)
		}
		// Another merchant's dispute never shows.
		_, otherCharge := stripeSale(t, s, MustCreateMerchant(t, s).ID)
		mustApplyDispute(t, s, disputeReport(otherCharge, "dp_"+refundry.NewID(), refundry.DisputeNeedsResponse, 100), refundry.OutcomeDispute)

		list := func(f refundry.DisputeFilter) ([]string, bool) {
			t.Helper()
			ds, more, err := s.ListDisputes(ctx, m.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, d := range ds {
				out = append(out, d.ID)
			}
			return out, more
		}
		rev := func(xs ...string) []string {
			out := make([]string, len(xs))
			for i, x := range xs {
				out[len(xs)-1-i] = x
			}
			return out
		}
		for _, tt := range []struct {
			name string
			f    refundry.DisputeFilter
			want []string
			more bool
		}{
			{"All", refundry.DisputeFilter{}, rev(ids...), false},
			{"FirstPage", refundry.DisputeFilter{Page: refundry.Page{Limit: 2}}, rev(ids[3:]...), true},
			{"After", refundry.DisputeFilter{Page: refundry.Page{Limit: 2, StartingAfter: ids[3]}}, rev(ids[1:3]...), true},
			{"Before", refundry.DisputeFilter{Page: refundry.Page{Limit: 2, EndingBefore: ids[1]}}, rev(ids[2:4]...), true},
			{"Status", refundry.DisputeFilter{Status: refundry.DisputeWon}, rev(ids[1], ids[3]), false},
			{"Sale", refundry.DisputeFilter{SaleID: sales[2].ID}, []string{ids[2]}, false},
			{"Transaction", refundry.DisputeFilter{TransactionID: sales[4].Transactions[0].ID}, []string{ids[4]}, false},
		} {
			got, more := list(tt.f)
			if !equalStrings(got, tt.want) || more != tt.more {
				t.Errorf("%s: %v (more %v), want %v (more %v)", tt.name, got, more, tt.want, tt.more)
			}
		}
		if _, _, err := s.ListDisputes(ctx, m.ID, refundry.DisputeFilter{Status: "open"}); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("unknown status filter: %v", err)
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
