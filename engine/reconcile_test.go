package engine_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/gateway/stripe"
	"github.com/refundry/refundry/internal/stripemock"
)

// reconcileEnv is an engine on one store with the simulator and, given a
// stripe-mock, a Stripe that keeps state (see stripemock.Fake), and two
// merchants.
type reconcileEnv struct {
	t      *testing.T
	store  refundry.Store
	eng    *engine.Engine
	sim    *simulator.Gateway
	stripe *stripemock.Fake
	a, b   *refundry.Merchant
	obs    *runObserver
}

// runObserver keeps the runs the engine reports.
type runObserver struct {
	mu   sync.Mutex
	runs []*refundry.ReconciliationRun
}

func (o *runObserver) RefundCreated(*refundry.Refund)                   {}
func (o *runObserver) RefundSettled(*refundry.Refund)                   {}
func (o *runObserver) GatewayCall(string, string, time.Duration, error) {}
func (o *runObserver) RecoveryPass(int, error)                          {}
func (o *runObserver) RefundReviewed(*refundry.Refund)                  {}
func (o *runObserver) GatewayReport(string, string)                     {}
func (o *runObserver) ReconciliationRun(r *refundry.ReconciliationRun) {
	o.mu.Lock()
	o.runs = append(o.runs, r)
	o.mu.Unlock()
}

