package simulator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/simulator"
)

// inbox collects what the simulator sends, as the engine's inbox would.
type inbox struct {
	mu     sync.Mutex
	events []*refundry.GatewayEvent
}

func (in *inbox) receive(_ context.Context, ev *refundry.GatewayEvent) (bool, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.events {
		if e.EventID == ev.EventID {
			return true, nil
		}
	}
	in.events = append(in.events, ev)
	return false, nil
}

// wait returns the reports of the first n events, parsed as the engine's
// worker parses them, once they have arrived.
func (in *inbox) wait(t *testing.T, n int, within time.Duration) []refundry.GatewayReport {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		in.mu.Lock()
		evs := append([]*refundry.GatewayEvent(nil), in.events...)
		in.mu.Unlock()
		if len(evs) >= n {
			var out []refundry.GatewayReport
			for _, ev := range evs {
				if ev.Gateway != refundry.GatewaySimulator || ev.EventID == "" || ev.Type == "" {
					t.Fatalf("event %+v: want the simulator's, with an id and a type", ev)
				}
				reps, err := simulator.ParseEvent(ev.Payload)
				if err != nil || len(reps) != 1 {
					t.Fatalf("ParseEvent(%s) = %v, %v; want one report", ev.Payload, reps, err)
				}
				out = append(out, reps[0])
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events after %v, want %d", len(evs), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.events)
}

func payment(ref string, amount int64) *refundry.Transaction {
	return &refundry.Transaction{ID: "txn_" + ref, Gateway: refundry.GatewaySimulator, Reference: ref, Amount: amount, Currency: "USD"}
}

func TestLateFailure(t *testing.T) {
	for _, tt := range []struct {
		name, ref string
		event     bool
	}{
		{"Event", "sim_late_fail_1", true},
		{"Silent", "sim_late_fail_silent_1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := simulator.New()
			defer g.Close()
			in := &inbox{}
			g.Events = in.receive
			ctx := context.Background()
			tr := payment(tt.ref, 3500)
			g.PaymentRecorded(ctx, tr)
			res, err := g.Refund(ctx, refundry.GatewayRefund{RefundID: "rf1", Transaction: tr, Amount: 500, Currency: "USD", Created: time.Now()})
			if err != nil || res.Status != refundry.RefundSucceeded {
				t.Fatalf("Refund = %+v, %v; want succeeded at once", res, err)
			}
			reps, err := g.ListRefunds(ctx, tt.ref)
			if err != nil || len(reps) != 1 || reps[0].Status != refundry.RefundSucceeded || reps[0].RefundID != "rf1" || reps[0].GatewayRefundID != res.GatewayRefundID {
				t.Fatalf("ListRefunds at once = %+v, %v; want rf1 succeeded", reps, err)
			}
			if tt.event {
				got := in.wait(t, 1, 3*time.Second)[0].Refund
				if got == nil || got.Status != refundry.RefundFailed || got.FailureReason != simulator.LateFailReason ||
					got.RefundID != "rf1" || got.Amount != 500 || got.ChargeIDs[0] != tt.ref {
					t.Fatalf("event report = %+v, want rf1 failed (the card was closed)", got)
				}
			} else {
				time.Sleep(simulator.LateFailDelay + 200*time.Millisecond)
				if n := in.count(); n != 0 {
					t.Fatalf("%d events sent, want none", n)
				}
			}
			reps, err = g.ListRefunds(ctx, tt.ref)
			if err != nil || len(reps) != 1 || reps[0].Status != refundry.RefundFailed || reps[0].FailureReason != simulator.LateFailReason {
				t.Fatalf("ListRefunds later = %+v, %v; want rf1 failed", reps, err)
			}
		})
	}
}

func TestGatewayRefund(t *testing.T) {
	for _, tt := range []struct {
		name, ref string
		event     bool
	}{
		{"Event", "sim_gateway_refund_500_a", true},
		{"Silent", "sim_gateway_refund_silent_500_a", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := simulator.New()
			defer g.Close()
			in := &inbox{}
			g.Events = in.receive
			ctx := context.Background()
			g.PaymentRecorded(ctx, payment(tt.ref, 3500))
			reps, err := g.ListRefunds(ctx, tt.ref)
			want := refundry.RefundReport{Gateway: refundry.GatewaySimulator, ChargeIDs: []string{tt.ref}, GatewayRefundID: "sim_gw_txn_" + tt.ref,
				Amount: 500, Currency: "USD", Status: refundry.RefundSucceeded}
			if err != nil || len(reps) != 1 {
				t.Fatalf("ListRefunds = %+v, %v; want the gateway's refund", reps, err)
			}
			got := reps[0]
			got.Created = time.Time{}
			if got.GatewayRefundID != want.GatewayRefundID || got.Amount != 500 || got.RefundID != "" || got.Status != want.Status || got.Currency != "USD" {
				t.Fatalf("listed %+v, want %+v", got, want)
			}
			if tt.event {
				ev := in.wait(t, 1, 2*time.Second)[0].Refund
				if ev == nil || ev.GatewayRefundID != want.GatewayRefundID || ev.Amount != 500 || ev.RefundID != "" {
					t.Fatalf("event report = %+v, want the gateway's refund of 500", ev)
				}
			} else {
				time.Sleep(simulator.EventDelay + 200*time.Millisecond)
				if n := in.count(); n != 0 {
					t.Fatalf("%d events sent, want none", n)
				}
			}
		})
	}
}

