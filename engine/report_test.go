package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// reportObserver records what the engine says of reports and settlements.
type reportObserver struct {
	mu       sync.Mutex
	reports  []string // gateway/outcome
	settled  []string // refund ids
	creating int
}

func (o *reportObserver) RefundCreated(*refundry.Refund) {
	o.mu.Lock()
	o.creating++
	o.mu.Unlock()
}

func (o *reportObserver) RefundSettled(r *refundry.Refund) {
	o.mu.Lock()
	o.settled = append(o.settled, r.ID)
	o.mu.Unlock()
}
func (o *reportObserver) GatewayCall(string, string, time.Duration, error) {}
func (o *reportObserver) RecoveryPass(int, error)                          {}
func (o *reportObserver) RefundReviewed(*refundry.Refund)                  {}
func (o *reportObserver) ReconciliationRun(*refundry.ReconciliationRun)    {}
func (o *reportObserver) GatewayReport(gateway, outcome string) {
	o.mu.Lock()
	o.reports = append(o.reports, gateway+"/"+outcome)
	o.mu.Unlock()
}

func (o *reportObserver) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reports) == 0 {
		return ""
	}
	return o.reports[len(o.reports)-1]
}

// stripeSale stores a sale of merchant A paid through Stripe, straight
// into the store: this engine has no Stripe gateway to accept it, and
// reports and disputes need none.
func stripeSale(t *testing.T, env *testenv.Env, ref string) *refundry.Sale {
	t.Helper()
	s := &refundry.Sale{MerchantID: env.A.ID, Currency: "USD",
		LineItems:    []*refundry.LineItem{{Name: "Ticket", Quantity: 1, UnitAmount: 1750}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewayStripe, Reference: ref}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.CreateSale(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	return env.Reload(s)
}

func refundRep(gateway, charge, gid, status string, amount int64) refundry.GatewayReport {
	return refundry.GatewayReport{Refund: &refundry.RefundReport{Gateway: gateway, ChargeIDs: []string{charge},
		GatewayRefundID: gid, Amount: amount, Currency: "USD", Status: status}}
}

// A refund made through the simulator fails late: the report corrects
// it, the observer hears it settled, and the amount can be refunded again.
func TestApplyReportLateFailure(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	obs := &reportObserver{}
	env.Engine.Observer = obs
	sale := env.Sale(testenv.SaleSpec{PayRefs: []string{"pay-late"}})
	res, err := refund(t, env, refundry.RefundTarget{SaleID: sale.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Refunds[0]
	if r.Status != refundry.RefundSucceeded {
		t.Fatalf("the simulator did not refund: %+v", r)
	}
	rep := refundRep(refundry.GatewaySimulator, "pay-late", r.GatewayRefundID, refundry.RefundFailed, r.Amount)
	rep.Refund.RefundID = r.ID
	rep.Refund.FailureReason = "The bank returned the refund."
	got, err := env.Engine.ApplyReport(ctx, rep)
	if err != nil || got.Outcome != refundry.OutcomeCorrected {
		t.Fatalf("ApplyReport = %+v, %v; want corrected", got, err)
	}
	if obs.last() != "simulator/corrected" || len(obs.settled) != 2 || obs.settled[1] != r.ID {
		t.Fatalf("observer heard %v, settled %v", obs.reports, obs.settled)
	}
	if after := env.Reload(sale); after.RefundedAmount != 0 || after.Refundable() != sale.Amount {
		t.Fatalf("after the late failure: refunded %d, refundable %d", after.RefundedAmount, after.Refundable())
	}
	again, err := refund(t, env, refundry.RefundTarget{SaleID: sale.ID}, 0)
	if err != nil || again.Refunds[0].Amount != sale.Amount || again.Refunds[0].Status != refundry.RefundSucceeded {
		t.Fatalf("the refund after a late failure: %+v, %v", again, err)
	}
	// The gateway cannot take the failure back: refused, logged, no error.
	rep.Refund.Status = refundry.RefundSucceeded
	if got, err := env.Engine.ApplyReport(ctx, rep); err != nil || got.Outcome != refundry.OutcomeRefused || got.Detail == "" {
		t.Fatalf("ApplyReport(failed → succeeded) = %+v, %v; want refused", got, err)
	}
	if obs.last() != "simulator/refused" {
		t.Fatalf("observer heard %v", obs.reports)
	}
}

func TestApplyReportOutcomes(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	obs := &reportObserver{}
	env.Engine.Observer = obs
	sale := stripeSale(t, env, "pi_outcomes")
	stripe := refundry.GatewayStripe
	for _, tt := range []struct {
		name    string
		rep     refundry.GatewayReport
		outcome string
		code    string
	}{
		{"Adopted", refundRep(stripe, "pi_outcomes", "re_1", refundry.RefundSucceeded, 500), refundry.OutcomeAdopted, ""},
		{"Matched", refundRep(stripe, "pi_outcomes", "re_1", refundry.RefundSucceeded, 500), refundry.OutcomeMatched, ""},
		{"BackToPending", refundRep(stripe, "pi_outcomes", "re_1", refundry.RefundPending, 500), refundry.OutcomeRefused, ""},
		{"AmountDiffers", refundRep(stripe, "pi_outcomes", "re_1", refundry.RefundSucceeded, 400), refundry.OutcomeRefused, ""},
		{"UnknownCharge", refundRep(stripe, "pi_nobody", "re_2", refundry.RefundSucceeded, 500), refundry.OutcomeUnknownCharge, ""},
		{"DisputeOpened", refundry.GatewayReport{Dispute: &refundry.DisputeReport{Gateway: stripe, ChargeIDs: []string{"pi_outcomes"},
			GatewayDisputeID: "dp_1", Amount: 1750, Currency: "USD", Status: refundry.DisputeNeedsResponse}}, refundry.OutcomeDispute, ""},
		// A gateway's dispute with an amount above the payment: the
		// report is refused, not retried forever as an error.
		{"DisputeInvalid", refundry.GatewayReport{Dispute: &refundry.DisputeReport{Gateway: stripe, ChargeIDs: []string{"pi_outcomes"},
			GatewayDisputeID: "dp_2", Amount: 1_000_000, Currency: "USD", Status: refundry.DisputeNeedsResponse}}, refundry.OutcomeRefused, ""},
		{"Neither", refundry.GatewayReport{}, "", refundry.EINVALID},
		{"Both", refundry.GatewayReport{Refund: &refundry.RefundReport{}, Dispute: &refundry.DisputeReport{}}, "", refundry.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := env.Engine.ApplyReport(ctx, tt.rep)
			if code := refundry.ErrorCode(err); code != tt.code {
				t.Fatalf("ApplyReport = %v, want code %q", err, tt.code)
			}
			if err != nil {
				return
			}
			if res.Outcome != tt.outcome {
				t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.Detail, tt.outcome)
			}
			if obs.last() != stripe+"/"+tt.outcome {
				t.Fatalf("observer heard %v", obs.reports)
			}
		})
	}
	// The open dispute refuses a refund of the payment, with its code.
	if _, err := refund(t, env, refundry.RefundTarget{SaleID: sale.ID}, 100); refundry.ErrorCode(err) != refundry.ECHARGEDISPUTED {
		t.Fatalf("refund under a dispute: %v, want %s", err, refundry.ECHARGEDISPUTED)
	}
	ds, _, err := env.Engine.ListDisputes(ctx, env.A.ID, refundry.DisputeFilter{SaleID: sale.ID})
	if err != nil || len(ds) != 1 || ds[0].GatewayDisputeID != "dp_1" {
		t.Fatalf("ListDisputes = %+v, %v", ds, err)
	}
	// Stripe's dispute changes with Stripe's events, not by hand.
	if _, err := env.Engine.UpdateDispute(ctx, env.A.ID, ds[0].ID, refundry.DisputeWon); refundry.ErrorCode(err) != refundry.EINVALID {
		t.Fatalf("UpdateDispute of a Stripe dispute: %v, want %s", err, refundry.EINVALID)
	}
}

// A dispute recorded by hand refuses refunds while open; won, it frees
// the payment; closed, it does not reopen.
func TestRecordDispute(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1000, 500}, PayAmounts: []int64{1000, 500}, PayRefs: []string{"p-1", "p-2"}})
	stripeSale := stripeSale(t, env, "pi_hand")
	other := env.Sale(testenv.SaleSpec{Merchant: env.B})
	txn := sale.Transactions[0]
	for _, tt := range []struct {
		name string
		rep  refundry.DisputeReport
		code string
	}{
		{"UnknownStatus", refundry.DisputeReport{TransactionID: txn.ID, Amount: 100, Status: "open"}, refundry.EINVALID},
		{"ZeroAmount", refundry.DisputeReport{TransactionID: txn.ID, Status: refundry.DisputeNeedsResponse}, refundry.EINVALID},
		{"AboveTransaction", refundry.DisputeReport{TransactionID: txn.ID, Amount: 1001, Status: refundry.DisputeNeedsResponse}, refundry.EINVALID},
		{"NoTransaction", refundry.DisputeReport{Amount: 100, Status: refundry.DisputeNeedsResponse}, refundry.EINVALID},
		{"StripePayment", refundry.DisputeReport{TransactionID: stripeSale.Transactions[0].ID, Amount: 100, Status: refundry.DisputeNeedsResponse}, refundry.EINVALID},
		{"UnknownTransaction", refundry.DisputeReport{TransactionID: refundry.NewID(), Amount: 100, Status: refundry.DisputeNeedsResponse}, refundry.ENOTFOUND},
		{"OtherMerchant", refundry.DisputeReport{TransactionID: other.Transactions[0].ID, Amount: 100, Status: refundry.DisputeNeedsResponse}, refundry.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := env.Engine.RecordDispute(ctx, env.A.ID, tt.rep); refundry.ErrorCode(err) != tt.code {
				t.Fatalf("RecordDispute = %v, want %s", err, tt.code)
			}
		})
	}
	if ds, _, _ := env.Engine.ListDisputes(ctx, env.A.ID, refundry.DisputeFilter{}); len(ds) != 0 {
		t.Fatalf("refused disputes were recorded: %+v", ds)
	}

	d, err := env.Engine.RecordDispute(ctx, env.A.ID, refundry.DisputeReport{TransactionID: txn.ID, Amount: 1000,
		Status: refundry.DisputeNeedsResponse, Reason: "product_not_received"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Gateway != refundry.GatewaySimulator || d.SaleID != sale.ID || d.Reason != "product_not_received" {
		t.Fatalf("dispute %+v", d)
	}
	if _, err := refund(t, env, refundry.RefundTarget{TransactionID: txn.ID}, 0); refundry.ErrorCode(err) != refundry.ECHARGEDISPUTED {
		t.Fatalf("refund of the disputed payment: %v", err)
	}
	// The other payment is not disputed: a refund of it alone goes.
	if _, err := refund(t, env, refundry.RefundTarget{TransactionID: sale.Transactions[1].ID}, 0); err != nil {
		t.Fatalf("refund of the payment beside the dispute: %v", err)
	}
	won, err := env.Engine.UpdateDispute(ctx, env.A.ID, d.ID, refundry.DisputeWon)
	if err != nil || won.Status != refundry.DisputeWon || won.ID != d.ID {
		t.Fatalf("UpdateDispute(won) = %+v, %v", won, err)
	}
	if _, err := env.Engine.UpdateDispute(ctx, env.A.ID, d.ID, refundry.DisputeUnderReview); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("reopening a closed dispute: %v, want %s", err, refundry.ECONFLICT)
	}
	for _, tt := range []struct {
		name, id, status, code string
	}{
		{"UnknownStatus", d.ID, "open", refundry.EINVALID},
		{"NoSuchDispute", refundry.NewID(), refundry.DisputeLost, refundry.ENOTFOUND},
	} {
		if _, err := env.Engine.UpdateDispute(ctx, env.A.ID, tt.id, tt.status); refundry.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if _, err := env.Engine.FindDispute(ctx, env.B.ID, d.ID); refundry.ErrorCode(err) != refundry.ENOTFOUND {
		t.Fatalf("another merchant's dispute: %v", err)
	}
	if res, err := refund(t, env, refundry.RefundTarget{TransactionID: txn.ID}, 0); err != nil || res.Refunds[0].Amount != 1000 {
		t.Fatalf("refund after a won dispute: %+v, %v", res, err)
	}
}

// A refund made at the gateway and adopted pending is the gateway's to
// settle: recovery never asks the gateway to make it again.
func TestRecoverySkipsAdoptedRefunds(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := env.Sale(testenv.SaleSpec{PayRefs: []string{"pay-adopt"}})
	res, err := env.Engine.ApplyReport(ctx, refundRep(refundry.GatewaySimulator, "pay-adopt", "sim_re_1", refundry.RefundPending, 300))
	if err != nil || res.Outcome != refundry.OutcomeAdopted {
		t.Fatalf("ApplyReport = %+v, %v", res, err)
	}
	if n, err := env.Engine.Recover(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("Recover = %d, %v; want nothing settled", n, err)
	}
	if moved := env.Sim.Moved(res.Refund.ID); moved != 0 {
		t.Fatalf("recovery refunded an adopted refund again: moved %d", moved)
	}
	got, err := env.Engine.ApplyReport(ctx, refundRep(refundry.GatewaySimulator, "pay-adopt", "sim_re_1", refundry.RefundSucceeded, 300))
	if err != nil || got.Outcome != refundry.OutcomeSettled {
		t.Fatalf("the gateway's settlement: %+v, %v", got, err)
	}
	if after := env.Reload(sale); after.RefundedAmount != 300 {
		t.Fatalf("sale refunded %d, want 300", after.RefundedAmount)
	}
}
