package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// returnSale stores a sale of 3 widgets at 10.00 and 2 gadgets at 5.00.
func returnSale(tb testing.TB, s refundry.Store, merchantID string) *refundry.Sale {
	tb.Helper()
	sale := NewSale(merchantID)
	sale.LineItems = []*refundry.LineItem{
		{Name: "Widget", Quantity: 3, UnitAmount: 1000},
		{Name: "Gadget", Quantity: 2, UnitAmount: 500},
	}
	sale.Transactions[0].Amount = 0
	if _, err := s.CreateSale(context.Background(), sale, nil); err != nil {
		tb.Fatalf("CreateSale: %v", err)
	}
	return sale
}

func newReturn(merchantID string, sale *refundry.Sale, quantities ...int64) *refundry.Return {
	r := &refundry.Return{MerchantID: merchantID, SaleID: sale.ID, Reason: "damaged", Description: "box crushed"}
	for i, q := range quantities {
		if q > 0 {
			r.Lines = append(r.Lines, refundry.ReturnLine{LineItemID: sale.LineItems[i].ID, Quantity: q})
		}
	}
	return r
}

// moveReturn takes the stored return to status as the engine does.
func moveReturn(tb testing.TB, s refundry.Store, r *refundry.Return, to string) error {
	tb.Helper()
	from := r.Status
	if _, err := r.Move(to, time.Now()); err != nil {
		tb.Fatalf("Move %s -> %s: %v", from, to, err)
	}
	return s.UpdateReturn(context.Background(), r, from)
}