func newReconcileEnv(t *testing.T, open func(t *testing.T, now func() time.Time) refundry.Store, mock *stripemock.Server) *reconcileEnv {
	t.Helper()
	ctx := context.Background()
	store := open(t, time.Now)
	sim := simulator.New()
	t.Cleanup(func() { sim.Close() })
	gateways := []refundry.Gateway{sim}
	var fake *stripemock.Fake
	if mock != nil {
		fake = mock.NewFake(t)
		gw, err := stripe.New(stripe.Config{SecretKey: stripemock.TestKey, APIBase: fake.URL, RequestsPerSecond: 1000})
		if err != nil {
			t.Fatal(err)
		}
		gateways = append(gateways, gw)
	}
	env := &reconcileEnv{t: t, store: store, sim: sim, stripe: fake, obs: &runObserver{},
		eng: engine.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), gateways...)}
	env.eng.Observer = env.obs
	env.a = &refundry.Merchant{Slug: "a-" + refundry.NewID(), Name: "A"}
	env.b = &refundry.Merchant{Slug: "b-" + refundry.NewID(), Name: "B"}
	for _, m := range []*refundry.Merchant{env.a, env.b} {
		if _, err := env.eng.CreateMerchant(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// sale creates a 35.00 USD sale of merchant A paid by one payment: a
// Stripe charge with a new id when gateway is stripe, else a simulator
// payment with the reference ref.
func (env *reconcileEnv) sale(gateway, ref string) *refundry.Sale {
	env.t.Helper()
	tr := &refundry.Transaction{Gateway: gateway, Reference: ref}
	if gateway == refundry.GatewayStripe {
		tr.GatewayChargeID = "ch_" + refundry.NewID()
	}
	s := &refundry.Sale{MerchantID: env.a.ID, Currency: "USD",
		LineItems:    []*refundry.LineItem{{Name: "Ticket", Quantity: 1, UnitAmount: 3500}},
		Transactions: []*refundry.Transaction{tr}}
	if _, err := env.eng.CreateSale(context.Background(), s, nil); err != nil {
		env.t.Fatal(err)
	}
	return s
}

func (env *reconcileEnv) refund(s *refundry.Sale, amount int64) *refundry.Refund {
	env.t.Helper()
	res, err := env.eng.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.a.ID,
		Target: refundry.RefundTarget{SaleID: s.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		env.t.Fatal(err)
	}
	if r := res.Refunds[0]; r.Status != refundry.RefundSucceeded {
		env.t.Fatalf("refund = %s (%s), want succeeded", r.Status, r.FailureReason)
	}
	return res.Refunds[0]
}

// reconcile runs one comparison of merchant A's last hour and returns its
// run, checking it was stored as returned and reported to the observer.
func (env *reconcileEnv) reconcile() *refundry.ReconciliationRun {
	env.t.Helper()
	ctx := context.Background()
	runs, err := env.eng.Reconcile(ctx, env.a.ID, time.Now().Add(-time.Hour), engine.TriggerCommand)
	if err != nil {
		env.t.Fatalf("Reconcile: %v", err)
	}
	if len(runs) != 1 || runs[0].MerchantID != env.a.ID || runs[0].ID == "" {
		env.t.Fatalf("runs = %+v, want one of merchant A", runs)
	}
	run := runs[0]
	stored, err := env.eng.FindReconciliationRun(ctx, env.a.ID, run.ID)
	if err != nil {
		env.t.Fatalf("the run is not stored: %v", err)
	}
	if stored.Charges != run.Charges || stored.Adopted != run.Adopted || stored.Mismatched != len(stored.Mismatches) {
		env.t.Fatalf("stored run %+v differs from %+v", stored, run)
	}
	env.obs.mu.Lock()
	heard := len(env.obs.runs) > 0 && env.obs.runs[len(env.obs.runs)-1].ID == run.ID
	env.obs.mu.Unlock()
	if !heard {
		env.t.Fatal("the observer did not hear of the run")
	}
	return run
}

func (env *reconcileEnv) refunds(s *refundry.Sale) []*refundry.Refund {
	env.t.Helper()
	rs, _, err := env.eng.ListRefunds(context.Background(), env.a.ID, refundry.RefundFilter{SaleID: s.ID, Page: refundry.Page{Limit: 100}})
	if err != nil {
		env.t.Fatal(err)
	}
	return rs
}

func (env *reconcileEnv) reload(s *refundry.Sale) *refundry.Sale {
	env.t.Helper()
	got, err := env.eng.FindSale(context.Background(), env.a.ID, refundry.SaleLookup{ID: s.ID})
	if err != nil {
		env.t.Fatal(err)
	}
	return got
}

type counts struct{ charges, matched, adopted, corrected, mismatched int }

func wantCounts(t *testing.T, run *refundry.ReconciliationRun, want counts) {
	t.Helper()
	got := counts{run.Charges, run.Matched, run.Adopted, run.Corrected, run.Mismatched}
	if got != want {
		t.Fatalf("run counts = %+v, want %+v; mismatches %+v", got, want, run.Mismatches)
	}
}

// Reconciliation against Stripe: what no webhook announced is found by
// listing the payment's refunds. stripe-mock keeps no state, so Stripe is
// a stripemock.Fake here: its payloads are stripe-mock's own refund
// fixture, fetched from the running stripe-mock, with only the fields of
// each situation changed (id, amount, payment, status, failure_reason,
// metadata). The listing's shape against stripe-mock itself is tested in
// gateway/stripe (TestListRefunds).
func TestReconcileStripe(t *testing.T) {
	mock := stripemock.Start()
	t.Cleanup(mock.Stop)
	mock.Require(t)
	for _, backend := range clockedStores {
		t.Run(backend.name, func(t *testing.T) {
			t.Run("AdoptsRefundNoWebhookAnnounced", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, mock)
				s := env.sale(refundry.GatewayStripe, "")
				charge := s.Transactions[0].GatewayChargeID
				made := env.stripe.Hold(charge, 500, "succeeded")

				wantCounts(t, env.reconcile(), counts{charges: 1, adopted: 1})
				rs := env.refunds(s)
				if len(rs) != 1 || rs[0].Source != refundry.SourceGateway || rs[0].Amount != 500 ||
					rs[0].GatewayRefundID != made || rs[0].Status != refundry.RefundSucceeded {
					t.Fatalf("refunds = %+v, want the gateway's 5.00 adopted", rs)
				}
				if got := env.reload(s).RefundedAmount; got != 500 {
					t.Fatalf("refunded = %d, want 500: the adopted refund counts against the caps", got)
				}
				// The next run finds the ledger agrees: nothing adopted twice.
				wantCounts(t, env.reconcile(), counts{charges: 1, matched: 1})
				if n := len(env.refunds(s)); n != 1 {
					t.Fatalf("%d refunds after a second run, want 1", n)
				}
			})

			t.Run("CorrectsLateFailureNoWebhookAnnounced", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, mock)
				s := env.sale(refundry.GatewayStripe, "")
				r := env.refund(s, 1200)
				wantCounts(t, env.reconcile(), counts{charges: 1, matched: 1})

				env.stripe.SetStatus(r.GatewayRefundID, "failed", "expired_or_canceled_card")
				wantCounts(t, env.reconcile(), counts{charges: 1, corrected: 1})
				got, err := env.eng.FindRefund(context.Background(), env.a.ID, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != refundry.RefundFailed || !strings.Contains(got.FailureReason, "expired or been canceled") {
					t.Fatalf("refund = %s (%q), want failed with Stripe's reason", got.Status, got.FailureReason)
				}
				if sale := env.reload(s); sale.RefundedAmount != 0 {
					t.Fatalf("refunded = %d, want 0: a late failure gives the amount back", sale.RefundedAmount)
				}
				wantCounts(t, env.reconcile(), counts{charges: 1, matched: 1})
			})

			t.Run("ReportsWhatItCannotResolve", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, mock)
				lost := env.sale(refundry.GatewayStripe, "")
				lostRefund := env.refund(lost, 700)
				env.stripe.Forget(lost.Transactions[0].GatewayChargeID)

				changed := env.sale(refundry.GatewayStripe, "")
				changedRefund := env.refund(changed, 900)
				env.stripe.SetAmount(changedRefund.GatewayRefundID, 901)

				run := env.reconcile()
				wantCounts(t, run, counts{charges: 2, mismatched: 2})
				kinds := map[string]refundry.Mismatch{}
				for _, m := range run.Mismatches {
					kinds[m.Kind] = m
				}
				if m := kinds[refundry.MismatchMissingAtGateway]; m.RefundID != lostRefund.ID || m.GatewayRefundID != lostRefund.GatewayRefundID ||
					m.SaleID != lost.ID || m.TransactionID != lost.Transactions[0].ID || m.Detail == "" {
					t.Fatalf("missing_at_gateway = %+v, want refund %s of sale %s", m, lostRefund.ID, lost.ID)
				}
				if m := kinds[refundry.MismatchAmount]; m.RefundID != changedRefund.ID || m.GatewayRefundID != changedRefund.GatewayRefundID || m.Detail == "" {
					t.Fatalf("amount_differs = %+v, want refund %s", m, changedRefund.ID)
				}
				// Nothing was changed on either payment.
				if got := env.reload(lost).RefundedAmount + env.reload(changed).RefundedAmount; got != 1600 {
					t.Fatalf("refunded = %d, want 1600 as before", got)
				}

				// A gateway that cannot be asked: one mismatch per payment,
				// and the run goes on to store its counts.
				env.stripe.Down(true)
				run = env.reconcile()
				wantCounts(t, run, counts{charges: 2, mismatched: 2})
				for _, m := range run.Mismatches {
					if m.Kind != refundry.MismatchUnreachable {
						t.Fatalf("mismatch = %+v, want gateway_unreachable", m)
					}
				}
			})

			t.Run("OneRunPerMerchant", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, mock)
				env.sale(refundry.GatewayStripe, "")
				ctx := context.Background()
				// B has no payment: asked for, it still gets its run.
				runs, err := env.eng.Reconcile(ctx, env.b.ID, time.Now().Add(-time.Hour), engine.TriggerCommand)
				if err != nil || len(runs) != 1 || runs[0].MerchantID != env.b.ID || runs[0].Charges != 0 {
					t.Fatalf("B's runs = %+v, %v; want one with no charges", runs, err)
				}
				// Every merchant: a run for A only, since B has nothing.
				runs, err = env.eng.Reconcile(ctx, "", time.Now().Add(-time.Hour), engine.TriggerSweep)
				if err != nil {
					t.Fatal(err)
				}
				if len(runs) != 1 || runs[0].MerchantID != env.a.ID || runs[0].Charges != 1 || runs[0].Trigger != engine.TriggerSweep {
					t.Fatalf("sweep runs = %+v, want one of A with its payment", runs)
				}
				list, _, err := env.eng.ListReconciliationRuns(ctx, env.b.ID, refundry.Page{})
				if err != nil || len(list) != 1 {
					t.Fatalf("B's stored runs = %d, %v; want 1", len(list), err)
				}
			})
		})
	}
}

