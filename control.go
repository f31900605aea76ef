package refundry

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Refund controls: rules a merchant sets before money leaves (how late,
// how often, how much without a second pair of eyes), and a person's word
// where a gateway gives none. The rules are decided here; the store keeps
// the policy and applies it under the sale's lock through DecideRefund.

// RefundPolicy is a merchant's rules for refunds made through any edge
// (the native API, the dashboard, bulk jobs, the five dialects). A refund
// a gateway reports (adopted) is never refused: its money is gone already.
type RefundPolicy struct {
	MerchantID string `json:"-"`
	// MaxAgeDays refuses a refund once this many days have passed since
	// the sale was recorded (EWINDOW); nil: no limit.
	MaxAgeDays *int64 `json:"max_age_days"`
	// MaxRefundsPerSale refuses a refund request once the sale has this
	// many that hold money (ETOOMANY); a request a sale paid twice splits
	// into two refunds counts once, and one that failed or was canceled
	// does not count. nil: no limit.
	MaxRefundsPerSale *int64 `json:"max_refunds_per_sale"`
	// ApprovalThreshold holds, per currency, the amount (minor units) at
	// or above which a refund requires approval: the money that leaves,
	// its amount less the fee the merchant keeps. A currency not listed
	// needs no approval.
	ApprovalThreshold map[string]int64 `json:"approval_threshold"`
	// ApprovalForSources limits the threshold to refunds made through
	// these sources (SourceNative, SourceBulk, ... or "dialects" for the
	// five); empty: every source.
	ApprovalForSources []string `json:"approval_for_sources"`
	// ApprovalExpiryHours is how long a refund waits for approval before
	// it is released (refund.expired); nil: DefaultApprovalExpiry.
	ApprovalExpiryHours *int64    `json:"approval_expiry_hours"`
	Updated             time.Time `json:"updated"`
}

// DefaultApprovalExpiry is how long a refund waits for approval when the
// policy does not say.
const DefaultApprovalExpiry = 72 * time.Hour

// SourceDialects stands, in ApprovalForSources, for the five dialects.
const SourceDialects = "dialects"

// dialectSources are the sources SourceDialects stands for.
var dialectSources = []string{SourceKeepUp, SourceTalkable, SourceRevCent, SourcePayop, SourceJetti}

// policySources are the sources a policy may name.
var policySources = append([]string{SourceNative, SourceDashboard, SourceBulk, SourceDialects}, dialectSources...)

// Policy limits: generous enough for any real rule, small enough that no
// sum overflows.
const (
	maxPolicyDays    = 36500
	maxPolicyRefunds = 1_000_000
	maxPolicyHours   = 24 * 366
)

// Change is one field of a PolicyChange: left as it is (Set false),
// removed (Set, Value nil) or set to *Value.
type Change[T any] struct {
	Set   bool
	Value *T
}

// PolicyChange is a partial update of a RefundPolicy, as
// POST /v1/refund_policy and `refundry policy set` send it: a field left
// out is unchanged, a null removes the rule. ApprovalThreshold changes
// the currencies it names (a nil value removes that currency); Set with a
// nil map removes every threshold.
type PolicyChange struct {
	MaxAgeDays          Change[int64]
	MaxRefundsPerSale   Change[int64]
	ApprovalThreshold   Change[map[string]*int64]
	ApprovalForSources  Change[[]string]
	ApprovalExpiryHours Change[int64]
}

// Empty reports whether c changes nothing.
func (c PolicyChange) Empty() bool {
	return !c.MaxAgeDays.Set && !c.MaxRefundsPerSale.Set && !c.ApprovalThreshold.Set &&
		!c.ApprovalForSources.Set && !c.ApprovalExpiryHours.Set
}

// Apply returns p with c applied at now, or EINVALID naming the first
// field whose value is not a rule: counts and days below 1, a threshold
// below 0 or in an unknown currency, an unknown source.
func (p RefundPolicy) Apply(c PolicyChange, now time.Time) (*RefundPolicy, error) {
	out := p
	out.ApprovalThreshold = maps.Clone(p.ApprovalThreshold)
	out.ApprovalForSources = slices.Clone(p.ApprovalForSources)
	setInt := func(dst **int64, ch Change[int64], param string, max int64, what string) error {
		if !ch.Set {
			return nil
		}
		if ch.Value == nil {
			*dst = nil
			return nil
		}
		if v := *ch.Value; v < 1 || v > max {
			return ParamErrorf(EINVALID, param, "%s must be a whole number from 1 to %d, or null to remove the rule.", what, max)
		}
		v := *ch.Value
		*dst = &v
		return nil
	}
	if err := setInt(&out.MaxAgeDays, c.MaxAgeDays, "max_age_days", maxPolicyDays, "max_age_days"); err != nil {
		return nil, err
	}
	if err := setInt(&out.MaxRefundsPerSale, c.MaxRefundsPerSale, "max_refunds_per_sale", maxPolicyRefunds, "max_refunds_per_sale"); err != nil {
		return nil, err
	}
	if err := setInt(&out.ApprovalExpiryHours, c.ApprovalExpiryHours, "approval_expiry_hours", maxPolicyHours, "approval_expiry_hours"); err != nil {
		return nil, err
	}
	if c.ApprovalThreshold.Set {
		if c.ApprovalThreshold.Value == nil {
			out.ApprovalThreshold = nil
		}
		for _, cur := range sortedKeys(c.ApprovalThreshold.ValueOrNil()) {
			v := (*c.ApprovalThreshold.Value)[cur]
			param := "approval_threshold." + cur
			if _, err := LookupCurrency(cur); err != nil || cur != strings.ToUpper(cur) {
				return nil, ParamErrorf(EINVALID, param, "%q is not a currency code Refundry knows (ISO 4217, upper case, such as USD).", cur)
			}
			if v == nil {
				delete(out.ApprovalThreshold, cur)
				continue
			}
			if *v < 0 || *v > maxAmount {
				return nil, ParamErrorf(EINVALID, param, "A threshold is a whole number of minor units, 0 or more (0: every refund in %s needs approval), or null to remove it.", cur)
			}
			if out.ApprovalThreshold == nil {
				out.ApprovalThreshold = map[string]int64{}
			}
			out.ApprovalThreshold[cur] = *v
		}
		if len(out.ApprovalThreshold) == 0 {
			out.ApprovalThreshold = nil
		}
	}
	if c.ApprovalForSources.Set {
		out.ApprovalForSources = nil
		if c.ApprovalForSources.Value != nil {
			for i, src := range *c.ApprovalForSources.Value {
				if !slices.Contains(policySources, src) {
					return nil, ParamErrorf(EINVALID, fmt.Sprintf("approval_for_sources[%d]", i),
						"%q is not a source; name any of %s.", src, strings.Join(policySources, ", "))
				}
				if !slices.Contains(out.ApprovalForSources, src) {
					out.ApprovalForSources = append(out.ApprovalForSources, src)
				}
			}
		}
	}
	out.Updated = now
	return &out, nil
}

// ValueOrNil is the change's value, or nil when it removes.
func (c Change[T]) ValueOrNil() T {
	var zero T
	if c.Value == nil {
		return zero
	}
	return *c.Value
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ApprovalExpiry is how long a refund of this policy waits for approval.
func (p *RefundPolicy) ApprovalExpiry() time.Duration {
	if p == nil || p.ApprovalExpiryHours == nil {
		return DefaultApprovalExpiry
	}
	return time.Duration(*p.ApprovalExpiryHours) * time.Hour
}

// CheckPolicy refuses a refund request the policy forbids on sale at now:
// EWINDOW once MaxAgeDays have passed since the sale, ETOOMANY when the
// sale already has MaxRefundsPerSale refund requests holding money
// (sale.HeldRefunds, read under the sale's lock). A nil policy refuses
// nothing.
func CheckPolicy(p *RefundPolicy, sale *Sale, now time.Time) error {
	if p == nil {
		return nil
	}
	if p.MaxAgeDays != nil {
		deadline := sale.Created.Add(time.Duration(*p.MaxAgeDays) * 24 * time.Hour)
		if !now.Before(deadline) {
			return Errorf(EWINDOW, "The refund window of this sale closed on %s: the merchant's policy allows refunds for %d days after a sale.",
				deadline.UTC().Format("2006-01-02"), *p.MaxAgeDays)
		}
	}
	if p.MaxRefundsPerSale != nil && int64(sale.HeldRefunds) >= *p.MaxRefundsPerSale {
		return Errorf(ETOOMANY, "This sale has %d refunds already; the merchant's policy allows at most %d per sale.",
			sale.HeldRefunds, *p.MaxRefundsPerSale)
	}
	return nil
}

// NeedsApproval reports whether a refund request through source that
// sends out leaving (its amount less its fee, in currency's minor units)
// must wait for approval under p.
func (p *RefundPolicy) NeedsApproval(source, currency string, leaving int64) bool {
	if p == nil {
		return false
	}
	threshold, ok := p.ApprovalThreshold[currency]
	if !ok || leaving < threshold {
		return false
	}
	if len(p.ApprovalForSources) == 0 {
		return true
	}
	return slices.Contains(p.ApprovalForSources, source) ||
		(slices.Contains(p.ApprovalForSources, SourceDialects) && slices.Contains(dialectSources, source))
}

// CheckApprover refuses an approval of r by who when who asked for it:
// two people, not one, must agree before money leaves. Rejecting one's
// own refund is withdrawing it, and is allowed.
func CheckApprover(r *Refund, who string) error {
	if who == "" {
		return ParamErrorf(EFORBIDDEN, "approver", "An approval must name who approves.")
	}
	if r.RequestedBy != "" && r.RequestedBy == who {
		return ParamErrorf(EFORBIDDEN, "approver", "You asked for refund %s; someone else must approve it.", r.ID)
	}
	return nil
}

// Resolutions of a refund in manual review.
const (
	ResolveSucceeded = "succeeded" // the gateway paid it: give its reference
	ResolveFailed    = "failed"    // the gateway never paid it: release the amount
	ResolveRetry     = "retry"     // send it back to recovery
)

// Resolution is a person's decision on a refund in manual review.
type Resolution struct {
	Outcome         string // ResolveSucceeded, ResolveFailed or ResolveRetry
	GatewayRefundID string // the gateway's reference, for ResolveSucceeded
	Note            string // why: required
}

// Settlement returns the settlement the resolution makes by who, or
// EINVALID naming what is missing.
func (res Resolution) Settlement(who string) (Settlement, error) {
	if err := checkTexts(255, "gateway_refund_id", res.GatewayRefundID); err != nil {
		return Settlement{}, err
	}
	if err := checkTexts(MaxDescription, "note", res.Note); err != nil {
		return Settlement{}, err
	}
	if strings.TrimSpace(res.Note) == "" {
		return Settlement{}, ParamErrorf(EINVALID, "note", "Say why: a resolution is kept in the audit log with who made it and why.")
	}
	st := Settlement{By: ByApprover, Actor: who, Note: res.Note, GatewayRefundID: res.GatewayRefundID}
	switch res.Outcome {
	case ResolveSucceeded:
		if strings.TrimSpace(res.GatewayRefundID) == "" {
			return Settlement{}, ParamErrorf(EINVALID, "gateway_refund_id", "A refund resolved as succeeded needs the gateway's reference for it.")
		}
		st.Status = RefundSucceeded
	case ResolveFailed:
		st.Status = RefundFailed
		st.FailureReason = "Marked failed in manual review: " + res.Note
	case ResolveRetry:
		st.Status = RefundPending
	default:
		return Settlement{}, ParamErrorf(EINVALID, "outcome", "Outcome must be succeeded, failed or retry.")
	}
	return st, nil
}

// ReviewRule says when recovery stops asking a gateway about a refund and
// hands it to a person: after Attempts attempts, or once the refund is
// older than Age. A zero field sets no limit of its own.
type ReviewRule struct {
	Attempts int
	Age      time.Duration
}

// Default review limits: about three hours of recovery's backoff, or
// three days however few attempts.
const (
	DefaultReviewAttempts = 25
	DefaultReviewAge      = 72 * time.Hour
)

// Review returns why r, still pending after recovery asked about it
// (r.Attempts times in all, lastErr the last call's error or nil for an
// answer that stays pending), is to be sent to manual review at now, or
// "" if recovery keeps asking.
func (rr ReviewRule) Review(r *Refund, lastErr error, now time.Time) string {
	var why string
	switch {
	case rr.Attempts > 0 && r.Attempts >= rr.Attempts:
		why = fmt.Sprintf("Recovery asked the gateway %d times and it gave no final answer.", r.Attempts)
	case rr.Age > 0 && now.Sub(r.Created) >= rr.Age:
		why = fmt.Sprintf("The refund has been pending for %s without a final answer from the gateway.", now.Sub(r.Created).Round(time.Minute))
	default:
		return ""
	}
	if lastErr != nil {
		why += " Its last answer: " + ErrorMessage(lastErr)
	}
	return why
}

// RefundQueue is one of the queues of refunds waiting for a person: its
// status (RefundRequiresApproval or RefundRequiresAction), how many
// refunds are in it, and since when the oldest has waited (zero when
// empty).
type RefundQueue struct {
	Status string
	Count  int64
	Oldest time.Time
}

// QueueStatuses are the statuses of the queues people work.
var QueueStatuses = []string{RefundRequiresApproval, RefundRequiresAction}
