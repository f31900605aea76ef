package refundry

import (
	"sort"
	"strings"
	"time"
)

// Reason codes every merchant starts with. Refunds made before reason
// codes existed carry their old free text as Description and the code
// ReasonOther.
const (
	ReasonRequestedByCustomer = "requested_by_customer"
	ReasonDuplicate           = "duplicate"
	ReasonFraudulent          = "fraudulent"
	ReasonDamaged             = "damaged"
	ReasonWrongItem           = "wrong_item"
	ReasonNotReceived         = "not_received"
	ReasonLateDelivery        = "late_delivery"
	ReasonOther               = "other"
)

// Stripe's own refund reasons: the only values Stripe accepts in a
// refund's reason; anything else stays in Refundry.
const (
	StripeDuplicate           = "duplicate"
	StripeFraudulent          = "fraudulent"
	StripeRequestedByCustomer = "requested_by_customer"
)

// MaxReasonCode bounds a reason code; MaxReasonLabel its label and
// MaxDescription a refund's description, in bytes.
const (
	MaxReasonCode  = 64
	MaxReasonLabel = 200
	MaxDescription = 1000
)

// DefaultRefundReasons returns the reasons a new merchant is given (and
// every merchant that existed before reasons did), in their order.
func DefaultRefundReasons(merchantID string, created time.Time) []*RefundReason {
	defs := []struct{ code, label, stripe string }{
		{ReasonRequestedByCustomer, "Requested by customer", StripeRequestedByCustomer},
		{ReasonDuplicate, "Duplicate charge", StripeDuplicate},
		{ReasonFraudulent, "Fraudulent", StripeFraudulent},
		{ReasonDamaged, "Damaged item", StripeRequestedByCustomer},
		{ReasonWrongItem, "Wrong item", StripeRequestedByCustomer},
		{ReasonNotReceived, "Not received", StripeRequestedByCustomer},
		{ReasonLateDelivery, "Late delivery", StripeRequestedByCustomer},
		{ReasonOther, "Other", ""},
	}
	out := make([]*RefundReason, len(defs))
	for i, d := range defs {
		// A microsecond apart, so that the order they were made in is the
		// order the list shows, on both stores' clocks.
		out[i] = &RefundReason{MerchantID: merchantID, Code: d.code, Label: d.label, StripeReason: d.stripe,
			Created: created.UTC().Truncate(time.Microsecond).Add(time.Duration(i) * time.Microsecond)}
	}
	return out
}

// IsDefaultReason tells whether code is one of the default reason codes.
func IsDefaultReason(code string) bool {
	for _, r := range DefaultRefundReasons("", time.Time{}) {
		if r.Code == code {
			return true
		}
	}
	return false
}

