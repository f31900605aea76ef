package refundry_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// reportSale is feeSale with t2 paid through Stripe as ch_2 / pi_2 and
// the given amount already refunded of it.
func reportSale(refunded int64) *refundry.Sale {
	s := feeSale()
	s.Transactions[1].GatewayChargeID = "ch_2"
	s.Transactions[1].Reference = "pi_2"
	s.Transactions[1].RefundedAmount = refunded
	s.RefundedAmount = refunded
	s.Status = refundry.PaymentState(s.Amount, refunded)
	return s
}

func eventTypes(evs []*refundry.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestDecideRefundReport(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const (
		pending, succeeded = refundry.RefundPending, refundry.RefundSucceeded
		failed, canceled   = refundry.RefundFailed, refundry.RefundCanceled
	)
	rep := func(status string, amount int64, charge string) refundry.RefundReport {
		return refundry.RefundReport{Gateway: "stripe", ChargeIDs: []string{charge}, GatewayRefundID: "re_1",
			Amount: amount, Currency: "USD", Status: status, FailureReason: "card closed"}
	}
	ledger := func(status string, amount int64) *refundry.Refund {
		return &refundry.Refund{ID: "r1", MerchantID: "m1", SaleID: "sale1", TransactionID: "t2", Amount: amount,
			Currency: "USD", Status: status, Gateway: "stripe", Created: now.Add(-time.Hour), RefundedAt: now.Add(-time.Hour)}
	}
	for _, tt := range []struct {
		name     string
		refunded int64 // already on t2 and the sale
		existing *refundry.Refund
		rep      refundry.RefundReport
		outcome  string
		detail   string
		status   string // the refund's status after, "" for none
		delta    int64  // the sale's refunded amount after less before
		events   []string
	}{
		{name: "AdoptSucceeded", rep: rep(succeeded, 200, "ch_2"), outcome: refundry.OutcomeAdopted,
			status: succeeded, delta: 200, events: []string{"refund.created", "refund.succeeded"}},
		{name: "AdoptPendingByIntent", rep: rep(pending, 200, "pi_2"), outcome: refundry.OutcomeAdopted,
			status: pending, delta: 200, events: []string{"refund.created"}},
		{name: "AdoptFillsSale", refunded: 300, rep: rep(succeeded, 700, "ch_2"), outcome: refundry.OutcomeAdopted,
			status: succeeded, delta: 700, events: []string{"refund.created", "refund.succeeded", "sale.refunded"}},
		{name: "AdoptOverRefunds", refunded: 700, rep: rep(succeeded, 500, "ch_2"), outcome: refundry.OutcomeAdopted,
			status: succeeded, delta: 500, events: []string{"refund.created", "refund.succeeded", "sale.refunded", "sale.over_refunded"}},
		{name: "AdoptAlreadyOver", refunded: 1100, rep: rep(succeeded, 100, "ch_2"), outcome: refundry.OutcomeAdopted,
			status: succeeded, delta: 100, events: []string{"refund.created", "refund.succeeded"}},
		{name: "IgnoreFailedUnknown", rep: rep(failed, 200, "ch_2"), outcome: refundry.OutcomeIgnored},
		{name: "IgnoreCanceledUnknown", rep: rep(canceled, 200, "ch_2"), outcome: refundry.OutcomeIgnored},
		{name: "OtherCurrencyRefused", rep: func() refundry.RefundReport { r := rep(succeeded, 200, "ch_2"); r.Currency = "EUR"; return r }(),
			outcome: refundry.OutcomeRefused},
		{name: "NoSuchCharge", rep: rep(succeeded, 200, "ch_other"), outcome: refundry.OutcomeUnknownCharge},
		{name: "Matched", refunded: 200, existing: ledger(succeeded, 200), rep: rep(succeeded, 200, "ch_2"),
			outcome: refundry.OutcomeMatched, status: succeeded},
		{name: "MatchedKnowsID", refunded: 200, existing: func() *refundry.Refund { r := ledger(pending, 200); r.GatewayRefundID = "re_1"; return r }(),
			rep: rep(pending, 200, "ch_2"), outcome: refundry.OutcomeMatched, status: pending},
		{name: "SettlePending", refunded: 200, existing: ledger(pending, 200), rep: rep(succeeded, 200, "ch_2"),
			outcome: refundry.OutcomeSettled, status: succeeded, events: []string{"refund.succeeded"}},
		{name: "FailPending", refunded: 200, existing: ledger(pending, 200), rep: rep(failed, 200, "ch_2"),
			outcome: refundry.OutcomeSettled, status: failed, delta: -200, events: []string{"refund.failed"}},
		{name: "CancelPending", refunded: 200, existing: ledger(pending, 200), rep: rep(canceled, 200, "ch_2"),
			outcome: refundry.OutcomeSettled, status: canceled, delta: -200, events: []string{"refund.canceled"}},
		{name: "LateFailure", refunded: 200, existing: ledger(succeeded, 200), rep: rep(failed, 200, "ch_2"),
			outcome: refundry.OutcomeCorrected, status: failed, delta: -200, events: []string{"refund.failed"}},
		{name: "LateCancelIsFailure", refunded: 200, existing: ledger(succeeded, 200), rep: rep(canceled, 200, "ch_2"),
			outcome: refundry.OutcomeCorrected, status: failed, delta: -200, events: []string{"refund.failed"}},
		{name: "RefusedBackToPending", refunded: 200, existing: ledger(succeeded, 200), rep: rep(pending, 200, "ch_2"),
			outcome: refundry.OutcomeRefused, status: succeeded},
		{name: "RefusedFailedSucceeds", existing: ledger(failed, 200), rep: rep(succeeded, 200, "ch_2"),
			outcome: refundry.OutcomeRefused, status: failed},
		{name: "RefusedCanceledFails", existing: ledger(canceled, 200), rep: rep(failed, 200, "ch_2"),
			outcome: refundry.OutcomeRefused, status: canceled},
		{name: "RefusedAmountDiffers", refunded: 200, existing: ledger(pending, 200), rep: rep(succeeded, 250, "ch_2"),
			outcome: refundry.OutcomeRefused, detail: "amount differs", status: pending},
		{name: "RefusedUnknownStatus", existing: ledger(pending, 200), rep: rep("refunded", 200, "ch_2"),
			outcome: refundry.OutcomeRefused, status: pending},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := reportSale(tt.refunded)
			before := snapshot(sale)
			d, err := refundry.DecideRefundReport(sale, tt.existing, tt.rep, now)
			if err != nil {
				t.Fatal(err)
			}
			if snapshot(sale) != before {
				t.Fatal("the decision changed the sale it was given")
			}
			if d.Outcome != tt.outcome || tt.detail != "" && d.Detail != tt.detail {
				t.Fatalf("outcome %s (%s), want %s (%s)", d.Outcome, d.Detail, tt.outcome, tt.detail)
			}
			if (d.Outcome == refundry.OutcomeRefused || d.Outcome == refundry.OutcomeIgnored || d.Outcome == refundry.OutcomeUnknownCharge) && d.Detail == "" {
				t.Fatal("no detail says why")
			}
			if tt.status == "" {
				if d.Refund != nil || d.Adopt != nil || d.Settle != nil {
					t.Fatalf("a refund where none should be: %+v", d)
				}
			} else if d.Refund == nil || d.Refund.Status != tt.status {
				t.Fatalf("refund %+v, want status %s", d.Refund, tt.status)
			}
			if got := d.Sale.RefundedAmount - sale.RefundedAmount; got != tt.delta {
				t.Fatalf("sale's refunded amount moved by %d, want %d", got, tt.delta)
			}
			var evs []*refundry.Event
			switch {
			case d.Adopt != nil:
				evs = d.Adopt.Events
			case d.Settle != nil:
				evs = d.Settle.Events
			}
			if got := eventTypes(evs); !slices.Equal(got, tt.events) {
				t.Fatalf("events %v, want %v", got, tt.events)
			}
			learns := d.Outcome == refundry.OutcomeMatched && tt.existing.GatewayRefundID == ""
			if (d.Adopt != nil) != (d.Outcome == refundry.OutcomeAdopted) ||
				(d.Settle != nil) != (d.Outcome == refundry.OutcomeSettled || d.Outcome == refundry.OutcomeCorrected || learns) {
				t.Fatalf("outcome %s with adopt %v settle %v", d.Outcome, d.Adopt != nil, d.Settle != nil)
			}
			if d.Adopt != nil {
				r := d.Adopt.Refunds[0]
				if r.Source != refundry.SourceGateway || r.Gateway != "stripe" || r.GatewayRefundID != "re_1" ||
					r.TransactionID != "t2" || r.Currency != "USD" || r.Reason != "" || r.Amount != tt.rep.Amount {
					t.Fatalf("adopted refund %+v", r)
				}
				// The transaction and the sale take it all, above what was
				// paid if need be; the lines what remained on them, no more.
				var onLines int64
				for _, m := range d.Adopt.Moves {
					if m.Kind == refundry.OnLineItem {
						onLines += m.Delta
						if m.Unbounded {
							t.Fatalf("adoption move %+v: a line's cap holds", m)
						}
						continue
					}
					if !m.Unbounded || m.Delta != tt.rep.Amount {
						t.Fatalf("adoption move %+v: want unbounded +%d", m, tt.rep.Amount)
					}
				}
				var remained int64
				for _, li := range sale.LineItems {
					remained += li.Remaining()
				}
				if want := min(tt.rep.Amount, remained); onLines != want || onLines != refundLinesSum(r) {
					t.Fatalf("adoption put %d on lines (refund lines %+v), want %d", onLines, r.Lines, want)
				}
				if d.Sale.OverRefunded() != (d.Sale.RefundedAmount > d.Sale.Amount) {
					t.Fatal("OverRefunded disagrees with the amounts")
				}
			}
			if learns && (d.Refund.GatewayRefundID != "re_1" || len(d.Settle.Moves)+len(d.Settle.Events)+len(d.Settle.Audit) != 0) {
				t.Fatalf("a match that learns the gateway's id: %+v", d.Settle)
			}
			if d.Outcome == refundry.OutcomeCorrected {
				if d.Refund.FailureReason != "card closed" || d.Settle.From != refundry.RefundSucceeded {
					t.Fatalf("corrected refund %+v from %s", d.Refund, d.Settle.From)
				}
				for _, m := range d.Settle.Moves {
					if m.Delta != -200 || m.Unbounded {
						t.Fatalf("late failure move %+v: want a bounded release of 200", m)
					}
				}
				if d.Sale.Refundable() != 1000 {
					t.Fatalf("after a late failure %d remains, want all 1000 again", d.Sale.Refundable())
				}
			}
		})
	}
}

