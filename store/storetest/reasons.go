package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testReasons(t *testing.T, open Opener) {
	ctx := context.Background()

	codes := func(tb testing.TB, s refundry.Store, merchantID string) []string {
		tb.Helper()
		rs, err := s.ListRefundReasons(ctx, merchantID)
		if err != nil {
			tb.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			if r.MerchantID != merchantID {
				tb.Fatalf("ListRefundReasons(%s) gave a reason of %s", merchantID, r.MerchantID)
			}
			out = append(out, r.Code)
		}
		return out
	}
	defaults := func() []string {
		var out []string
		for _, r := range refundry.DefaultRefundReasons("", time.Time{}) {
			out = append(out, r.Code)
		}
		return out
	}

	t.Run("DefaultsSeeded", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		rs, err := s.ListRefundReasons(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := refundry.DefaultRefundReasons(m.ID, m.Created)
		sameJSON(t, "ListRefundReasons", rs, want)
		for i, r := range rs {
			if !r.Created.Equal(want[i].Created) {
				t.Errorf("reason %s created %v, want %v", r.Code, r.Created, want[i].Created)
			}
			checkTime(t, "reason.Created", r.Created)
		}
	})

	t.Run("PutCreatesAndReplaces", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		goodwill := &refundry.RefundReason{MerchantID: m.ID, Code: "goodwill", Label: "Goodwill gesture"}
		if err := s.PutRefundReason(ctx, goodwill); err != nil {
			t.Fatal(err)
		}
		checkTime(t, "reason.Created", goodwill.Created)
		want := append(defaults(), "goodwill")
		sameJSON(t, "codes after create", codes(t, s, m.ID), want)
		sameJSON(t, "other merchant's codes", codes(t, s, other.ID), defaults())

		// Replacing keeps the reason's place and creation time.
		damaged := &refundry.RefundReason{MerchantID: m.ID, Code: "damaged", Label: "Broken in transit", StripeReason: ""}
		if err := s.PutRefundReason(ctx, damaged); err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "codes after replace", codes(t, s, m.ID), want)
		rs, _ := s.ListRefundReasons(ctx, m.ID)
		got := refundry.FindReason(rs, "damaged")
		if got.Label != "Broken in transit" || got.StripeReason != "" || !got.Created.Equal(refundry.DefaultRefundReasons(m.ID, m.Created)[3].Created) {
			t.Fatalf("replaced reason = %+v", got)
		}
		if !damaged.Created.Equal(got.Created) {
			t.Errorf("PutRefundReason set Created %v, stored %v", damaged.Created, got.Created)
		}
		if r := refundry.FindReason(mustReasons(t, s, other.ID), "damaged"); r.Label != "Damaged item" {
			t.Errorf("another merchant's reason changed: %+v", r)
		}
	})

	t.Run("ErrPutInvalid", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		for _, r := range []*refundry.RefundReason{
			{MerchantID: m.ID, Code: "Bad Code", Label: "x"},
			{MerchantID: m.ID, Code: "ok", Label: ""},
			{MerchantID: m.ID, Code: "ok", Label: "x", StripeReason: "because"},
		} {
			wantCode(t, s.PutRefundReason(ctx, r), refundry.EINVALID)
		}
		sameJSON(t, "codes", codes(t, s, m.ID), defaults())
		wantCode(t, s.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: refundry.NewID(), Code: "ok", Label: "x"}), refundry.ENOTFOUND)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		// Another merchant's reason is answered like a missing one
		// (invariant 5).
		wantCode(t, s.DeleteRefundReason(ctx, other.ID, "nope"), refundry.ENOTFOUND)
		if err := s.DeleteRefundReason(ctx, m.ID, "late_delivery"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteRefundReason(ctx, m.ID, "late_delivery"), refundry.ENOTFOUND)
		var want []string
		for _, c := range defaults() {
			if c != "late_delivery" {
				want = append(want, c)
			}
		}
		sameJSON(t, "codes after delete", codes(t, s, m.ID), want)
		sameJSON(t, "other merchant's codes", codes(t, s, other.ID), defaults())
	})

	t.Run("Description", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		req := SaleRefund(m.ID, sale.ID, Amount(100))
		req.Reason, req.Description = "damaged", "Box crushed; photo in ticket 42 — ünïcode kept"
		req.GatewayReason = refundry.StripeRequestedByCustomer
		r := MustRefund(t, s, req).Refunds[0]
		if r.Reason != req.Reason || r.Description != req.Description {
			t.Fatalf("CreateRefunds answered reason %q description %q", r.Reason, r.Description)
		}
		got, err := s.FindRefund(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Reason != req.Reason || got.Description != req.Description || got.GatewayReason != req.GatewayReason {
			t.Fatalf("FindRefund: reason %q description %q gateway reason %q", got.Reason, got.Description, got.GatewayReason)
		}
		list, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
		if err != nil || len(list) != 1 || list[0].Description != req.Description {
			t.Fatalf("ListRefunds = %v, %v", list, err)
		}
	})

	t.Run("CountRefundsByReason", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		other := MustCreateMerchant(t, s)
		from := time.Now().Add(-time.Minute)
		usd := MustCreateSale(t, s, m.ID)
		eur := MustCreateSale(t, s, m.ID, Currency("EUR"))
		refund := func(merchantID, saleID, reason string, amount int64) *refundry.Refund {
			req := SaleRefund(merchantID, saleID, Amount(amount))
			req.Reason = reason
			return MustRefund(t, s, req).Refunds[0]
		}
		refund(m.ID, usd.ID, "damaged", 100)
		refund(m.ID, usd.ID, "damaged", 250)
		refund(m.ID, eur.ID, "damaged", 70)
		refund(m.ID, usd.ID, "", 5)
		failed := refund(m.ID, usd.ID, "duplicate", 300)
		if _, err := s.SettleRefund(ctx, m.ID, failed.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
			t.Fatal(err)
		}
		refund(other.ID, MustCreateSale(t, s, other.ID).ID, "damaged", 999) // never counted
		to := time.Now().Add(time.Minute)

		got, err := s.CountRefundsByReason(ctx, m.ID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		want := []refundry.ReasonCount{
			{Reason: "damaged", Count: 3, Amounts: map[string]int64{"USD": 350, "EUR": 70}},
			{Reason: "", Count: 1, Amounts: map[string]int64{"USD": 5}},
			// A failed refund is counted, but returned nothing.
			{Reason: "duplicate", Count: 1, Amounts: map[string]int64{}},
		}
		sameJSON(t, "CountRefundsByReason", got, want)

		// The period is [from, to): nothing before it, nothing at its end.
		got, err = s.CountRefundsByReason(ctx, m.ID, from.Add(-time.Hour), from)
		if err != nil || len(got) != 0 {
			t.Fatalf("before the refunds: %+v, %v", got, err)
		}
		got, err = s.CountRefundsByReason(ctx, m.ID, to, to.Add(time.Hour))
		if err != nil || len(got) != 0 {
			t.Fatalf("after the refunds: %+v, %v", got, err)
		}
	})
}

func mustReasons(tb testing.TB, s refundry.Store, merchantID string) []*refundry.RefundReason {
	tb.Helper()
	rs, err := s.ListRefundReasons(context.Background(), merchantID)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}
