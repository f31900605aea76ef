package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testReferrals(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("Purchase", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Currency("EUR"))
		r := NewReferral(m.ID, sale.Reference)
		r.Subtotal, r.Currency = 1, "USD" // a purchase's money is the sale's
		replayed, err := s.CreateReferral(ctx, r, nil)
		if err != nil || replayed {
			t.Fatalf("CreateReferral = %v, %v", replayed, err)
		}
		if r.ID <= 0 || r.OriginID <= 0 || r.Subtotal != sale.Amount || r.Currency != "EUR" || r.Status != refundry.ReferralApproved {
			t.Fatalf("referral = %+v", r)
		}
		checkTime(t, "referral.Created", r.Created)
		o, err := s.FindOrigin(ctx, m.ID, sale.Reference)
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != r.OriginID || o.Kind != refundry.OriginPurchase || o.SaleID != sale.ID || o.Slug != sale.Reference || o.MerchantID != m.ID {
			t.Fatalf("origin = %+v", o)
		}
		checkTime(t, "origin.Created", o.Created)
		second := MustCreateReferral(t, s, m.ID, sale.Reference)
		if second.OriginID != r.OriginID {
			t.Fatalf("second referral's origin = %d, want %d", second.OriginID, r.OriginID)
		}
		list, err := s.ListReferrals(ctx, m.ID, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != second.ID || list[1].ID != r.ID {
			t.Fatalf("ListReferrals = %v, want newest first [%d %d]", referralIDs(list), second.ID, r.ID)
		}
		sameJSON(t, "listed referral", list[1], r)
		checkEventTypes(t, listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: strconv.FormatInt(r.ID, 10)}), refundry.EventReferralCreated)
	})

	t.Run("Event", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		const slug = "newsletter_subscription:42"
		_, err := s.FindOrigin(ctx, m.ID, slug)
		wantCode(t, err, refundry.ENOTFOUND)
		a := MustCreateReferral(t, s, m.ID, slug)
		b := MustCreateReferral(t, s, m.ID, slug)
		c := MustCreateReferral(t, s, other.ID, slug)
		if a.OriginID != b.OriginID {
			t.Fatalf("event origin made twice: %d, %d", a.OriginID, b.OriginID)
		}
		if c.OriginID == a.OriginID {
			t.Fatal("two merchants share an event origin")
		}
		o, err := s.FindOrigin(ctx, m.ID, slug)
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != a.OriginID || o.Kind != refundry.OriginEvent || o.SaleID != "" {
			t.Fatalf("origin = %+v", o)
		}
		if a.Subtotal != 1234 || a.Currency != "USD" {
			t.Fatalf("event referral money = %d %s, want as given", a.Subtotal, a.Currency)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		theirs := MustCreateSale(t, s, other.ID)
		MustCreateReferral(t, s, other.ID, theirs.Reference)
		for _, tt := range []struct{ name, slug string }{
			{"UnknownPurchase", "order-" + refundry.NewID()},
			{"OtherMerchantPurchase", theirs.Reference},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.CreateReferral(ctx, NewReferral(m.ID, tt.slug), nil)
				wantCode(t, err, refundry.ENOTFOUND)
				_, err = s.FindOrigin(ctx, m.ID, tt.slug)
				wantCode(t, err, refundry.ENOTFOUND)
			})
		}
		t.Run("ListOtherMerchantOrigin", func(t *testing.T) {
			o, err := s.FindOrigin(ctx, other.ID, theirs.Reference)
			if err != nil {
				t.Fatal(err)
			}
			// Invariant 5: answered like an origin that does not exist.
			got, err := s.ListReferrals(ctx, m.ID, o.ID)
			missing, errMissing := s.ListReferrals(ctx, m.ID, 1<<60)
			if len(got) != 0 || len(missing) != 0 || refundry.ErrorCode(err) != refundry.ENOTFOUND || refundry.ErrorCode(errMissing) != refundry.ENOTFOUND {
				t.Fatalf("other merchant's origin: %d referrals, %v; missing origin: %d, %v", len(got), err, len(missing), errMissing)
			}
			voided, err := s.VoidReferrals(ctx, m.ID, o.ID, time.Now())
			voidedMissing, errMissing := s.VoidReferrals(ctx, m.ID, 1<<60, time.Now())
			if len(voided) != 0 || len(voidedMissing) != 0 || refundry.ErrorCode(err) != refundry.ENOTFOUND || refundry.ErrorCode(errMissing) != refundry.ENOTFOUND {
				t.Fatalf("voiding another merchant's origin: %d, %v; missing: %d, %v", len(voided), err, len(voidedMissing), errMissing)
			}
			list, err := s.ListReferrals(ctx, other.ID, o.ID)
			if err != nil || len(list) != 1 || list[0].Status == refundry.ReferralVoided {
				t.Fatalf("the owner's referrals after another merchant's void: %+v, %v", list, err)
			}
		})
	})

	t.Run("Void", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		const slug = "event:7"
		a := MustCreateReferral(t, s, m.ID, slug)
		voidedAlready := NewReferral(m.ID, slug)
		voidedAlready.Status = refundry.ReferralVoided
		if _, err := s.CreateReferral(ctx, voidedAlready, nil); err != nil {
			t.Fatal(err)
		}
		b := MustCreateReferral(t, s, m.ID, slug)
		at := time.Date(2025, 1, 2, 3, 4, 5, 6789, time.UTC)
		voided, err := s.VoidReferrals(ctx, m.ID, a.OriginID, at)
		if err != nil {
			t.Fatal(err)
		}
		if got := referralIDs(voided); len(got) != 2 || !contains(got, a.ID) || !contains(got, b.ID) {
			t.Fatalf("voided = %v, want %d and %d", got, a.ID, b.ID)
		}
		for _, r := range voided {
			if r.Status != refundry.ReferralVoided {
				t.Fatalf("voided referral status = %s", r.Status)
			}
			if !r.Updated.Equal(at.Truncate(time.Microsecond)) {
				t.Fatalf("voided referral updated = %v, want %v", r.Updated, at)
			}
		}
		list, err := s.ListReferrals(ctx, m.ID, a.OriginID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.Status != refundry.ReferralVoided {
				t.Fatalf("referral %d still %s", r.ID, r.Status)
			}
		}
		again, err := s.VoidReferrals(ctx, m.ID, a.OriginID, at)
		if err != nil || len(again) != 0 {
			t.Fatalf("second void = %v, %v, want none", referralIDs(again), err)
		}
		events := listEvents(t, s, m.ID, refundry.EventFilter{Types: []string{refundry.EventReferralVoided}})
		if len(events) != 2 {
			t.Fatalf("%d referral.voided events, want 2", len(events))
		}
	})

	t.Run("VoidWithRefund", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		a := MustCreateReferral(t, s, m.ID, sale.Reference)
		b := MustCreateReferral(t, s, m.ID, sale.Reference)
		unrelated := MustCreateReferral(t, s, m.ID, "event:1")

		// Without VoidReferrals, a refund leaves referrals alone.
		res := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100)))
		if len(res.Voided) != 0 {
			t.Fatalf("voided %d referrals without being asked", len(res.Voided))
		}
		req := SaleRefund(m.ID, sale.ID, nil)
		req.VoidReferrals = true
		res = MustRefund(t, s, req)
		if got := referralIDs(res.Voided); len(got) != 2 || !contains(got, a.ID) || !contains(got, b.ID) {
			t.Fatalf("Voided = %v, want %d and %d", got, a.ID, b.ID)
		}
		for _, r := range res.Voided {
			if r.Status != refundry.ReferralVoided {
				t.Fatalf("voided referral status = %s", r.Status)
			}
		}
		list, err := s.ListReferrals(ctx, m.ID, a.OriginID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.Status != refundry.ReferralVoided {
				t.Fatalf("referral %d still %s", r.ID, r.Status)
			}
		}
		if list, _ := s.ListReferrals(ctx, m.ID, unrelated.OriginID); len(list) != 1 || list[0].Status != refundry.ReferralApproved {
			t.Fatal("an unrelated origin's referral was voided")
		}
		checkEventTypes(t, listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: strconv.FormatInt(a.ID, 10)}),
			refundry.EventReferralVoided, refundry.EventReferralCreated)

		t.Run("NoPurchaseOrigin", func(t *testing.T) {
			lone := MustCreateSale(t, s, m.ID)
			req := SaleRefund(m.ID, lone.ID, nil)
			req.VoidReferrals = true
			if res := MustRefund(t, s, req); len(res.Voided) != 0 {
				t.Fatalf("voided %d referrals of a sale that has none", len(res.Voided))
			}
		})
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		key := idem("ref-hash")
		first := NewReferral(m.ID, "signup:1")
		if replayed, err := s.CreateReferral(ctx, first, key); err != nil || replayed {
			t.Fatalf("CreateReferral = %v, %v", replayed, err)
		}
		again := NewReferral(m.ID, "signup:1")
		replayed, err := s.CreateReferral(ctx, again, key)
		if err != nil || !replayed {
			t.Fatalf("replay = %v, %v", replayed, err)
		}
		sameJSON(t, "replayed referral", again, first)
		if list, _ := s.ListReferrals(ctx, m.ID, first.OriginID); len(list) != 1 {
			t.Fatalf("replay stored a referral: %d", len(list))
		}
		_, err = s.CreateReferral(ctx, NewReferral(m.ID, "signup:1"), &refundry.Idempotency{Key: key.Key, Hash: "other"})
		wantCode(t, err, refundry.EIDEMPOTENCY)
	})
}

func referralIDs(rs []*refundry.Referral) []int64 {
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
