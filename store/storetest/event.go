package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/refundry/refundry"
)

func testEvents(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
		partial := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(500))).Refunds[0]
		if _, err := s.SettleRefund(ctx, m.ID, partial.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
			t.Fatal(err)
		}
		rest := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil)).Refunds // 500 on T1, 2500 on T2

		events := listEvents(t, s, m.ID, refundry.EventFilter{})
		checkEventTypes(t, events,
			refundry.EventSaleRefunded, refundry.EventRefundCreated, refundry.EventRefundCreated,
			refundry.EventRefundSucceeded, refundry.EventRefundCreated, refundry.EventSaleCreated)
		for _, e := range events {
			checkID(t, "event.ID", e.ID)
			checkTime(t, "event.Created", e.Created)
			if e.MerchantID != m.ID {
				t.Fatalf("event MerchantID = %q", e.MerchantID)
			}
		}

		// Data is the object just after the change.
		var created refundry.Sale
		decode(t, events[5], "sale", sale.ID, &created)
		if created.Amount != 3500 || created.RefundedAmount != 0 || len(created.Transactions) != 2 {
			t.Fatalf("sale.created data = %+v", created)
		}
		var succeeded refundry.Refund
		decode(t, events[3], "refund", partial.ID, &succeeded)
		if succeeded.Status != refundry.RefundSucceeded {
			t.Fatalf("refund.succeeded data status = %s", succeeded.Status)
		}
		var r refundry.Refund
		decode(t, events[2], "refund", rest[0].ID, &r)
		if r.Status != refundry.RefundPending || r.Amount != 500 {
			t.Fatalf("refund.created data = %+v", r)
		}
		decode(t, events[1], "refund", rest[1].ID, &r)
		var refunded refundry.Sale
		decode(t, events[0], "sale", sale.ID, &refunded)
		if refunded.Status != refundry.PaymentRefunded || refunded.RefundedAmount != 3500 {
			t.Fatalf("sale.refunded data = %+v", refunded)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		theirs := MustCreateSale(t, s, other.ID)
		a := MustCreateSale(t, s, m.ID)
		b := MustCreateSale(t, s, m.ID)
		r := MustRefund(t, s, SaleRefund(m.ID, b.ID, Amount(100))).Refunds[0]
		for _, tt := range []struct {
			name string
			f    refundry.EventFilter
			want []string // object ids, newest first
		}{
			{"All", refundry.EventFilter{}, []string{r.ID, b.ID, a.ID}},
			{"Type", refundry.EventFilter{Types: []string{refundry.EventSaleCreated}}, []string{b.ID, a.ID}},
			{"Types", refundry.EventFilter{Types: []string{refundry.EventRefundCreated, refundry.EventSaleRefunded}}, []string{r.ID}},
			{"Object", refundry.EventFilter{ObjectID: a.ID}, []string{a.ID}},
			{"ObjectAndType", refundry.EventFilter{ObjectID: a.ID, Types: []string{refundry.EventRefundCreated}}, nil},
			{"OtherMerchantObject", refundry.EventFilter{ObjectID: theirs.ID}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, more, err := s.ListEvents(ctx, m.ID, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, e := range got {
					ids = append(ids, e.ObjectID)
				}
				checkIDs(t, ids, tt.want)
				if more {
					t.Fatal("hasMore = true")
				}
			})
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		for range 5 {
			MustCreateSale(t, s, m.ID)
		}
		all := listEvents(t, s, m.ID, refundry.EventFilter{})
		if len(all) != 5 {
			t.Fatalf("%d events, want 5", len(all))
		}
		var ids []string
		for _, e := range all {
			ids = append(ids, e.ID)
		}
		for _, tt := range []struct {
			name string
			page refundry.Page
			want []string
			more bool
		}{
			{"First", refundry.Page{Limit: 2}, ids[:2], true},
			{"StartingAfter", refundry.Page{Limit: 2, StartingAfter: ids[1]}, ids[2:4], true},
			{"StartingAfterLast", refundry.Page{Limit: 2, StartingAfter: ids[3]}, ids[4:], false},
			{"EndingBefore", refundry.Page{Limit: 2, EndingBefore: ids[4]}, ids[2:4], true},
			{"EndingBeforeFirst", refundry.Page{Limit: 2, EndingBefore: ids[2]}, ids[:2], false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, more, err := s.ListEvents(ctx, m.ID, refundry.EventFilter{Page: tt.page})
				if err != nil {
					t.Fatal(err)
				}
				var gotIDs []string
				for _, e := range got {
					gotIDs = append(gotIDs, e.ID)
				}
				checkIDs(t, gotIDs, tt.want)
				if more != tt.more {
					t.Fatalf("hasMore = %v, want %v", more, tt.more)
				}
			})
		}
	})
}

// listEvents returns every event the filter matches, newest first, walking
// the pages.
func listEvents(tb testing.TB, s refundry.Store, merchantID string, f refundry.EventFilter) []*refundry.Event {
	tb.Helper()
	f.Limit = refundry.MaxPageLimit
	var out []*refundry.Event
	for {
		page, more, err := s.ListEvents(context.Background(), merchantID, f)
		if err != nil {
			tb.Fatalf("ListEvents: %v", err)
		}
		out = append(out, page...)
		if !more || len(page) == 0 {
			return out
		}
		f.StartingAfter = page[len(page)-1].ID
	}
}

// checkEventTypes fails unless events have exactly the given types, in order.
func checkEventTypes(tb testing.TB, events []*refundry.Event, types ...string) {
	tb.Helper()
	var got []string
	for _, e := range events {
		got = append(got, e.Type)
	}
	checkIDs(tb, got, types)
}

func decode(tb testing.TB, e *refundry.Event, objectType, objectID string, v any) {
	tb.Helper()
	if e.ObjectType != objectType || e.ObjectID != objectID {
		tb.Fatalf("event %s is about %s %s, want %s %s", e.Type, e.ObjectType, e.ObjectID, objectType, objectID)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		tb.Fatalf("event %s data: %v", e.Type, err)
	}
}
