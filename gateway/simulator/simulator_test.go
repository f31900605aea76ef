package simulator_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

// The call log holds every call before its answer, each answer paired
// with its call, from a file that two simulators (two lives of a server)
// append to in turn; a log that cannot be written fails the call rather
// than letting it through unlogged.
func TestCallLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	req := refundry.GatewayRefund{RefundID: "r1", Amount: 700, Currency: "USD", Transaction: &refundry.Transaction{ID: "t1", Reference: "pay-1"}}
	for range 2 {
		g := simulator.New()
		if err := g.LogCalls(path); err != nil {
			t.Fatal(err)
		}
		if r, err := g.Refund(ctx, req); err != nil || r.Status != refundry.RefundSucceeded {
			t.Fatalf("Refund = %+v, %v", r, err)
		}
		if _, err := g.Cancel(ctx, req); refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Fatalf("Cancel of a refund made: %v", err)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Refund(ctx, req); err == nil {
			t.Fatal("a call went through after its log was closed")
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var calls []simulator.Call
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var c simulator.Call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		calls = append(calls, c)
	}
	want := []struct {
		op     string
		seq    int64
		status string
		failed bool
	}{
		{simulator.OpRefund, 1, "", false}, {simulator.OpAnswer, 1, refundry.RefundSucceeded, false},
		{simulator.OpCancel, 2, "", false}, {simulator.OpAnswer, 2, "", true},
	}
	if len(calls) != 2*len(want) {
		t.Fatalf("%d lines, want %d: %s", len(calls), 2*len(want), raw)
	}
	for i, c := range calls {
		w := want[i%len(want)]
		if c.Op != w.op || c.Seq != w.seq || c.Status != w.status || (c.Error != "") != w.failed || c.Key != "r1" || c.PID != os.Getpid() || c.At.IsZero() {
			t.Errorf("line %d = %+v, want %+v", i, c, w)
		}
		if c.Op != simulator.OpAnswer && (c.Amount != 700 || c.Currency != "USD" || c.Transaction != "t1") {
			t.Errorf("line %d = %+v: the call's request is not all there", i, c)
		}
	}
}