// ValidReasonCode tells whether s can be a reason code: 1 to 64 of
// lowercase a-z, 0-9 and _, so that a code reads the same in a URL, a CSV
// cell and a Stripe dashboard.
func ValidReasonCode(s string) bool {
	if s == "" || len(s) > MaxReasonCode {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidStripeReason tells whether s may be told to Stripe as a refund's
// reason ("" tells it none).
func ValidStripeReason(s string) bool {
	switch s {
	case "", StripeDuplicate, StripeFraudulent, StripeRequestedByCustomer:
		return true
	}
	return false
}

// Validate returns EINVALID, naming the field, for a reason that cannot be
// kept.
func (r *RefundReason) Validate() error {
	if !ValidReasonCode(r.Code) {
		return ParamErrorf(EINVALID, "code", "A reason code is 1 to %d characters of lowercase a-z, 0-9 and _.", MaxReasonCode)
	}
	r.Label = strings.TrimSpace(r.Label)
	if r.Label == "" {
		return ParamErrorf(EINVALID, "label", "A reason needs a label.")
	}
	if err := checkTexts(MaxReasonLabel, "label", r.Label); err != nil {
		return err
	}
	if !ValidStripeReason(r.StripeReason) {
		return ParamErrorf(EINVALID, "stripe_reason", "stripe_reason must be duplicate, fraudulent, requested_by_customer or empty.")
	}
	return nil
}

// CheckReason returns EINVALID, naming param, unless code is one of
// reasons' codes or empty. Stripe's reason is optional, and so is a
// refund's: an empty reason says none was given, which every merchant
// accepts (no list can make it fail).
func CheckReason(reasons []*RefundReason, param, code string) error {
	if code == "" || FindReason(reasons, code) != nil {
		return nil
	}
	const shown = 5
	codes := make([]string, 0, shown)
	for _, r := range reasons {
		if len(codes) == shown {
			codes = append(codes, "...")
			break
		}
		codes = append(codes, r.Code)
	}
	if len(codes) == 0 {
		return ParamErrorf(EINVALID, param, "Unknown reason %q: this merchant has no reason codes; leave the reason empty and write free text in description.", clip(code))
	}
	return ParamErrorf(EINVALID, param, "Unknown reason %q: use one of this merchant's reason codes (%s; GET /v1/refund_reasons lists them) and put free text in description.",
		clip(code), strings.Join(codes, ", "))
}

// FindReason returns the reason with the code, or nil.
func FindReason(reasons []*RefundReason, code string) *RefundReason {
	for _, r := range reasons {
		if r.Code == code {
			return r
		}
	}
	return nil
}

// StripeReasonOf is the reason Stripe is told for a refund whose reason
// is code: the merchant's mapping, or, for a code the merchant has since
// deleted, the default's mapping if code is a default, else none.
func StripeReasonOf(reasons []*RefundReason, code string) string {
	if code == "" {
		return ""
	}
	if r := FindReason(reasons, code); r != nil {
		return r.StripeReason
	}
	if r := FindReason(DefaultRefundReasons("", time.Time{}), code); r != nil {
		return r.StripeReason
	}
	return ""
}

// clip shortens text quoted back in a message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if i < len(s) && (s[i]&0xC0) != 0x80 {
			return s[:i] + "..."
		}
	}
	return ""
}

// CanDeleteReason returns ECONFLICT for a reason that must stay: "other"
// is where free text lands (refunds made before reason codes, and any
// edge whose reason is free text), so a merchant may relabel it but not
// remove it.
func CanDeleteReason(code string) error {
	if code == ReasonOther {
		return ParamErrorf(ECONFLICT, "code", "The reason %q cannot be deleted: free text is filed under it. Change its label instead.", ReasonOther)
	}
	return nil
}

// ReasonCounter adds up refunds, grouped by reason, currency and status
// as a store reads them, into the reasons report: every refund counts,
// and only those that reserve money (see Holds) add to the amounts, so a
// failed or canceled refund is seen without inflating what went back.
type ReasonCounter struct {
	by map[string]*ReasonCount
}

// Add counts n refunds of the reason, currency and status, of the given
// total amount.
func (c *ReasonCounter) Add(reason, currency, status string, n, amount int64) {
	if c.by == nil {
		c.by = map[string]*ReasonCount{}
	}
	rc := c.by[reason]
	if rc == nil {
		rc = &ReasonCount{Reason: reason, Amounts: map[string]int64{}}
		c.by[reason] = rc
	}
	rc.Count += n
	if Holds(status) {
		rc.Amounts[currency] += amount
	}
}

// Counts returns the report: most refunds first, then by reason.
func (c *ReasonCounter) Counts() []ReasonCount {
	out := make([]ReasonCount, 0, len(c.by))
	for _, rc := range c.by {
		out = append(out, *rc)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// ReasonsOrDefaults is a merchant's reasons as stored, or, when none are,
// the defaults: a merchant made by a process still on a binary older than
// reason codes (during a rolling upgrade) has no rows, and must not be
// left without the codes every merchant has. Stores write the defaults
// for such a merchant before its first change to the list.
func ReasonsOrDefaults(stored []*RefundReason, merchantID string, merchantCreated time.Time) []*RefundReason {
	if len(stored) > 0 {
		return stored
	}
	return DefaultRefundReasons(merchantID, merchantCreated)
}