// The simulator's references, end to end through reconciliation alone
// (no events are sent: the simulator has no inbox here).
func TestReconcileSimulator(t *testing.T) {
	for _, backend := range clockedStores {
		t.Run(backend.name, func(t *testing.T) {
			t.Run("GatewayRefundSilent", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, nil)
				s := env.sale(refundry.GatewaySimulator, "sim_gateway_refund_silent_500_"+refundry.NewID())
				wantCounts(t, env.reconcile(), counts{charges: 1, adopted: 1})
				rs := env.refunds(s)
				if len(rs) != 1 || rs[0].Amount != 500 || rs[0].Source != refundry.SourceGateway {
					t.Fatalf("refunds = %+v, want 5.00 adopted from the gateway", rs)
				}
				wantCounts(t, env.reconcile(), counts{charges: 1, matched: 1})
			})
			t.Run("LateFailSilent", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, nil)
				s := env.sale(refundry.GatewaySimulator, "sim_late_fail_silent_"+refundry.NewID())
				r := env.refund(s, 800)
				wantCounts(t, env.reconcile(), counts{charges: 1, matched: 1})
				time.Sleep(simulator.LateFailDelay + 100*time.Millisecond)
				wantCounts(t, env.reconcile(), counts{charges: 1, corrected: 1})
				got, err := env.eng.FindRefund(context.Background(), env.a.ID, r.ID)
				if err != nil || got.Status != refundry.RefundFailed || got.FailureReason != simulator.LateFailReason {
					t.Fatalf("refund = %+v, %v; want failed, the card closed", got, err)
				}
			})
			t.Run("ForgottenPaymentIsUnreachable", func(t *testing.T) {
				env := newReconcileEnv(t, backend.open, nil)
				s := env.sale(refundry.GatewaySimulator, "pay-"+refundry.NewID())
				env.refund(s, 100)
				// A restarted simulator remembers nothing: reconciliation
				// says it could not ask, never that the refund is missing.
				fresh := simulator.New()
				env.eng.Gateways[refundry.GatewaySimulator] = fresh
				run := env.reconcile()
				wantCounts(t, run, counts{charges: 1, mismatched: 1})
				if run.Mismatches[0].Kind != refundry.MismatchUnreachable {
					t.Fatalf("mismatch = %+v, want gateway_unreachable", run.Mismatches[0])
				}
			})
		})
	}
}