func TestSaleOverRefunded(t *testing.T) {
	for _, tt := range []struct {
		refunded int64
		want     bool
	}{{0, false}, {999, false}, {1000, false}, {1001, true}} {
		s := reportSale(tt.refunded)
		if got := s.OverRefunded(); got != tt.want {
			t.Errorf("refunded %d: OverRefunded = %v, want %v", tt.refunded, got, tt.want)
		}
		if s.Refundable() < 0 {
			t.Errorf("refunded %d: refundable %d below zero", tt.refunded, s.Refundable())
		}
	}
}

// A refund adopted above one payment's amount leaves the sale less than
// its other payments hold: a refund of another payment stops at what the
// sale can still give back.
func TestTransactionRefundableAfterOverRefund(t *testing.T) {
	s := reportSale(0)
	d, err := refundry.DecideRefundReport(s, nil, refundry.RefundReport{Gateway: "stripe", ChargeIDs: []string{"ch_2"},
		GatewayRefundID: "re_9", Amount: 900, Currency: "USD", Status: refundry.RefundSucceeded}, time.Now())
	if err != nil || d.Outcome != refundry.OutcomeAdopted {
		t.Fatalf("adoption: %+v, %v", d, err)
	}
	after := d.Sale
	if got := after.TransactionRefundable(after.Transactions[0]); got != 100 {
		t.Fatalf("t1 refundable %d, want the sale's 100", got)
	}
	allocs, err := refundry.PlanRefund(after, refundry.RefundTarget{TransactionID: "t1"}, nil, false)
	if err != nil || len(allocs) != 1 || allocs[0].Amount != 100 {
		t.Fatalf("PlanRefund(t1) = %+v, %v; want 100", allocs, err)
	}
	if _, err := refundry.PlanRefund(after, refundry.RefundTarget{TransactionID: "t1"}, amt(101), false); refundry.ErrorCode(err) != refundry.ETOOLARGE {
		t.Fatalf("PlanRefund(t1, 101) = %v, want %s", err, refundry.ETOOLARGE)
	}
	if _, err := refundry.PlanRefund(after, refundry.RefundTarget{TransactionID: "t2"}, nil, false); refundry.ErrorCode(err) != refundry.EREFUNDED {
		t.Fatalf("PlanRefund(t2) = %v, want %s", err, refundry.EREFUNDED)
	}
}

