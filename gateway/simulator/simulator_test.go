package simulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/simulator"
)

func TestModes(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, ref string
		after     time.Duration // when asked, after the refund was recorded
		want      string
	}{
		{"OK", "pay-1", 0, refundry.RefundSucceeded},
		{"Fail", "sim_fail_card", 0, refundry.RefundFailed},
		{"PendingHeld", "sim_pending", time.Hour, refundry.RefundPending},
		{"TimedBefore", "sim_pending_2s-x", time.Second, refundry.RefundPending},
		{"TimedAfter", "sim_pending_2s-x", 2 * time.Second, refundry.RefundSucceeded},
		{"TimedFailBefore", "sim_pending_2s_fail-x", time.Second, refundry.RefundPending},
		{"TimedFailAfter", "sim_pending_2s_fail-x", 3 * time.Second, refundry.RefundFailed},
		{"BadDurationHeld", "sim_pending_soon", time.Hour, refundry.RefundPending},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := simulator.New()
			g.Now = func() time.Time { return created.Add(tt.after) }
			req := refundry.GatewayRefund{RefundID: "r1", Amount: 700, Created: created, Transaction: &refundry.Transaction{Reference: tt.ref}}
			got, err := g.Refund(context.Background(), req)
			if err != nil || got.Status != tt.want {
				t.Fatalf("Refund = %+v, %v; want %s", got, err, tt.want)
			}
			if tt.want == refundry.RefundFailed && got.FailureReason == "" {
				t.Error("a declined refund needs a reason")
			}
			wantMoved := int64(0)
			if tt.want == refundry.RefundSucceeded {
				wantMoved = 700
			}
			// Asked again, the answer holds and money moves once.
			again, _ := g.Refund(context.Background(), req)
			if again.Status != got.Status || g.Moved("r1") != wantMoved {
				t.Fatalf("again = %+v, moved %d", again, g.Moved("r1"))
			}
		})
	}
}

func TestHangUntilDeadline(t *testing.T) {
	g := simulator.New()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := g.Refund(ctx, refundry.GatewayRefund{RefundID: "r1", Transaction: &refundry.Transaction{Reference: "sim_hang"}})
	if err == nil {
		t.Fatal("a hanging gateway answered")
	}
}

func TestSettleAndCancel(t *testing.T) {
	ctx := context.Background()
	g := simulator.New()
	held := refundry.GatewayRefund{RefundID: "held", Amount: 5, Transaction: &refundry.Transaction{Reference: "sim_pending"}}
	if r, _ := g.Refund(ctx, held); r.Status != refundry.RefundPending {
		t.Fatalf("status %s", r.Status)
	}
	if !g.Settle("held", refundry.RefundSucceeded) || g.Settle("held", refundry.RefundFailed) {
		t.Fatal("Settle must decide a held refund once")
	}
	if _, err := g.Cancel(ctx, held); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("cancel of a settled refund: %v", err)
	}
	other := refundry.GatewayRefund{RefundID: "other", Transaction: &refundry.Transaction{Reference: "sim_pending"}}
	_, _ = g.Refund(ctx, other)
	if r, err := g.Cancel(ctx, other); err != nil || r.Status != refundry.RefundCanceled {
		t.Fatalf("cancel of a held refund: %+v, %v", r, err)
	}
	if r, _ := g.Refund(ctx, other); r.Status != refundry.RefundCanceled || g.Moved("other") != 0 {
		t.Fatalf("a canceled refund moved: %+v", r)
	}
}
