package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testSettle(t *testing.T, open Opener) {
	ctx := context.Background()

	// A refund its client dated (Talkable's refunded_at) keeps that date
	// when it succeeds later.
	t.Run("SucceededKeepsClientDate", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		req := SaleRefund(m.ID, sale.ID, Amount(100))
		req.RefundedAt = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
		r := MustRefund(t, s, req).Refunds[0]
		settled, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded})
		if err != nil {
			t.Fatal(err)
		}
		found, err := s.FindRefund(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*refundry.Refund{settled, found} {
			if at, ok := x.RefundTime(); !ok || !at.Equal(req.RefundedAt) {
				t.Fatalf("refund time %v, %v; want the client's %v", at, ok, req.RefundedAt)
			}
		}
	})

	for _, tt := range []struct {
		name     string
		status   string
		event    string
		released bool
		other    string // another final status, refused once settled
	}{
		{"Succeeded", refundry.RefundSucceeded, refundry.EventRefundSucceeded, false, refundry.RefundFailed},
		{"Failed", refundry.RefundFailed, refundry.EventRefundFailed, true, refundry.RefundSucceeded},
		{"Canceled", refundry.RefundCanceled, refundry.EventRefundCanceled, true, refundry.RefundSucceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			m := MustCreateMerchant(t, s)
			sale := MustCreateSale(t, s, m.ID)
			li := sale.LineItems[1]
			r := MustRefund(t, s, LineItemRefund(m.ID, li.ID, Amount(700))).Refunds[0]
			settled, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{
				Status: tt.status, GatewayRefundID: "re_" + r.ID, FailureReason: failureReason(tt.status),
			})
			if err != nil {
				t.Fatal(err)
			}
			if settled.Status != tt.status || settled.GatewayRefundID != "re_"+r.ID ||
				settled.FailureReason != failureReason(tt.status) || settled.Amount != 700 {
				t.Fatalf("settled = %+v", settled)
			}
			checkTime(t, "Updated", settled.Updated)
			if settled.Updated.Before(r.Updated) || !settled.Created.Equal(r.Created) {
				t.Fatalf("settled Created %v Updated %v, refund Created %v", settled.Created, settled.Updated, r.Created)
			}
			found, err := s.FindRefund(ctx, m.ID, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "FindRefund", found, settled)
			// Only money that went back has a refund time: the settling,
			// for a refund that succeeded; none for one that did not.
			at, ok := found.RefundTime()
			if ok != (tt.status == refundry.RefundSucceeded) || ok && !at.Equal(found.Updated) {
				t.Fatalf("%s refund: refund time %v, %v (Updated %v)", tt.status, at, ok, found.Updated)
			}
			if _, ok := r.RefundTime(); ok {
				t.Fatal("a pending refund has a refund time")
			}

			want := int64(700)
			if tt.released {
				want = 0
			}
			got := MustFindSale(t, s, m.ID, sale.ID)
			if got.RefundedAmount != want || got.Transactions[0].RefundedAmount != want || got.LineItems[1].RefundedAmount != want {
				t.Fatalf("after %s: sale %d, transaction %d, line item %d refunded, want %d",
					tt.status, got.RefundedAmount, got.Transactions[0].RefundedAmount, got.LineItems[1].RefundedAmount, want)
			}
			if got.Status != refundry.PaymentState(got.Amount, want) {
				t.Fatalf("sale status = %s", got.Status)
			}
			checkEventTypes(t, listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: r.ID}), tt.event, refundry.EventRefundCreated)
			CheckInvariants(t, s, m.ID)

			t.Run("Again", func(t *testing.T) {
				again, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: tt.status, GatewayRefundID: "re_other"})
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, "settled again", again, settled)
				checkEventTypes(t, listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: r.ID}), tt.event, refundry.EventRefundCreated)
				if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != want {
					t.Fatalf("settling twice moved money: refunded %d, want %d", got.RefundedAmount, want)
				}
			})
			t.Run("ErrOtherFinalStatus", func(t *testing.T) {
				_, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: tt.other})
				wantCode(t, err, refundry.ECONFLICT)
				found, err := s.FindRefund(ctx, m.ID, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, "refund after conflict", found, settled)
			})
			if tt.released {
				t.Run("RefundAgain", func(t *testing.T) {
					res := MustRefund(t, s, LineItemRefund(m.ID, li.ID, nil))
					if res.Refunds[0].Amount != li.Amount {
						t.Fatalf("refund after release = %d, want the whole line item (%d)", res.Refunds[0].Amount, li.Amount)
					}
					CheckInvariants(t, s, m.ID)
				})
			}
		})
	}

	t.Run("SaleRefundedAgain", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
		res := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil))
		for _, r := range res.Refunds {
			if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundFailed, FailureReason: "declined"}); err != nil {
				t.Fatal(err)
			}
		}
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.RefundedAmount != 0 || got.Status != refundry.PaymentPaid {
			t.Fatalf("sale after failed refunds = %+v", got)
		}
		MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil))
		CheckInvariants(t, s, m.ID)
	})

	// A refund the fee covered whole was recorded succeeded: no gateway
	// answer can fail or cancel it afterwards, and its money stays held.
	// Its neighbour, which the fee covered in part, settles as any other.
	t.Run("FeeCovered", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(1000), Payments(300, 700))
		req := SaleRefund(m.ID, sale.ID, nil)
		req.Fee = 500
		res := MustRefund(t, s, req)
		covered, rest := res.Refunds[0], res.Refunds[1]
		for _, st := range []string{refundry.RefundFailed, refundry.RefundCanceled} {
			_, err := s.SettleRefund(ctx, m.ID, covered.ID, refundry.Settlement{Status: st})
			wantCode(t, err, refundry.ECONFLICT)
		}
		again, err := s.SettleRefund(ctx, m.ID, covered.ID, refundry.Settlement{Status: refundry.RefundSucceeded})
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "covered refund settled again", again, covered)
		settled, err := s.SettleRefund(ctx, m.ID, rest.ID, refundry.Settlement{Status: refundry.RefundFailed, FailureReason: "declined"})
		if err != nil {
			t.Fatal(err)
		}
		if settled.Status != refundry.RefundFailed || settled.Fee != 200 {
			t.Fatalf("settled = %+v", settled)
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 300 ||
			got.Transactions[0].RefundedAmount != 300 || got.Transactions[1].RefundedAmount != 0 {
			t.Fatalf("after the failure: sale %d, transactions %d and %d refunded; want 300, 300, 0",
				got.RefundedAmount, got.Transactions[0].RefundedAmount, got.Transactions[1].RefundedAmount)
		}
		CheckInvariants(t, s, m.ID)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, other.ID)
		theirs := MustRefund(t, s, SaleRefund(other.ID, sale.ID, Amount(100))).Refunds[0]
		_, err := s.SettleRefund(ctx, m.ID, theirs.ID, refundry.Settlement{Status: refundry.RefundFailed})
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.SettleRefund(ctx, m.ID, refundry.NewID(), refundry.Settlement{Status: refundry.RefundFailed})
		wantCode(t, err, refundry.ENOTFOUND)
		if got, _ := s.FindRefund(ctx, other.ID, theirs.ID); got.Status != refundry.RefundPending {
			t.Fatalf("another merchant settled the refund: %s", got.Status)
		}
	})

	t.Run("ErrInvalidStatus", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		for _, st := range []string{"", "refunded"} {
			_, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: st})
			wantCode(t, err, refundry.EINVALID)
		}
		// A gateway saying "still pending" changes nothing
		// (refundry.DecideSettlement's PendingRepeated).
		got, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundPending})
		if err != nil || got.Status != refundry.RefundPending || !got.Updated.Equal(r.Updated) {
			t.Fatalf("pending settled as pending = %+v, %v", got, err)
		}
	})
}

func failureReason(status string) string {
	if status == refundry.RefundFailed {
		return "insufficient_funds"
	}
	return ""
}
