package storetest

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
)

// testPages checks that every list refuses a page that Page.Normalize
// refuses, before looking anything up.
func testPages(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		id := refundry.NewID()
		for _, tt := range []struct {
			name string
			page refundry.Page
		}{
			{"LimitTooLarge", refundry.Page{Limit: refundry.MaxPageLimit + 1}},
			{"LimitNegative", refundry.Page{Limit: -1}},
			{"BothCursors", refundry.Page{StartingAfter: id, EndingBefore: id}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{Page: tt.page})
				wantCode(t, err, refundry.EINVALID)
				_, _, err = s.ListRefunds(ctx, m.ID, refundry.RefundFilter{Page: tt.page})
				wantCode(t, err, refundry.EINVALID)
				_, _, err = s.ListEvents(ctx, m.ID, refundry.EventFilter{Page: tt.page})
				wantCode(t, err, refundry.EINVALID)
			})
		}
	})
	t.Run("MaxLimit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(100000))
		for range refundry.MaxPageLimit + 1 {
			MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(1)))
		}
		got, more, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != refundry.MaxPageLimit || !more {
			t.Fatalf("%d refunds, hasMore %v; want %d and true", len(got), more, refundry.MaxPageLimit)
		}
		rest, more, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: got[len(got)-1].ID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != 1 || more {
			t.Fatalf("second page: %d refunds, hasMore %v; want 1 and false", len(rest), more)
		}
	})
}
