package refundry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func TestDefaultRefundReasons(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	rs := refundry.DefaultRefundReasons("m1", at)
	want := []string{"requested_by_customer", "duplicate", "fraudulent", "damaged", "wrong_item", "not_received", "late_delivery", "other"}
	if len(rs) != len(want) {
		t.Fatalf("got %d defaults, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.Code != want[i] || r.MerchantID != "m1" {
			t.Errorf("default %d = %+v, want code %s", i, r, want[i])
		}
		if err := r.Validate(); err != nil {
			t.Errorf("default %s does not validate: %v", r.Code, err)
		}
		if i > 0 && !r.Created.After(rs[i-1].Created) {
			t.Errorf("default %s is not made after %s: their order would not hold", r.Code, rs[i-1].Code)
		}
		if !refundry.IsDefaultReason(r.Code) {
			t.Errorf("IsDefaultReason(%s) = false", r.Code)
		}
	}
	stripe := map[string]string{"duplicate": "duplicate", "fraudulent": "fraudulent", "damaged": "requested_by_customer", "other": ""}
	for code, s := range stripe {
		if got := refundry.StripeReasonOf(rs, code); got != s {
			t.Errorf("StripeReasonOf(%s) = %q, want %q", code, got, s)
		}
	}
}

func TestValidReasonCode(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"damaged", true},
		{"size_2_too_small", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"Damaged", false},
		{"wrong item", false},
		{"wrong-item", false},
		{"café", false},
	} {
		if got := refundry.ValidReasonCode(tc.code); got != tc.ok {
			t.Errorf("ValidReasonCode(%q) = %v, want %v", tc.code, got, tc.ok)
		}
	}
}

func TestRefundReasonValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     refundry.RefundReason
		param string
	}{
		{"OK", refundry.RefundReason{Code: "size", Label: " Wrong size ", StripeReason: "requested_by_customer"}, ""},
		{"OKNoStripeReason", refundry.RefundReason{Code: "goodwill", Label: "Goodwill"}, ""},
		{"ErrCode", refundry.RefundReason{Code: "Wrong Size", Label: "x"}, "code"},
		{"ErrLabelRequired", refundry.RefundReason{Code: "size", Label: "  "}, "label"},
		{"ErrLabelLong", refundry.RefundReason{Code: "size", Label: strings.Repeat("x", 201)}, "label"},
		{"ErrStripeReason", refundry.RefundReason{Code: "size", Label: "x", StripeReason: "expired_uncaptured_charge"}, "stripe_reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if tc.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.r.Label != strings.TrimSpace(tc.r.Label) {
					t.Errorf("label not trimmed: %q", tc.r.Label)
				}
				return
			}
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != tc.param {
				t.Fatalf("err = %v (param %q), want EINVALID on %s", err, refundry.ErrorParam(err), tc.param)
			}
		})
	}
}

func TestCheckReason(t *testing.T) {
	rs := refundry.DefaultRefundReasons("m", time.Now())
	for _, tc := range []struct {
		name, code string
		ok         bool
	}{
		{"Empty", "", true},
		{"Default", "damaged", true},
		{"Other", "other", true},
		{"FreeText", "Customer changed her mind", false},
		{"Unknown", "goodwill", false},
		{"CaseMatters", "Damaged", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refundry.CheckReason(rs, "reason", tc.code)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckReason(%q) = %v", tc.code, err)
			}
			if err == nil {
				return
			}
			msg := refundry.ErrorMessage(err)
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "reason" {
				t.Errorf("err = %v, want EINVALID on reason", err)
			}
			if !strings.Contains(msg, "requested_by_customer") || !strings.Contains(msg, "description") {
				t.Errorf("message %q lists no valid code or does not point to description", msg)
			}
		})
	}
	if err := refundry.CheckReason(nil, "rows[3].reason", "x"); refundry.ErrorParam(err) != "rows[3].reason" {
		t.Errorf("no reasons: %v", err)
	}
}

func TestStripeReasonOfDeletedCode(t *testing.T) {
	custom := []*refundry.RefundReason{{Code: "damaged", StripeReason: ""}, {Code: "chargeback", StripeReason: "fraudulent"}}
	for code, want := range map[string]string{
		"damaged":    "",                        // the merchant's mapping wins over the default's
		"chargeback": "fraudulent",              // a code of its own
		"duplicate":  "duplicate",               // deleted since: the default's mapping
		"goodwill":   "",                        // deleted, not a default: none
		"":           "",                        // no reason
		"other":      "",                        // other tells Stripe nothing
		"fraudulent": refundry.StripeFraudulent, // deleted default
	} {
		if got := refundry.StripeReasonOf(custom, code); got != want {
			t.Errorf("StripeReasonOf(%q) = %q, want %q", code, got, want)
		}
	}
}
