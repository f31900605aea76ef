package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// RunInbox runs the tests of the gateway event inbox (ReceiveGatewayEvent,
// ClaimGatewayEvents, FinishGatewayEvent, CountGatewayEvents). A claim
// takes the oldest events of every gateway, so open must return a
// database of the test's own, empty, as RunRecovery's does.
func RunInbox(t *testing.T, open Opener) {
	ctx := context.Background()

	event := func(id, typ string) *refundry.GatewayEvent {
		return &refundry.GatewayEvent{Gateway: refundry.GatewayStripe, EventID: id, Type: typ,
			Payload: []byte(fmt.Sprintf(`{"id": %q, "type": %q}`, id, typ))}
	}
	receive := func(t *testing.T, s refundry.Store, ev *refundry.GatewayEvent) bool {
		t.Helper()
		dup, err := s.ReceiveGatewayEvent(ctx, ev)
		if err != nil {
			t.Fatalf("ReceiveGatewayEvent %s: %v", ev.EventID, err)
		}
		return dup
	}
	claim := func(t *testing.T, s refundry.Store, now time.Time, limit int) []*refundry.GatewayEvent {
		t.Helper()
		evs, err := s.ClaimGatewayEvents(ctx, now, time.Minute, limit)
		if err != nil {
			t.Fatalf("ClaimGatewayEvents: %v", err)
		}
		return evs
	}
	count := func(t *testing.T, s refundry.Store) map[string]int64 {
		t.Helper()
		n, err := s.CountGatewayEvents(ctx)
		if err != nil {
			t.Fatalf("CountGatewayEvents: %v", err)
		}
		return n
	}

	// A redelivered event (same gateway, same event id) changes nothing:
	// the first copy stays, with its payload, and is claimed once.
	t.Run("DuplicateReceiveChangesNothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := event("evt_dup", "refund.updated")
		if receive(t, s, first) {
			t.Fatal("first delivery reported as a duplicate")
		}
		if first.ID == "" || first.Received.IsZero() {
			t.Fatalf("stored event has no id or time: %+v", first)
		}
		again := event("evt_dup", "refund.failed")
		again.Payload = []byte(`{"changed": true}`)
		if !receive(t, s, again) {
			t.Fatal("redelivery not reported as a duplicate")
		}
		if again.ID != first.ID {
			t.Errorf("duplicate names id %s, want the first copy's %s", again.ID, first.ID)
		}
		// Another gateway may use the same event id.
		other := event("evt_dup", "refund.updated")
		other.Gateway = refundry.GatewaySimulator
		if receive(t, s, other) {
			t.Error("the same id from another gateway reported as a duplicate")
		}
		if got := count(t, s); got[""] != 2 || len(got) != 1 {
			t.Errorf("counts = %v, want 2 unapplied", got)
		}
		evs := claim(t, s, time.Now(), 10)
		if len(evs) != 2 {
			t.Fatalf("claimed %d events, want 2", len(evs))
		}
		for _, ev := range evs {
			if ev.Gateway == refundry.GatewayStripe && (ev.Type != "refund.updated" || string(ev.Payload) != string(first.Payload)) {
				t.Errorf("stored event changed by its redelivery: %s %s", ev.Type, ev.Payload)
			}
		}
	})

	// A claim leases what it took: a second claim within the lease gets
	// nothing, one after it gets the events again with their attempts
	// counted; oldest first, up to the limit.
	t.Run("ClaimLeases", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a, b := event("evt_a", "refund.created"), event("evt_b", "charge.dispute.created")
		receive(t, s, a)
		receive(t, s, b)
		now := time.Now()
		got := claim(t, s, now, 1)
		if len(got) != 1 || got[0].ID != a.ID || got[0].Attempts != 1 || !got[0].Applied.IsZero() {
			t.Fatalf("first claim = %+v, want the oldest, attempt 1", got)
		}
		if got[0].EventID != "evt_a" || got[0].Type != "refund.created" || string(got[0].Payload) != string(a.Payload) ||
			!got[0].Received.Equal(a.Received) {
			t.Errorf("claimed event does not read back as stored: %+v", got[0])
		}
		got = claim(t, s, now, 10)
		if len(got) != 1 || got[0].ID != b.ID {
			t.Fatalf("second claim = %+v, want only the one not leased", got)
		}
		if got := claim(t, s, now.Add(30*time.Second), 10); len(got) != 0 {
			t.Fatalf("claim within the lease took %d events", len(got))
		}
		got = claim(t, s, now.Add(time.Minute+time.Second), 10)
		if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || got[0].Attempts != 2 {
			t.Fatalf("claim after the lease = %+v, want both again, oldest first, attempt 2", got)
		}
	})

	// Finishing records the outcome: the event is never claimed again and
	// is counted under its outcome.
	t.Run("FinishRecordsOutcome", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
			receive(t, s, event(id, "refund.updated"))
		}
		now := time.Now()
		evs := claim(t, s, now, 2)
		if len(evs) != 2 {
			t.Fatalf("claimed %d, want 2", len(evs))
		}
		evs[0].Outcome, evs[0].MerchantID = refundry.OutcomeCorrected, "m_1"
		evs[1].Outcome, evs[1].Detail = refundry.OutcomeUnknownCharge, "No merchant has charge ch_1."
		for _, ev := range evs {
			if err := s.FinishGatewayEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if ev.Applied.IsZero() {
				t.Error("finished event has no applied time")
			}
		}
		want := map[string]int64{"": 1, refundry.OutcomeCorrected: 1, refundry.OutcomeUnknownCharge: 1}
		if got := count(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("counts = %v, want %v", got, want)
		}
		// Long after every lease: only the unfinished one comes back.
		got := claim(t, s, now.Add(time.Hour), 10)
		if len(got) != 1 || got[0].EventID != "evt_3" {
			t.Fatalf("claim after finishing = %+v, want evt_3 alone", got)
		}
		// A second finish (a worker whose lease ran out) keeps the first outcome.
		late := *evs[0]
		late.Outcome, late.Applied = refundry.OutcomeIgnored, time.Time{}
		if err := s.FinishGatewayEvent(ctx, &late); err != nil {
			t.Fatal(err)
		}
		if got := count(t, s); got[refundry.OutcomeCorrected] != 1 || got[refundry.OutcomeIgnored] != 0 {
			t.Errorf("a second finish changed the outcome: %v", got)
		}
		missing := &refundry.GatewayEvent{ID: refundry.NewID(), Outcome: refundry.OutcomeIgnored}
		wantCode(t, s.FinishGatewayEvent(ctx, missing), refundry.ENOTFOUND)
	})

	// Claims running at once never hand one event to two workers.
	t.Run("ConcurrentClaimsShare", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const n = 30
		for i := range n {
			receive(t, s, event(fmt.Sprintf("evt_c%02d", i), "refund.updated"))
		}
		now := time.Now()
		var (
			mu    sync.Mutex
			seen  = map[string]int{}
			wg    sync.WaitGroup
			errs  = make(chan error, 4)
			total int
		)
		for range 4 {
			wg.Go(func() {
				for {
					evs, err := s.ClaimGatewayEvents(ctx, now, time.Minute, 3)
					if err != nil {
						errs <- err
						return
					}
					if len(evs) == 0 {
						return
					}
					mu.Lock()
					for _, ev := range evs {
						seen[ev.ID]++
						total++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if total != n || len(seen) != n {
			t.Fatalf("claimed %d events (%d distinct), want each of %d once", total, len(seen), n)
		}
	})
}
