package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// failingReports is a report store whose database does not answer.
type failingReports struct{ refundry.ReportStore }

func (failingReports) ApplyRefundReport(context.Context, refundry.RefundReport) (*refundry.ReportResult, error) {
	return nil, &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is down."}
}

func (failingReports) ApplyDisputeReport(context.Context, refundry.DisputeReport) (*refundry.ReportResult, error) {
	return nil, &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is down."}
}

func TestApplyGatewayEvents(t *testing.T) {
	ctx := context.Background()
	report := refundry.GatewayReport{Refund: &refundry.RefundReport{Gateway: "test", ChargeIDs: []string{"ch_nobody"},
		GatewayRefundID: "re_1", Amount: 100, Currency: "USD", Status: refundry.RefundSucceeded}}
	for _, tt := range []struct {
		name    string
		parser  bool
		reports []refundry.GatewayReport
		parse   error
		down    bool
		outcome string // "" : left unapplied
	}{
		{"UnknownTypeIgnored", true, nil, nil, false, refundry.OutcomeIgnored},
		{"ParseErrorMalformed", true, nil, refundry.Errorf(refundry.EINVALID, "not an event"), false, refundry.OutcomeMalformed},
		{"NoParserIgnored", false, nil, nil, false, refundry.OutcomeIgnored},
		{"DatabaseDownLeavesIt", true, []refundry.GatewayReport{report}, nil, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := testenv.New(t)
			if tt.down {
				env.Engine.Stores.Reports = failingReports{env.Store}
			}
			if tt.parser {
				env.Engine.EventParsers["test"] = func([]byte) ([]refundry.GatewayReport, error) { return tt.reports, tt.parse }
			}
			ev := &refundry.GatewayEvent{Gateway: "test", EventID: "evt_1", Type: "some.type", Payload: []byte(`{}`)}
			if dup, err := env.Engine.ReceiveGatewayEvent(ctx, ev); err != nil || dup {
				t.Fatalf("receive = %v, %v", dup, err)
			}
			n, err := env.Engine.ApplyGatewayEvents(ctx, 10)
			counts, cerr := env.Engine.CountGatewayEvents(ctx)
			if cerr != nil {
				t.Fatal(cerr)
			}
			if tt.outcome == "" {
				if err == nil || n != 0 || counts[""] != 1 {
					t.Fatalf("apply with the database down = %d, %v; counts %v, want an error and the event left", n, err, counts)
				}
				// Not claimed again within its lease: the next worker waits it out.
				if n, err := env.Engine.ApplyGatewayEvents(ctx, 10); n != 0 || err != nil {
					t.Fatalf("second pass within the lease = %d, %v", n, err)
				}
				return
			}
			if err != nil || n != 1 {
				t.Fatalf("ApplyGatewayEvents = %d, %v", n, err)
			}
			if counts[tt.outcome] != 1 || counts[""] != 0 {
				t.Fatalf("counts = %v, want one %s", counts, tt.outcome)
			}
		})
	}

	t.Run("InvalidEventNotStored", func(t *testing.T) {
		env := testenv.New(t)
		for _, ev := range []*refundry.GatewayEvent{
			{Gateway: "test", Type: "x"},
			{Gateway: "test", EventID: "evt_1"},
			{EventID: "evt_1", Type: "x"},
		} {
			if _, err := env.Engine.ReceiveGatewayEvent(ctx, ev); refundry.ErrorCode(err) != refundry.EINVALID {
				t.Errorf("receive %+v = %v, want EINVALID", ev, err)
			}
		}
		if counts, _ := env.Engine.CountGatewayEvents(ctx); len(counts) != 0 {
			t.Fatalf("invalid events stored: %v", counts)
		}
	})
}

// RunInbox applies an event as soon as it is received, not at its next
// interval.
func TestRunInboxWokenByReceive(t *testing.T) {
	env := testenv.New(t)
	var parsed atomic.Int32
	env.Engine.EventParsers["test"] = func([]byte) ([]refundry.GatewayReport, error) {
		parsed.Add(1)
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { env.Engine.RunInbox(ctx, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // past its first pass
	if _, err := env.Engine.ReceiveGatewayEvent(ctx, &refundry.GatewayEvent{Gateway: "test", EventID: "evt_w", Type: "t", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		counts, err := env.Engine.CountGatewayEvents(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if counts[refundry.OutcomeIgnored] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event not applied 5s after it was received (interval 1h): %v", counts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if parsed.Load() != 1 {
		t.Errorf("parsed %d times, want once", parsed.Load())
	}
}
