package refundry

import (
	"net/mail"
	"strings"
	"time"
)

// Referral statuses. Refunding a referral's origin voids it.
const (
	ReferralApproved   = "approved"
	ReferralPending    = "pending"
	ReferralUnapproved = "unapproved"
	ReferralVoided     = "voided"
)

// Origin kinds: a purchase is a sale found by its order number; an event is
// "category:number" and carries no money.
const (
	OriginPurchase = "purchase"
	OriginEvent    = "event"
)

// Origin is what a referral refers to. Integer ids, as Talkable's are.
type Origin struct {
	ID         int64     `json:"id"`
	MerchantID string    `json:"-"`
	Slug       string    `json:"slug"`
	Kind       string    `json:"kind"`
	SaleID     string    `json:"sale"`
	Created    time.Time `json:"created"`
}

// IsEventSlug reports whether an origin slug names an event
// (event_category:event_number) rather than a purchase's order number.
func IsEventSlug(slug string) bool {
	cat, num, ok := strings.Cut(slug, ":")
	return ok && cat != "" && num != ""
}

// Person is an advocate or a friend in a referral.
type Person struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// Referral links an advocate, a friend and the origin the friend was
// referred to.
type Referral struct {
	ID          int64     `json:"id"`
	MerchantID  string    `json:"-"`
	OriginID    int64     `json:"origin_id"`
	OriginSlug  string    `json:"origin"`
	CampaignID  int64     `json:"campaign_id"`
	OfferID     int64     `json:"offer_id"`
	Advocate    Person    `json:"advocate"`
	Friend      Person    `json:"friend"`
	TrackMethod string    `json:"track_method"`
	Status      string    `json:"status"`
	AdRewarded  bool      `json:"ad_rewarded"`
	QAGenerated bool      `json:"qa_generated"`
	Subtotal    int64     `json:"subtotal"`
	Currency    string    `json:"currency"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// Validate checks a referral about to be created.
func (r *Referral) Validate() error {
	if err := checkTexts(255, "origin", r.OriginSlug, "track_method", r.TrackMethod,
		"advocate.first_name", r.Advocate.FirstName, "advocate.last_name", r.Advocate.LastName,
		"friend.first_name", r.Friend.FirstName, "friend.last_name", r.Friend.LastName); err != nil {
		return err
	}
	if r.OriginSlug == "" {
		return ParamErrorf(EINVALID, "origin", "Origin is required: an order number or event_category:event_number.")
	}
	// A slice, not a map: with both emails bad, the error must name the
	// same parameter every time.
	for _, p := range []struct {
		param string
		email string
	}{{"advocate.email", r.Advocate.Email}, {"friend.email", r.Friend.Email}} {
		if a, err := mail.ParseAddress(p.email); err != nil || a.Address != p.email {
			return ParamErrorf(EINVALID, p.param, "A valid email address is required.")
		}
	}
	if r.Status == "" {
		r.Status = ReferralApproved
	}
	switch r.Status {
	case ReferralApproved, ReferralPending, ReferralUnapproved, ReferralVoided:
	default:
		return ParamErrorf(EINVALID, "status", "Status must be approved, pending, unapproved or voided.")
	}
	if len(r.TrackMethod) > 64 {
		return ParamErrorf(EINVALID, "track_method", "Track method must be at most 64 characters.")
	}
	if r.Subtotal < 0 || r.Subtotal > maxAmount {
		return ParamErrorf(EINVALID, "subtotal", "Subtotal must not be negative.")
	}
	return nil
}
