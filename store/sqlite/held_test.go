package sqlite_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestSettleHeldRefund: a settlement decided on the refund the store
// holds from its creation answers exactly what a read would have given,
// and a refund changed since by another process (a second store on the
// same file) is read and decided again, never settled from a stale copy.
func TestSettleHeldRefund(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refundry.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	m := storetest.MustCreateMerchant(t, a)
	review := func(r *refundry.Refund) {
		t.Helper()
		// Through b: a still holds the refund as it was created.
		if _, err := b.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover,
			Actor: "user:u1", Note: "sent again"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name    string
		between func(r *refundry.Refund)
		st      refundry.Settlement
		code    string
	}{
		{"Held", nil, refundry.Settlement{Status: refundry.RefundSucceeded, GatewayRefundID: "re_1"}, ""},
		{"HeldFails", nil, refundry.Settlement{Status: refundry.RefundFailed, FailureReason: "declined"}, ""},
		{"SettledMeanwhile", func(r *refundry.Refund) {
			if _, err := b.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded, GatewayRefundID: "re_b"}); err != nil {
				t.Fatal(err)
			}
		}, refundry.Settlement{Status: refundry.RefundSucceeded, GatewayRefundID: "re_a"}, ""},
		{"CanceledMeanwhile", func(r *refundry.Refund) {
			if _, err := b.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient}); err != nil {
				t.Fatal(err)
			}
		}, refundry.Settlement{Status: refundry.RefundSucceeded}, refundry.ECONFLICT},
		// Pending again, as held, but not the row held: its review is kept.
		{"ReviewedMeanwhile", review, refundry.Settlement{Status: refundry.RefundSucceeded, GatewayRefundID: "re_a"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := storetest.MustCreateSale(t, a, m.ID)
			req := storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100))
			req.Metadata = []byte(`{"order":"o-1"}`)
			r := storetest.MustRefund(t, a, req).Refunds[0]
			if tt.between != nil {
				tt.between(r)
			}
			got, err := a.SettleRefund(ctx, m.ID, r.ID, tt.st)
			if refundry.ErrorCode(err) != tt.code && (err != nil || tt.code != "") {
				t.Fatalf("settle: %v, want code %q", err, tt.code)
			}
			stored, ferr := b.FindRefund(ctx, m.ID, r.ID)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if err == nil && !reflect.DeepEqual(got, stored) {
				t.Fatalf("settled\n%+v\nstored\n%+v", got, stored)
			}
			if tt.name == "ReviewedMeanwhile" && stored.DecisionNote != "sent again" {
				t.Fatalf("the review's note is %q after the settlement", stored.DecisionNote)
			}
			storetest.CheckInvariants(t, a, m.ID)
		})
	}
}
