package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testListRefunds(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		MustRefund(t, s, SaleRefund(other.ID, MustCreateSale(t, s, other.ID).ID, nil)) // never listed

		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
		second := MustCreateSale(t, s, m.ID)
		// Refunds one by one, a few milliseconds apart, so that created
		// ranges have something to cut.
		step := func(req refundry.RefundRequest) []*refundry.Refund {
			time.Sleep(3 * time.Millisecond)
			return MustRefund(t, s, req).Refunds
		}
		split := step(SaleRefund(m.ID, sale.ID, Amount(1200))) // 1000 on T1, 200 on T2
		li := step(LineItemRefund(m.ID, sale.LineItems[1].ID, Amount(300)))[0]
		tx := step(TransactionRefund(m.ID, sale.Transactions[1].ID, Amount(400)))[0]
		offsiteReq := SaleRefund(m.ID, second.ID, Amount(50))
		offsiteReq.Offsite = true
		offsiteReq.Source = refundry.SourceDashboard
		off := step(offsiteReq)[0]
		failed := step(SaleRefund(m.ID, second.ID, Amount(60)))[0]
		if _, err := s.SettleRefund(ctx, m.ID, failed.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
			t.Fatal(err)
		}
		all := []*refundry.Refund{failed, off, tx, li, split[1], split[0]} // newest first

		ids := func(rs ...*refundry.Refund) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		createdIn := func(from, to time.Time) []string {
			var out []string
			for _, r := range all {
				if !r.Created.Before(from) && (to.IsZero() || r.Created.Before(to)) {
					out = append(out, r.ID)
				}
			}
			return out
		}
		for _, tt := range []struct {
			name string
			f    refundry.RefundFilter
			want []string
		}{
			{"All", refundry.RefundFilter{}, ids(all...)},
			{"Sale", refundry.RefundFilter{SaleID: sale.ID}, ids(tx, li, split[1], split[0])},
			{"Transaction", refundry.RefundFilter{TransactionID: sale.Transactions[1].ID}, ids(tx, li, split[1])},
			{"LineItem", refundry.RefundFilter{LineItemID: sale.LineItems[1].ID}, ids(li)},
			{"Group", refundry.RefundFilter{Group: split[0].Group}, ids(split[1], split[0])},
			{"StatusSucceeded", refundry.RefundFilter{Status: refundry.RefundSucceeded}, ids(off)},
			{"StatusFailed", refundry.RefundFilter{Status: refundry.RefundFailed}, ids(failed)},
			{"StatusPending", refundry.RefundFilter{Status: refundry.RefundPending}, ids(tx, li, split[1], split[0])},
			{"Source", refundry.RefundFilter{Source: refundry.SourceDashboard}, ids(off)},
			{"CreatedFrom", refundry.RefundFilter{CreatedFrom: tx.Created}, createdIn(tx.Created, time.Time{})},
			{"CreatedTo", refundry.RefundFilter{CreatedTo: tx.Created}, createdIn(time.Time{}, tx.Created)},
			{"CreatedRange", refundry.RefundFilter{CreatedFrom: li.Created, CreatedTo: off.Created}, createdIn(li.Created, off.Created)},
			{"Combined", refundry.RefundFilter{SaleID: sale.ID, Status: refundry.RefundPending, TransactionID: sale.Transactions[0].ID}, ids(split[0])},
			{"OtherMerchantSale", refundry.RefundFilter{SaleID: MustCreateSale(t, s, other.ID).ID}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, more, err := s.ListRefunds(ctx, m.ID, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				checkIDs(t, refundIDs(got), tt.want)
				if more {
					t.Fatal("hasMore = true")
				}
				for _, r := range got {
					if r.MerchantID != m.ID {
						t.Fatalf("refund %s has MerchantID %q", r.ID, r.MerchantID)
					}
				}
			})
		}
		// The created range must cut something, or the cases above prove
		// nothing about it.
		if n := len(createdIn(li.Created, off.Created)); n == 0 || n == len(all) {
			t.Fatalf("created range holds %d of %d refunds", n, len(all))
		}
		CheckInvariants(t, s, m.ID)
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		var ids []string // newest first
		for range 5 {
			ids = append([]string{MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(10))).Refunds[0].ID}, ids...)
		}
		for _, tt := range []struct {
			name string
			page refundry.Page
			want []string
			more bool
		}{
			{"All", refundry.Page{}, ids, false},
			{"First", refundry.Page{Limit: 2}, ids[:2], true},
			{"StartingAfter", refundry.Page{Limit: 2, StartingAfter: ids[1]}, ids[2:4], true},
			{"StartingAfterLast", refundry.Page{Limit: 2, StartingAfter: ids[3]}, ids[4:], false},
			{"EndingBefore", refundry.Page{Limit: 2, EndingBefore: ids[4]}, ids[2:4], true},
			{"EndingBeforeFirst", refundry.Page{Limit: 3, EndingBefore: ids[3]}, ids[:3], false},
			{"Exact", refundry.Page{Limit: 5}, ids, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, more, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{Page: tt.page, SaleID: sale.ID})
				if err != nil {
					t.Fatal(err)
				}
				checkIDs(t, refundIDs(got), tt.want)
				if more != tt.more {
					t.Fatalf("hasMore = %v, want %v", more, tt.more)
				}
			})
		}
	})
}

func testPendingRefunds(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		a := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		settled := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		if _, err := s.SettleRefund(ctx, m.ID, settled.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
			t.Fatal(err)
		}
		offsite := SaleRefund(m.ID, sale.ID, Amount(100))
		offsite.Offsite = true
		MustRefund(t, s, offsite)
		time.Sleep(2 * time.Millisecond)
		b := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		theirs := MustRefund(t, s, SaleRefund(other.ID, MustCreateSale(t, s, other.ID).ID, Amount(100))).Refunds[0]

		// The database may be shared with other tests: look only at this
		// test's merchants, with a limit above anything a run leaves.
		mine := func(before time.Time, limit int) []*refundry.Refund {
			t.Helper()
			all, err := s.PendingRefunds(ctx, before, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []*refundry.Refund
			for i, r := range all {
				if i > 0 && r.Created.Before(all[i-1].Created) {
					t.Fatalf("PendingRefunds not oldest first: %v after %v", r.Created, all[i-1].Created)
				}
				if r.Status != refundry.RefundPending {
					t.Fatalf("PendingRefunds returned a %s refund", r.Status)
				}
				if r.MerchantID == m.ID || r.MerchantID == other.ID {
					out = append(out, r)
				}
			}
			return out
		}
		got := mine(time.Now().Add(time.Hour), 1_000_000)
		checkIDs(t, refundIDs(got), []string{a.ID, b.ID, theirs.ID})
		sameJSON(t, "pending refund", got[0], a)
		if got[2].MerchantID != other.ID {
			t.Fatalf("MerchantID = %q, want %q", got[2].MerchantID, other.ID)
		}
		// createdBefore is exclusive.
		checkIDs(t, refundIDs(mine(b.Created, 1_000_000)), []string{a.ID})

		t.Run("Limit", func(t *testing.T) {
			all, err := s.PendingRefunds(ctx, time.Now().Add(time.Hour), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 1 {
				t.Fatalf("limit 1 gave %d refunds", len(all))
			}
		})
	})
}

func refundIDs(rs []*refundry.Refund) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}