func TestDisputeOpen(t *testing.T) {
	open := []string{"warning_needs_response", "warning_under_review", "needs_response", "under_review"}
	for _, st := range refundry.DisputeStatuses {
		if got := refundry.DisputeOpen(st); got != slices.Contains(open, st) {
			t.Errorf("DisputeOpen(%s) = %v", st, got)
		}
		if refundry.DisputeOpen(st) == refundry.DisputeClosed(st) {
			t.Errorf("%s is both or neither open and closed", st)
		}
	}
	if refundry.DisputeOpen("") || refundry.DisputeClosed("") {
		t.Error("no dispute is neither open nor closed")
	}
}

// A refund that would touch a payment under an open dispute is refused;
// a lost dispute takes its amount off what remains; a won one frees it.
func TestPlanRefundDisputes(t *testing.T) {
	for _, tt := range []struct {
		name     string
		status   string // t2's dispute status
		disputed int64  // t2's lost amount
		target   refundry.RefundTarget
		amount   *int64
		code     string
		total    int64
	}{
		{name: "TransactionOpen", status: "needs_response", target: refundry.RefundTarget{TransactionID: "t2"}, code: refundry.ECHARGEDISPUTED},
		{name: "TransactionWarning", status: "warning_under_review", target: refundry.RefundTarget{TransactionID: "t2"}, code: refundry.ECHARGEDISPUTED},
		{name: "OtherTransactionFree", status: "under_review", target: refundry.RefundTarget{TransactionID: "t1"}, total: 300},
		{name: "SaleWithinFirst", status: "under_review", target: refundry.RefundTarget{SaleID: "sale1"}, amount: amt(300), total: 300},
		{name: "SaleReachesDisputed", status: "under_review", target: refundry.RefundTarget{SaleID: "sale1"}, amount: amt(301), code: refundry.ECHARGEDISPUTED},
		{name: "LineReachesDisputed", status: "needs_response", target: refundry.RefundTarget{LineItemID: "li1"}, code: refundry.ECHARGEDISPUTED},
		{name: "Won", status: "won", target: refundry.RefundTarget{TransactionID: "t2"}, total: 700},
		{name: "LostPart", status: "lost", disputed: 500, target: refundry.RefundTarget{TransactionID: "t2"}, total: 200},
		{name: "LostPartTooMuch", status: "lost", disputed: 500, target: refundry.RefundTarget{TransactionID: "t2"}, amount: amt(201), code: refundry.ETOOLARGE},
		{name: "LostSale", status: "lost", disputed: 500, target: refundry.RefundTarget{SaleID: "sale1"}, total: 500},
		{name: "LostAll", status: "lost", disputed: 700, target: refundry.RefundTarget{TransactionID: "t2"}, code: refundry.EREFUNDED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := reportSale(0)
			s.Transactions[1].DisputeStatus, s.Transactions[1].DisputedAmount = tt.status, tt.disputed
			allocs, err := refundry.PlanRefund(s, tt.target, tt.amount, false)
			if code := refundry.ErrorCode(err); code != tt.code {
				t.Fatalf("PlanRefund = %v, want code %q", err, tt.code)
			}
			if tt.code == refundry.ECHARGEDISPUTED {
				if msg := refundry.ErrorMessage(err); !strings.Contains(msg, "Transaction t2 is disputed ("+tt.status+")") {
					t.Fatalf("message %q does not name the dispute", msg)
				}
				return
			}
			var total int64
			for _, a := range allocs {
				total += a.Amount
			}
			if total != tt.total {
				t.Fatalf("planned %d, want %d (%+v)", total, tt.total, allocs)
			}
		})
	}
}