func TestDispute(t *testing.T) {
	for _, tt := range []struct {
		ref    string
		closed string // "" stays open
	}{
		{"sim_dispute_open_1", ""},
		{"sim_dispute_won_1", refundry.DisputeWon},
		{"sim_dispute_lost_1", refundry.DisputeLost},
	} {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			g := simulator.New()
			defer g.Close()
			in := &inbox{}
			g.Events = in.receive
			g.PaymentRecorded(context.Background(), payment(tt.ref, 3500))
			n := 1
			if tt.closed != "" {
				n = 2
			}
			reps := in.wait(t, n, 4*time.Second)
			opened := reps[0].Dispute
			if opened == nil || opened.Status != refundry.DisputeNeedsResponse || opened.Amount != 3500 || opened.Currency != "USD" ||
				opened.ChargeIDs[0] != tt.ref || opened.GatewayDisputeID == "" {
				t.Fatalf("first report = %+v, want a dispute of the whole payment, needs_response", opened)
			}
			if tt.closed != "" {
				if c := reps[1].Dispute; c == nil || c.Status != tt.closed || c.GatewayDisputeID != opened.GatewayDisputeID {
					t.Fatalf("second report = %+v, want the dispute %s", c, tt.closed)
				}
			} else {
				time.Sleep(simulator.DisputeCloseDelay + 300*time.Millisecond)
				if got := in.count(); got != 1 {
					t.Fatalf("%d events, want the opening alone", got)
				}
			}
		})
	}
}

// Events of a simulator closed before they were due are never sent: they
// are left to reconciliation, as after a restart.
func TestCloseStopsEvents(t *testing.T) {
	g := simulator.New()
	in := &inbox{}
	g.Events = in.receive
	g.PaymentRecorded(context.Background(), payment("sim_dispute_lost_x", 100))
	g.Close()
	time.Sleep(simulator.EventDelay + 200*time.Millisecond)
	if n := in.count(); n != 0 {
		t.Fatalf("%d events after Close, want none", n)
	}
}

func TestListRefunds_ErrUnknownPayment(t *testing.T) {
	g := simulator.New()
	_, err := g.ListRefunds(context.Background(), "pay-never-seen")
	if refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE: the simulator does not remember it", err)
	}
}

func TestParseEvent(t *testing.T) {
	for _, tt := range []struct {
		name, payload string
		code          string // "" parses
		reports       int
	}{
		{"UnknownType", `{"id":"evt_1","type":"payout.paid"}`, "", 0},
		{"NotJSON", `{"id":`, refundry.EINVALID, 0},
		{"RefundWithoutAmount", `{"id":"evt_1","type":"refund.failed","refund":{"id":"sim_1","payment":"p","status":"failed"}}`, refundry.EINVALID, 0},
		{"RefundMissing", `{"id":"evt_1","type":"refund.created"}`, refundry.EINVALID, 0},
		{"DisputeWithoutPayment", `{"id":"evt_1","type":"dispute.created","dispute":{"id":"d","amount":5,"status":"lost"}}`, refundry.EINVALID, 0},
		{"Refund", `{"id":"evt_1","type":"refund.created","refund":{"id":"sim_gw_1","payment":"p","amount":5,"currency":"USD","status":"succeeded"}}`, "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reps, err := simulator.ParseEvent([]byte(tt.payload))
			if refundry.ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if len(reps) != tt.reports {
				t.Fatalf("%d reports, want %d", len(reps), tt.reports)
			}
		})
	}
}

// A refund asked for a payment whose sale this simulator did not see
// recorded (one made before a restart) is not listed as if it were all:
// the payment is unknown, so refunds of it made before are not called
// missing.
func TestListRefunds_ErrPaymentRecordedElsewhere(t *testing.T) {
	g := simulator.New()
	tr := payment("pay-before-restart", 1000)
	if _, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "rf1", Transaction: tr, Amount: 100, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.ListRefunds(context.Background(), tr.Reference); refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE", err)
	}
}
