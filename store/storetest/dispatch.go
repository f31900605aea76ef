package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/refundry/refundry"
)

// DispatchConcurrently holds DispatchEvents to its contract across
// processes: a and b are two stores open on one database. While refunds
// are made through both, both dispatch, a few events a pass; once the
// writes stop and one last pass has run, every event has exactly one
// delivery to an endpoint that wants them all: none missed by a pass
// that ran while it was being committed, none made twice.
func DispatchConcurrently(t *testing.T, a, b refundry.Store) {
	ctx := context.Background()
	m := MustCreateMerchant(t, a)
	ep := MustCreateEndpoint(t, a, m.ID, refundry.AllEvents)
	stores := []refundry.Store{a, b}

	stop := make(chan struct{})
	var dispatchers sync.WaitGroup
	dispatchErrs := make([]error, len(stores))
	for i, s := range stores {
		dispatchers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.DispatchEvents(ctx, 7); err != nil {
					dispatchErrs[i] = err
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for i := range 4 {
		s := stores[i%2]
		writers.Go(func() {
			for range 8 {
				sale := NewSale(m.ID)
				if _, err := s.CreateSale(ctx, sale, nil); err != nil {
					t.Error(err)
					return
				}
				req := SaleRefund(m.ID, sale.ID, nil)
				req.Offsite = true // succeeds at once: three events
				if _, err := s.CreateRefunds(ctx, req); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	dispatchers.Wait()
	for i, err := range dispatchErrs {
		if err != nil {
			t.Fatalf("store %d dispatching: %v", i, err)
		}
	}
	for {
		n, err := b.DispatchEvents(ctx, refundry.MaxPageLimit)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}

	deliveries := map[string]int{} // by event
	p := refundry.Page{Limit: refundry.MaxPageLimit}
	for {
		ds, more, err := a.ListDeliveries(ctx, m.ID, ep.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			deliveries[d.EventID]++
		}
		if !more {
			break
		}
		p.StartingAfter = ds[len(ds)-1].ID
	}
	f := refundry.EventFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}}
	events := 0
	for {
		es, more, err := a.ListEvents(ctx, m.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Created.Before(ep.Created) {
				continue
			}
			events++
			if n := deliveries[e.ID]; n != 1 {
				t.Errorf("event %s (%s) has %d deliveries, want 1", e.ID, e.Type, n)
			}
		}
		if !more {
			break
		}
		f.StartingAfter = es[len(es)-1].ID
	}
	if events < 4*8*3 {
		t.Fatalf("%d events after the endpoint was made, want at least %d", events, 4*8*3)
	}
	if len(deliveries) != events {
		t.Fatalf("%d events have deliveries, want %d", len(deliveries), events)
	}
}