func TestDecideDisputeReport(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	yes := true
	rep := func(status string, amount int64) refundry.DisputeReport {
		return refundry.DisputeReport{Gateway: "stripe", ChargeIDs: []string{"ch_2"}, GatewayDisputeID: "dp_1",
			Amount: amount, Currency: "USD", Status: status, Reason: "fraudulent"}
	}
	known := func(status string) *refundry.Dispute {
		return &refundry.Dispute{ID: "d1", MerchantID: "m1", SaleID: "sale1", TransactionID: "t2", Gateway: "stripe",
			GatewayDisputeID: "dp_1", Amount: 300, Currency: "USD", Status: status, Reason: "fraudulent"}
	}
	for _, tt := range []struct {
		name     string
		existing *refundry.Dispute
		txStatus string // t2's dispute status before
		rep      refundry.DisputeReport
		outcome  string
		code     string
		delta    int64
		events   []string
		txAfter  string // t2's dispute status after, when not the report's
		others   []*refundry.Dispute
	}{
		{name: "Created", rep: rep("needs_response", 300), outcome: refundry.OutcomeDispute, events: []string{"dispute.created"}},
		{name: "CreatedLost", rep: rep("lost", 300), outcome: refundry.OutcomeDispute, delta: 300,
			events: []string{"dispute.created", "dispute.closed"}},
		{name: "UnderReview", existing: known("needs_response"), txStatus: "needs_response", rep: rep("under_review", 300),
			outcome: refundry.OutcomeDispute, events: []string{"dispute.updated"}},
		{name: "FundsWithdrawn", existing: known("needs_response"), txStatus: "needs_response",
			rep:     func() refundry.DisputeReport { r := rep("needs_response", 300); r.FundsWithdrawn = &yes; return r }(),
			outcome: refundry.OutcomeDispute, events: []string{"dispute.updated"}},
		{name: "Lost", existing: known("under_review"), txStatus: "under_review", rep: rep("lost", 300),
			outcome: refundry.OutcomeDispute, delta: 300, events: []string{"dispute.closed"}},
		{name: "Won", existing: known("under_review"), txStatus: "under_review", rep: rep("won", 300),
			outcome: refundry.OutcomeDispute, events: []string{"dispute.closed"}},
		{name: "LostThenWon", existing: known("lost"), txStatus: "lost", rep: rep("won", 300),
			outcome: refundry.OutcomeDispute, delta: -300, events: []string{"dispute.updated"}},
		{name: "Same", existing: known("under_review"), txStatus: "under_review", rep: rep("under_review", 300),
			outcome: refundry.OutcomeMatched},
		{name: "ClosedCannotReopen", existing: known("won"), txStatus: "won", rep: rep("needs_response", 300),
			outcome: refundry.OutcomeRefused},
		{name: "NoSuchCharge", rep: func() refundry.DisputeReport {
			r := rep("needs_response", 300)
			r.ChargeIDs = []string{"ch_x"}
			return r
		}(),
			outcome: refundry.OutcomeUnknownCharge},
		{name: "ErrStatus", rep: rep("open", 300), code: refundry.EINVALID},
		{name: "ErrAmountAboveTransaction", rep: rep("needs_response", 701), code: refundry.EINVALID},
		{name: "ErrAmountZero", rep: rep("needs_response", 0), code: refundry.EINVALID},
		{name: "ErrCurrency", rep: func() refundry.DisputeReport { r := rep("needs_response", 300); r.Currency = "EUR"; return r }(),
			code: refundry.EINVALID},
		{name: "ErrByHandOnStripe", rep: refundry.DisputeReport{MerchantID: "m1", TransactionID: "t2", Amount: 100, Status: "needs_response"},
			code: refundry.EINVALID},
		// t2 is open under another dispute: closing this one leaves it so.
		{name: "OtherStillOpen", existing: known("under_review"), txStatus: "needs_response", rep: rep("won", 300),
			outcome: refundry.OutcomeDispute, txAfter: "needs_response", events: []string{"dispute.closed"}},
		{name: "SameBesideOpen", existing: known("won"), txStatus: "needs_response", rep: rep("won", 300),
			outcome: refundry.OutcomeMatched},
		// Told of the others: the payment follows the open one among them.
		{name: "OthersOpen", existing: known("under_review"), txStatus: "under_review", rep: rep("won", 300),
			others:  []*refundry.Dispute{{ID: "d0", TransactionID: "t2", Status: "needs_response"}, {ID: "d9", TransactionID: "t2", Status: "lost"}},
			outcome: refundry.OutcomeDispute, txAfter: "needs_response", events: []string{"dispute.closed"}},
		{name: "OthersClosed", existing: known("under_review"), txStatus: "under_review", rep: rep("won", 300),
			others:  []*refundry.Dispute{{ID: "d9", TransactionID: "t2", Status: "lost"}, {ID: "d1", TransactionID: "t2", Status: "under_review"}},
			outcome: refundry.OutcomeDispute, events: []string{"dispute.closed"}},
		{name: "NewClosedBesideOpen", txStatus: "needs_response", rep: rep("warning_closed", 300),
			outcome: refundry.OutcomeDispute, txAfter: "needs_response", events: []string{"dispute.created", "dispute.closed"}},
		{name: "ByHandOnSimulator", rep: refundry.DisputeReport{MerchantID: "m1", TransactionID: "t1", Amount: 300, Status: "needs_response"},
			outcome: refundry.OutcomeDispute, events: []string{"dispute.created"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := reportSale(0)
			sale.Transactions[1].DisputeStatus = tt.txStatus
			if tt.txStatus == "lost" {
				sale.Transactions[1].DisputedAmount = 300
			}
			before := snapshot(sale)
			d, err := refundry.DecideDisputeReport(sale, tt.existing, tt.rep, now, tt.others...)
			if code := refundry.ErrorCode(err); code != tt.code {
				t.Fatalf("err %v, want code %q", err, tt.code)
			}
			if err != nil {
				return
			}
			if snapshot(sale) != before {
				t.Fatal("the decision changed the sale it was given")
			}
			if d.Outcome != tt.outcome {
				t.Fatalf("outcome %s (%s), want %s", d.Outcome, d.Detail, tt.outcome)
			}
			if got := eventTypes(d.Events); !slices.Equal(got, tt.events) {
				t.Fatalf("events %v, want %v", got, tt.events)
			}
			if d.Outcome != refundry.OutcomeDispute {
				if d.Outcome != refundry.OutcomeMatched && d.Detail == "" {
					t.Fatal("no detail says why")
				}
				return
			}
			txAfter := tt.rep.Status
			if tt.txAfter != "" {
				txAfter = tt.txAfter
			}
			if d.DisputedDelta != tt.delta || d.Dispute.Status != tt.rep.Status || d.DisputeStatus != txAfter {
				t.Fatalf("decision %+v, want delta %d status %s, payment %s", d, tt.delta, tt.rep.Status, txAfter)
			}
			if d.Insert != (tt.existing == nil) || d.Insert && (d.Dispute.ID == "" || d.Dispute.SaleID != "sale1") {
				t.Fatalf("insert %v dispute %+v", d.Insert, d.Dispute)
			}
			if tt.rep.FundsWithdrawn != nil && d.Dispute.FundsWithdrawn != *tt.rep.FundsWithdrawn {
				t.Fatal("funds withdrawn not recorded")
			}
			var txn *refundry.Transaction
			for _, x := range d.Sale.Transactions {
				if x.ID == d.TransactionID {
					txn = x
				}
			}
			if txn == nil || txn.DisputeStatus != txAfter {
				t.Fatalf("the sale after does not carry the dispute: %+v", txn)
			}
		})
	}
}

