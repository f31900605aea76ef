package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/stripemock"
	"github.com/refundry/refundry/internal/testenv"
)

// A refund's reason is one of its merchant's codes, or empty; anything
// else is EINVALID naming "reason", and nothing is refunded.
func TestRefundReasonMustBeACode(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	if err := env.Engine.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: env.A.ID, Code: "goodwill", Label: "Goodwill"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Engine.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: env.B.ID, Code: "b_only", Label: "B's own"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Engine.DeleteRefundReason(ctx, env.A.ID, "late_delivery"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, reason string
		ok           bool
	}{
		{"Empty", "", true},
		{"Default", "damaged", true},
		{"Other", "other", true},
		{"OwnCode", "goodwill", true},
		{"ErrFreeText", "Customer changed her mind", false},
		{"ErrDeleted", "late_delivery", false},
		{"ErrAnotherMerchantsCode", "b_only", false},
		{"ErrCase", "DAMAGED", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sale := env.Sale(testenv.SaleSpec{})
			amount := int64(300)
			res, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
				Amount: &amount, Reason: tc.reason, Description: "note: " + tc.name, Source: refundry.SourceNative})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				r := res.Refunds[0]
				if r.Reason != tc.reason || r.Description != "note: "+tc.name {
					t.Fatalf("refund reason %q description %q", r.Reason, r.Description)
				}
				return
			}
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "reason" {
				t.Fatalf("err = %v, want EINVALID on reason", err)
			}
			if msg := refundry.ErrorMessage(err); !strings.Contains(msg, "requested_by_customer") {
				t.Errorf("message %q lists no valid code", msg)
			}
			if got := env.Reload(sale).RefundedAmount; got != 0 {
				t.Fatalf("a refused reason refunded %d", got)
			}
		})
	}

	t.Run("ByTarget", func(t *testing.T) {
		sale := env.Sale(testenv.SaleSpec{Reference: "order-" + refundry.NewID()})
		_, err := env.Engine.RefundByTarget(ctx, sale.Reference, refundry.RefundRequest{MerchantID: env.A.ID, Reason: "nope", Source: refundry.SourceBulk})
		if refundry.ErrorParam(err) != "reason" {
			t.Fatalf("err = %v, want EINVALID on reason", err)
		}
		if got := env.Reload(sale).RefundedAmount; got != 0 {
			t.Fatalf("refunded %d", got)
		}
	})

	t.Run("BatchRefusedWhole", func(t *testing.T) {
		sale := env.Sale(testenv.SaleSpec{})
		rows := []*refundry.BatchRow{{Target: sale.ID, Reason: "damaged"}, {Target: sale.ID, Reason: "Wrong size"}}
		_, _, err := env.Engine.CreateRefundBatch(ctx, env.A.ID, rows, nil)
		if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "rows[1].reason" {
			t.Fatalf("err = %v (param %q), want EINVALID on rows[1].reason", err, refundry.ErrorParam(err))
		}
		rows = []*refundry.BatchRow{{Target: sale.ID, Reason: "goodwill"}, {Target: sale.ID}}
		if _, _, err := env.Engine.CreateRefundBatch(ctx, env.A.ID, rows, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRefundReasonsManaged(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	err := env.Engine.DeleteRefundReason(ctx, env.A.ID, refundry.ReasonOther)
	if refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("deleting other: %v, want ECONFLICT", err)
	}
	if err := env.Engine.DeleteRefundReason(ctx, env.A.ID, "nope"); refundry.ErrorCode(err) != refundry.ENOTFOUND {
		t.Fatalf("deleting an unknown code: %v", err)
	}
	// other may be relabeled.
	if err := env.Engine.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: env.A.ID, Code: "other", Label: "Something else"}); err != nil {
		t.Fatal(err)
	}
	rs, err := env.Engine.ListRefundReasons(ctx, env.A.ID)
	if err != nil || len(rs) != 8 || rs[7].Code != "other" || rs[7].Label != "Something else" {
		t.Fatalf("reasons = %v, %v", rs, err)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"Empty", time.Unix(100, 0), time.Unix(100, 0)},
		{"Backwards", time.Unix(200, 0), time.Unix(100, 0)},
		{"TooLong", time.Unix(0, 0), time.Unix(0, 0).AddDate(10, 0, 0)},
	} {
		if _, err := env.Engine.CountRefundsByReason(ctx, env.A.ID, tc.from, tc.to); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Errorf("%s period: %v, want EINVALID", tc.name, err)
		}
	}
}

// Stripe is told the Stripe reason the refund's code maps to, never the
// code: the merchant's own mapping, none for "other", and a mapping
// changed since applies to the refunds sent after.
func TestStripeToldMappedReason(t *testing.T) {
	mock := stripemock.Start()
	t.Cleanup(mock.Stop)
	mock.Require(t)
	env := newReconcileEnv(t, clockedStores[0].open, mock)
	ctx := context.Background()
	if err := env.eng.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: env.a.ID, Code: "chargeback_risk", Label: "Chargeback risk", StripeReason: "fraudulent"}); err != nil {
		t.Fatal(err)
	}
	told := func(reason string) any {
		t.Helper()
		s := env.sale(refundry.GatewayStripe, "")
		amount := int64(500)
		res, err := env.eng.Refund(ctx, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: s.ID},
			Amount: &amount, Reason: reason, Source: refundry.SourceNative})
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Refunds[0]; r.Status != refundry.RefundSucceeded || r.Reason != reason {
			t.Fatalf("refund = %+v", r)
		}
		held := env.stripe.Refunds(s.Transactions[0].GatewayChargeID)
		if len(held) != 1 {
			t.Fatalf("Stripe holds %d refunds, want 1", len(held))
		}
		return held[0]["reason"]
	}
	for _, tc := range []struct {
		reason string
		want   any
	}{
		{"damaged", "requested_by_customer"},
		{"duplicate", "duplicate"},
		{"chargeback_risk", "fraudulent"},
		{"other", nil},
		{"", nil},
	} {
		if got := told(tc.reason); got != tc.want {
			t.Errorf("reason %q: Stripe was told %v, want %v", tc.reason, got, tc.want)
		}
	}
	if err := env.eng.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: env.a.ID, Code: "damaged", Label: "Damaged", StripeReason: ""}); err != nil {
		t.Fatal(err)
	}
	if got := told("damaged"); got != nil {
		t.Errorf("after the mapping changed: Stripe was told %v, want none", got)
	}

	// A refund Stripe did not answer is asked again by recovery with the
	// parameters of the first call, as Stripe's idempotency key requires,
	// though the merchant remapped its code in between.
	s := env.sale(refundry.GatewayStripe, "")
	amount := int64(700)
	env.stripe.Down(true)
	res, err := env.eng.Refund(ctx, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: s.ID},
		Amount: &amount, Reason: "chargeback_risk", Source: refundry.SourceNative})
	if err != nil || res.Refunds[0].Status != refundry.RefundPending {
		t.Fatalf("refund while Stripe is down: %+v, %v", res, err)
	}
	if err := env.eng.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: env.a.ID, Code: "chargeback_risk", Label: "Chargeback risk", StripeReason: "duplicate"}); err != nil {
		t.Fatal(err)
	}
	env.stripe.Down(false)
	if n, err := env.eng.Recover(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	held := env.stripe.Refunds(s.Transactions[0].GatewayChargeID)
	if len(held) != 1 || held[0]["reason"] != "fraudulent" {
		t.Fatalf("recovery told Stripe %v, want the first call's fraudulent", held)
	}
}
