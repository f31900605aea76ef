package refundry_test

import (
	"testing"

	"github.com/refundry/refundry"
)

func TestWebhookEndpointValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []string
		param  string // "" when valid
	}{
		{"OKAll", []string{"*"}, ""},
		{"OKType", []string{refundry.EventRefundSucceeded}, ""},
		{"OKFamilies", []string{"refund.*", "sale.*", "referral.*"}, ""},
		{"OKMixed", []string{"refund.*", refundry.EventSaleRefunded}, ""},
		{"ErrNone", nil, "enabled_events"},
		{"ErrUnknownType", []string{"refund.exploded"}, "enabled_events"},
		{"ErrUnknownFamily", []string{"refunds.*"}, "enabled_events"},
		{"ErrBareFamily", []string{"refund"}, "enabled_events"},
		{"ErrPrefixWithoutStar", []string{"refund."}, "enabled_events"},
		{"ErrStarWithoutDot", []string{"refund*"}, "enabled_events"},
		{"ErrDeeperPattern", []string{"refund.created.*"}, "enabled_events"},
		{"ErrInnerStar", []string{"*.created"}, "enabled_events"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &refundry.WebhookEndpoint{URL: "https://example.com/hooks", EnabledEvents: tt.events}
			checkValidate(t, e.Validate(), refundry.EINVALID, tt.param)
		})
	}
}

func TestWebhookEndpointWants(t *testing.T) {
	for _, tt := range []struct {
		events []string
		typ    string
		want   bool
	}{
		{[]string{"*"}, refundry.EventSaleCreated, true},
		{[]string{refundry.EventRefundSucceeded}, refundry.EventRefundSucceeded, true},
		{[]string{refundry.EventRefundSucceeded}, refundry.EventRefundFailed, false},
		{[]string{"refund.*"}, refundry.EventRefundCreated, true},
		{[]string{"refund.*"}, refundry.EventRefundCanceled, true},
		{[]string{"refund.*"}, refundry.EventSaleRefunded, false},
		{[]string{"sale.*"}, refundry.EventSaleRefunded, true},
		{[]string{"sale.*"}, refundry.EventRefundCreated, false},
		// A family is a whole word: "refund.*" is not "referral.*".
		{[]string{"refund.*"}, refundry.EventReferralVoided, false},
		// Patterns are matched at delivery, so a type the family gains
		// after the endpoint was stored reaches it too.
		{[]string{"sale.*"}, "sale.over_refunded", true},
		{[]string{"refund.*"}, "refund.requires_action", true},
		{[]string{"sale.*", "refund.succeeded"}, refundry.EventRefundSucceeded, true},
	} {
		e := &refundry.WebhookEndpoint{EnabledEvents: tt.events}
		if got := e.Wants(tt.typ); got != tt.want {
			t.Errorf("%v wants %s = %v, want %v", tt.events, tt.typ, got, tt.want)
		}
	}
}