func testReturns(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		r := newReturn(m.ID, sale, 2, 1)
		if replayed, err := s.CreateReturn(ctx, r, nil); err != nil || replayed {
			t.Fatalf("CreateReturn: %v %v", replayed, err)
		}
		if !refundry.ValidID(r.ID) || r.Status != refundry.ReturnRequested || len(r.RefundIDs) != 0 {
			t.Fatalf("created %+v", r)
		}
		checkTime(t, "created", r.Created)
		got, err := s.FindReturn(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "found return", got, r)
		events := listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: r.ID})
		checkEventTypes(t, events, refundry.EventReturnCreated)
		var snap refundry.Return
		decode(t, events[0], "return", r.ID, &snap)
		if snap.Status != refundry.ReturnRequested || len(snap.Lines) != 2 || snap.Lines[0].Quantity != 2 {
			t.Fatalf("event data %+v", snap)
		}

		// requested -> received -> refunded, each step conditional on the
		// one before and appending its event.
		if err := moveReturn(t, s, r, refundry.ReturnReceived); err != nil {
			t.Fatal(err)
		}
		stale := *got
		stale.Status = refundry.ReturnRequested
		if _, err := stale.Move(refundry.ReturnCanceled, time.Now()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.UpdateReturn(ctx, &stale, refundry.ReturnRequested), refundry.ECONFLICT)
		r.RefundIDs = []string{refundry.NewID()}
		r.RestockingFee = 250
		if err := moveReturn(t, s, r, refundry.ReturnRefunded); err != nil {
			t.Fatal(err)
		}
		got, err = s.FindReturn(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != refundry.ReturnRefunded || got.RestockingFee != 250 || len(got.RefundIDs) != 1 || got.RefundIDs[0] != r.RefundIDs[0] {
			t.Fatalf("refunded return %+v", got)
		}
		checkTime(t, "received_at", got.ReceivedAt)
		checkTime(t, "refunded_at", got.RefundedAt)
		checkEventTypes(t, listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: r.ID}),
			refundry.EventReturnRefunded, refundry.EventReturnReceived, refundry.EventReturnCreated)

		// A step the table does not have is refused by the store too.
		bad := *got
		bad.Status = refundry.ReturnReceived
		wantCode(t, s.UpdateReturn(ctx, &bad, refundry.ReturnRefunded), refundry.ECONFLICT)
	})

	t.Run("Idempotency", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		key := idem("h1")
		first := newReturn(m.ID, sale, 3)
		if _, err := s.CreateReturn(ctx, first, key); err != nil {
			t.Fatal(err)
		}
		// The replay answers the first return, though its units are all
		// claimed now: it is the same request, not a second return.
		again := newReturn(m.ID, sale, 3)
		replayed, err := s.CreateReturn(ctx, again, key)
		if err != nil || !replayed || again.ID != first.ID {
			t.Fatalf("replay: %v %v %s != %s", replayed, err, again.ID, first.ID)
		}
		other := newReturn(m.ID, sale, 0, 1)
		_, err = s.CreateReturn(ctx, other, &refundry.Idempotency{Key: key.Key, Hash: "h2"})
		wantCode(t, err, refundry.EIDEMPOTENCY)
		list, _, err := s.ListReturns(ctx, m.ID, refundry.ReturnFilter{SaleID: sale.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("returns after replays: %d %v", len(list), err)
		}
	})

	t.Run("ErrClaimed", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		first := newReturn(m.ID, sale, 2)
		if _, err := s.CreateReturn(ctx, first, nil); err != nil {
			t.Fatal(err)
		}
		// Two of three widgets are claimed: a second return of two is
		// refused and leaves nothing behind.
		second := newReturn(m.ID, sale, 2)
		_, err := s.CreateReturn(ctx, second, nil)
		wantCode(t, err, refundry.EINVALID)
		if p := refundry.ErrorParam(err); p != "lines[0].quantity" {
			t.Fatalf("param %q", p)
		}
		if second.ID != "" {
			t.Fatalf("refused return has an id")
		}
		if n := len(listEvents(t, s, m.ID, refundry.EventFilter{Types: []string{refundry.EventReturnCreated}})); n != 1 {
			t.Fatalf("%d return.created events, want 1", n)
		}
		// Canceling the first frees its units.
		if err := moveReturn(t, s, first, refundry.ReturnCanceled); err != nil {
			t.Fatal(err)
		}
		third := newReturn(m.ID, sale, 3)
		if _, err := s.CreateReturn(ctx, third, nil); err != nil {
			t.Fatalf("after cancel: %v", err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		r := newReturn(m.ID, sale, 1)
		if _, err := s.CreateReturn(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		// Another merchant's sale and return are missing ones (invariant 5).
		_, err := s.FindReturn(ctx, other.ID, r.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		theirs := newReturn(other.ID, sale, 1)
		_, err = s.CreateReturn(ctx, theirs, nil)
		wantCode(t, err, refundry.ENOTFOUND)
		foreign := *r
		foreign.MerchantID = other.ID
		if _, err := foreign.Move(refundry.ReturnReceived, time.Now()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.UpdateReturn(ctx, &foreign, refundry.ReturnRequested), refundry.ENOTFOUND)
		list, _, err := s.ListReturns(ctx, other.ID, refundry.ReturnFilter{})
		if err != nil || len(list) != 0 {
			t.Fatalf("other merchant lists %d returns (%v)", len(list), err)
		}
		// A line of another sale is refused, naming the line.
		sale2 := returnSale(t, s, m.ID)
		mixed := newReturn(m.ID, sale, 1)
		mixed.Lines[0].LineItemID = sale2.LineItems[0].ID
		_, err = s.CreateReturn(ctx, mixed, nil)
		wantCode(t, err, refundry.EINVALID)
	})

	t.Run("List", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		a, b := returnSale(t, s, m.ID), returnSale(t, s, m.ID)
		var ids []string
		for _, sale := range []*refundry.Sale{a, a, b} {
			r := newReturn(m.ID, sale, 1)
			if _, err := s.CreateReturn(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		r0, _ := s.FindReturn(ctx, m.ID, ids[0])
		if err := moveReturn(t, s, r0, refundry.ReturnReceived); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			f    refundry.ReturnFilter
			want []string
		}{
			{"All", refundry.ReturnFilter{}, []string{ids[2], ids[1], ids[0]}},
			{"Sale", refundry.ReturnFilter{SaleID: a.ID}, []string{ids[1], ids[0]}},
			{"Status", refundry.ReturnFilter{Status: refundry.ReturnReceived}, []string{ids[0]}},
			{"SaleAndStatus", refundry.ReturnFilter{SaleID: b.ID, Status: refundry.ReturnRequested}, []string{ids[2]}},
			{"StartingAfter", refundry.ReturnFilter{Page: refundry.Page{StartingAfter: ids[2]}}, []string{ids[1], ids[0]}},
			{"EndingBefore", refundry.ReturnFilter{Page: refundry.Page{EndingBefore: ids[0]}}, []string{ids[2], ids[1]}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, _, err := s.ListReturns(ctx, m.ID, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var gotIDs []string
				for _, r := range got {
					gotIDs = append(gotIDs, r.ID)
				}
				checkIDs(t, gotIDs, tt.want)
			})
		}
		page, more, err := s.ListReturns(ctx, m.ID, refundry.ReturnFilter{Page: refundry.Page{Limit: 2}})
		if err != nil || len(page) != 2 || !more {
			t.Fatalf("limit 2: %d %v %v", len(page), more, err)
		}
		_, _, err = s.ListReturns(ctx, m.ID, refundry.ReturnFilter{Status: "lost"})
		wantCode(t, err, refundry.EINVALID)
	})

	// Once the return's refund is recorded, under the key the engine
	// makes it with, the return can no longer be canceled.
	t.Run("ErrCancelRefunding", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		r := newReturn(m.ID, sale, 1)
		if _, err := s.CreateReturn(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		if err := moveReturn(t, s, r, refundry.ReturnReceived); err != nil {
			t.Fatal(err)
		}
		req := SaleRefund(m.ID, sale.ID, Amount(1000))
		key := refundry.ReturnRefundKey(r.ID)
		req.Idempotency = &refundry.Idempotency{Key: key, Hash: key}
		MustRefund(t, s, req)
		c := *r
		if _, err := c.Move(refundry.ReturnCanceled, time.Now()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.UpdateReturn(ctx, &c, refundry.ReturnReceived), refundry.ECONFLICT)
		got, _ := s.FindReturn(ctx, m.ID, r.ID)
		if got.Status != refundry.ReturnReceived {
			t.Fatalf("status %s", got.Status)
		}
	})

	// A refund for a return is made only while the return is received,
	// checked in the refund's own transaction, and names its return when
	// read back, by every read.
	t.Run("RefundNamesReturn", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		r := newReturn(m.ID, sale, 1)
		if _, err := s.CreateReturn(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		req := SaleRefund(m.ID, sale.ID, nil)
		req.Lines = []refundry.LineRequest{{LineItemID: sale.LineItems[0].ID, Quantity: 1}}
		req.ReturnID = r.ID
		_, err := s.CreateRefunds(ctx, req)
		wantCode(t, err, refundry.ECONFLICT) // requested, not received
		if err := moveReturn(t, s, r, refundry.ReturnReceived); err != nil {
			t.Fatal(err)
		}
		other := req
		other.ReturnID = refundry.NewID()
		_, err = s.CreateRefunds(ctx, other)
		wantCode(t, err, refundry.ENOTFOUND)
		res := MustRefund(t, s, req)
		if got := res.Refunds[0].ReturnID; got != r.ID {
			t.Fatalf("created refund names return %q", got)
		}
		found, err := s.FindRefund(ctx, m.ID, res.Refunds[0].ID)
		if err != nil || found.ReturnID != r.ID {
			t.Fatalf("found refund names return %q (%v)", found.ReturnID, err)
		}
		list, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
		if err != nil || len(list) != 1 || list[0].ReturnID != r.ID {
			t.Fatalf("listed refunds %v (%v)", list, err)
		}
		settled, err := s.SettleRefund(ctx, m.ID, res.Refunds[0].ID, refundry.Settlement{Status: refundry.RefundSucceeded})
		if err != nil || settled.ReturnID != r.ID {
			t.Fatalf("settled refund names return %q (%v)", settled.ReturnID, err)
		}
		// A canceled return's refund is refused, and nothing moves.
		r2 := newReturn(m.ID, sale, 1)
		if _, err := s.CreateReturn(ctx, r2, nil); err != nil {
			t.Fatal(err)
		}
		if err := moveReturn(t, s, r2, refundry.ReturnReceived); err != nil {
			t.Fatal(err)
		}
		if err := moveReturn(t, s, r2, refundry.ReturnCanceled); err != nil {
			t.Fatal(err)
		}
		before := MustFindSale(t, s, m.ID, sale.ID)
		req.ReturnID = r2.ID
		_, err = s.CreateRefunds(ctx, req)
		wantCode(t, err, refundry.ECONFLICT)
		if after := MustFindSale(t, s, m.ID, sale.ID); after.RefundedAmount != before.RefundedAmount {
			t.Fatalf("a canceled return's refund moved %d", after.RefundedAmount-before.RefundedAmount)
		}
	})

	// Concurrent returns of one unit each: exactly as many succeed as the
	// line has units, however the requests interleave.
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := returnSale(t, s, m.ID)
		const clients = 12
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.CreateReturn(ctx, newReturn(m.ID, sale, 1), nil)
				mu.Lock()
				defer mu.Unlock()
				switch refundry.ErrorCode(err) {
				case "":
					ok++
				case refundry.EINVALID:
					refused++
				default:
					t.Errorf("CreateReturn: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != 3 || refused != clients-3 {
			t.Fatalf("%d returns made, %d refused; want 3 and %d", ok, refused, clients-3)
		}
	})
}