func TestValidateDispute(t *testing.T) {
	for _, tt := range []struct {
		name string
		rep  refundry.DisputeReport
		code string
	}{
		{"OK", refundry.DisputeReport{TransactionID: "t1", Amount: 100, Status: "needs_response"}, ""},
		{"NoTransaction", refundry.DisputeReport{Amount: 100, Status: "needs_response"}, refundry.EINVALID},
		{"UnknownStatus", refundry.DisputeReport{TransactionID: "t1", Amount: 100, Status: "open"}, refundry.EINVALID},
		{"ZeroAmount", refundry.DisputeReport{TransactionID: "t1", Status: "lost"}, refundry.EINVALID},
		{"NegativeAmount", refundry.DisputeReport{TransactionID: "t1", Amount: -1, Status: "lost"}, refundry.EINVALID},
		{"UpdateByID", refundry.DisputeReport{DisputeID: "d1", Status: "won"}, ""},
		{"LongReason", refundry.DisputeReport{TransactionID: "t1", Amount: 1, Status: "lost", Reason: string(make([]byte, 501))}, refundry.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code := refundry.ErrorCode(tt.rep.ValidateDispute()); code != tt.code {
				t.Fatalf("code %q, want %q", code, tt.code)
			}
		})
	}
}

func refundLinesSum(r *refundry.Refund) int64 {
	var n int64
	for _, l := range r.Lines {
		n += l.Amount
	}
	return n
}