// The simulator's references that send events: each event goes through
// the inbox (stored, then applied by the worker's pass with the
// simulator's parser), as a Stripe event does.
func TestSimulatorEventsThroughInbox(t *testing.T) {
	for _, backend := range clockedStores {
		t.Run(backend.name, func(t *testing.T) {
			env := newReconcileEnv(t, backend.open, nil)
			env.sim.Events = env.eng.ReceiveGatewayEvent
			env.eng.EventParsers[refundry.GatewaySimulator] = simulator.ParseEvent
			ctx := context.Background()
			// eventually applies the stored events until cond holds.
			eventually := func(what string, within time.Duration, cond func() bool) {
				t.Helper()
				deadline := time.Now().Add(within)
				for {
					if _, err := env.eng.ApplyGatewayEvents(ctx, 100); err != nil {
						t.Fatal(err)
					}
					if cond() {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: not within %v", what, within)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}

			atGateway := env.sale(refundry.GatewaySimulator, "sim_gateway_refund_300_"+refundry.NewID())
			late := env.sale(refundry.GatewaySimulator, "sim_late_fail_"+refundry.NewID())
			lateRefund := env.refund(late, 800)
			disputed := env.sale(refundry.GatewaySimulator, "sim_dispute_lost_"+refundry.NewID())
			dispute := func() *refundry.Dispute {
				ds, _, err := env.eng.ListDisputes(ctx, env.a.ID, refundry.DisputeFilter{TransactionID: disputed.Transactions[0].ID})
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) == 0 {
					return nil
				}
				return ds[0]
			}

			eventually("the refund made at the gateway adopted", 3*time.Second, func() bool {
				rs := env.refunds(atGateway)
				return len(rs) == 1 && rs[0].Amount == 300 && rs[0].Source == refundry.SourceGateway
			})
			eventually("the dispute opened", 3*time.Second, func() bool { return dispute() != nil })
			if d := dispute(); d.Status != refundry.DisputeNeedsResponse || d.Amount != 3500 {
				t.Fatalf("dispute = %+v, want the whole payment, needs_response", d)
			}
			amount := int64(100)
			_, err := env.eng.Refund(ctx, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: disputed.ID},
				Amount: &amount, Source: refundry.SourceNative})
			if refundry.ErrorCode(err) != refundry.ECHARGEDISPUTED {
				t.Fatalf("refund of a disputed payment: %v, want %s", err, refundry.ECHARGEDISPUTED)
			}
			eventually("the late failure applied", 3*time.Second, func() bool {
				r, err := env.eng.FindRefund(ctx, env.a.ID, lateRefund.ID)
				return err == nil && r.Status == refundry.RefundFailed && r.FailureReason == simulator.LateFailReason
			})
			eventually("the dispute lost", 4*time.Second, func() bool { d := dispute(); return d != nil && d.Status == refundry.DisputeLost })

			// Reconciliation then finds the ledger as the gateway has it.
			wantCounts(t, env.reconcile(), counts{charges: 3, matched: 2})
		})
	}
}

// The sweep runs every interval over every merchant until its context
// ends, and then returns.
func TestRunReconcile(t *testing.T) {
	env := newReconcileEnv(t, clockedStores[0].open, nil)
	env.sale(refundry.GatewaySimulator, "sim_gateway_refund_silent_250_"+refundry.NewID())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		env.eng.RunReconcile(ctx, 50*time.Millisecond, time.Hour)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, _, err := env.eng.ListReconciliationRuns(context.Background(), env.a.ID, refundry.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 2 {
			// Newest first: the second sweep matched what the first adopted.
			if oldest := runs[len(runs)-1]; oldest.Trigger != engine.TriggerSweep || oldest.Adopted != 1 || runs[0].Matched != 1 {
				t.Fatalf("runs = %+v ... %+v, want the first to adopt and a later one to match", runs[0], oldest)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sweeps after 5s, want 2", len(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunReconcile did not return after its context ended")
	}
}
