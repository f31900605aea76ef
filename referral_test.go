package refundry_test

import (
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

func validReferral() *refundry.Referral {
	return &refundry.Referral{
		OriginSlug: "order-1001",
		Advocate:   refundry.Person{Email: "ann@example.com"},
		Friend:     refundry.Person{Email: "bob@example.com"},
		Subtotal:   1250,
	}
}

func TestReferralValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(r *refundry.Referral)
		param  string // "" when valid
	}{
		{"OK", func(r *refundry.Referral) {}, ""},
		{"OKEventOrigin", func(r *refundry.Referral) { r.OriginSlug = "concert:42" }, ""},
		{"OKPending", func(r *refundry.Referral) { r.Status = refundry.ReferralPending }, ""},
		{"OKUnapproved", func(r *refundry.Referral) { r.Status = refundry.ReferralUnapproved }, ""},
		{"OKVoided", func(r *refundry.Referral) { r.Status = refundry.ReferralVoided }, ""},
		{"OKLongestOrigin", func(r *refundry.Referral) { r.OriginSlug = strings.Repeat("o", 255) }, ""},
		{"OKZeroSubtotal", func(r *refundry.Referral) { r.Subtotal = 0 }, ""},
		{"ErrOriginRequired", func(r *refundry.Referral) { r.OriginSlug = "" }, "origin"},
		{"ErrOriginTooLong", func(r *refundry.Referral) { r.OriginSlug = strings.Repeat("o", 256) }, "origin"},
		{"ErrAdvocateEmailRequired", func(r *refundry.Referral) { r.Advocate.Email = "" }, "advocate.email"},
		{"ErrAdvocateEmail", func(r *refundry.Referral) { r.Advocate.Email = "ann@" }, "advocate.email"},
		{"ErrAdvocateEmailWithName", func(r *refundry.Referral) { r.Advocate.Email = "Ann <ann@example.com>" }, "advocate.email"},
		{"ErrFriendEmailRequired", func(r *refundry.Referral) { r.Friend.Email = "" }, "friend.email"},
		{"ErrFriendEmail", func(r *refundry.Referral) { r.Friend.Email = "bob at example.com" }, "friend.email"},
		{"ErrBothEmails", func(r *refundry.Referral) { r.Advocate.Email, r.Friend.Email = "x", "y" }, "advocate.email"},
		{"ErrStatus", func(r *refundry.Referral) { r.Status = "refunded" }, "status"},
		{"ErrStatusCase", func(r *refundry.Referral) { r.Status = "Approved" }, "status"},
		{"ErrTrackMethodTooLong", func(r *refundry.Referral) { r.TrackMethod = strings.Repeat("t", 65) }, "track_method"},
		{"ErrSubtotalNegative", func(r *refundry.Referral) { r.Subtotal = -1 }, "subtotal"},
		{"ErrSubtotalTooLarge", func(r *refundry.Referral) { r.Subtotal = 1<<53 + 1 }, "subtotal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := validReferral()
			tt.mutate(r)
			checkValidate(t, r.Validate(), refundry.EINVALID, tt.param)
		})
	}
	t.Run("OKDefaultStatus", func(t *testing.T) {
		r := validReferral()
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if r.Status != refundry.ReferralApproved {
			t.Fatalf("Status = %q, want approved", r.Status)
		}
	})
	// With both emails bad the error must name the same parameter every
	// time; it used to depend on map iteration order.
	t.Run("ErrBothEmailsDeterministic", func(t *testing.T) {
		for range 200 {
			r := validReferral()
			r.Advocate.Email, r.Friend.Email = "", ""
			if p := refundry.ErrorParam(r.Validate()); p != "advocate.email" {
				t.Fatalf("ErrorParam = %q, want advocate.email every time", p)
			}
		}
	})
}

func TestIsEventSlug(t *testing.T) {
	for _, tt := range []struct {
		slug string
		want bool
	}{
		{"concert:42", true},
		{"a:b", true},
		{"a:b:c", true},
		{"order-1001", false},
		{"", false},
		{":42", false},
		{"concert:", false},
		{":", false},
	} {
		t.Run(tt.slug, func(t *testing.T) {
			if got := refundry.IsEventSlug(tt.slug); got != tt.want {
				t.Fatalf("IsEventSlug(%q) = %v, want %v", tt.slug, got, tt.want)
			}
		})
	}
}
