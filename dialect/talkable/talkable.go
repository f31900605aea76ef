// Package talkable is the Talkable dialect: Talkable's origin refund
// endpoint (seed 001, "POST /api/v2/origins/<origin_slug>/refund"),
// answered by the Refundry engine so that a client written against
// Talkable's documentation works unchanged. It translates only; refunding
// the purchase and voiding the referrals are the engine's.
package talkable

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// maxBody bounds a request body: site_slug and a date are all it holds.
const maxBody = 64 << 10

// maxSlug is the longest origin slug a store keeps; a longer one cannot
// name an origin, so it is not looked up at all.
const maxSlug = 255

// NewHandler returns the Talkable routes.
func NewHandler(eng *engine.Engine, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, logger, err) }
	// The seed authenticates with "curl -u i9uil7nQgDjucCiTJu:": the key is
	// the Basic user name with an empty password. Bearer is taken too.
	auth := func(h http.Handler) http.Handler { return edge.Authenticate(eng, edge.KeyForms{Basic: true}, fail, h) }

	// ServeMux matches the escaped path and unescapes the wildcard, so an
	// event slug's colon sent as %3A arrives as ":".
	mux.Handle("POST /api/v2/origins/{origin_slug}/refund", auth(handleRefundOrigin(eng, logger)))
	mux.HandleFunc("/api/v2/origins/{origin_slug}/refund", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		writeError(w, r, logger, &edge.WireError{Status: http.StatusMethodNotAllowed, Message: "Method not allowed"})
	})
	return mux
}

// refundOriginRequest is the seed's parameter table: site_slug ("Your
// Talkable Site ID") and data ("Optional: JSON object with refunded_at
// property"). Values are read as any so that a wrong type is named.
type refundOriginRequest struct {
	SiteSlug any         `json:"site_slug"`
	Data     *refundData `json:"data"`
}

type refundData struct {
	RefundedAt any `json:"refunded_at"`
}

// successBody is Talkable's envelope, {"ok": true, "result": {...}}.
type successBody struct {
	OK     bool       `json:"ok"`
	Result resultBody `json:"result"`
}

type resultBody struct {
	Referral *referralJSON `json:"referral"`
}

// referralJSON has exactly the fields of the seed's sample response, in
// its order.
type referralJSON struct {
	AdRewarded       bool        `json:"ad_rewarded"`
	AdvocatePerson   personJSON  `json:"advocate_person"`
	CampaignID       int64       `json:"campaign_id"`
	CreatedAt        string      `json:"created_at"`
	FriendPerson     personJSON  `json:"friend_person"`
	ID               int64       `json:"id"`
	OfferID          int64       `json:"offer_id"`
	QAGenerated      bool        `json:"qa_generated"`
	ReferredOriginID int64       `json:"referred_origin_id"`
	ReferredSubtotal json.Number `json:"referred_subtotal"`
	Status           string      `json:"status"`
	TrackMethod      string      `json:"track_method"`
	UpdatedAt        string      `json:"updated_at"`
}

// personJSON is the seed's person: {"id": 39198, "email": ..., "first_name":
// null, "last_name": null}.
type personJSON struct {
	ID        int64   `json:"id"`
	Email     string  `json:"email"`
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
}

// timeLayout writes dates as the seed does, "2019-05-27T15:41:31.000-07:00":
// milliseconds and a numeric offset, never "Z".
const timeLayout = "2006-01-02T15:04:05.000-07:00"

func handleRefundOrigin(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m := edge.MerchantFrom(ctx)
		body, idem, err := edge.ReadRequest(w, r, maxBody)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decodeRefundOrigin(body)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		// The site is named twice, by the key and by site_slug; a key used
		// for another site is not authorized for this one.
		if req.siteSlug != m.Slug {
			writeError(w, r, logger, refundry.Errorf(refundry.EUNAUTHORIZED, "site_slug is not the key's site."))
			return
		}
		slug := r.PathValue("origin_slug")
		if slug == "" || len(slug) > maxSlug {
			writeError(w, r, logger, refundry.Errorf(refundry.ENOTFOUND, "No such origin."))
			return
		}
		ref, err := eng.RefundOrigin(ctx, m.ID, slug, refundry.SourceTalkable, req.refundedAt, idem)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		out := successBody{OK: true}
		if ref != nil {
			rj, err := renderReferral(ref, m)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			out.Result.Referral = &rj
		}
		edge.WriteJSON(w, http.StatusOK, out)
	})
}

type refundOrigin struct {
	siteSlug   string
	refundedAt time.Time // zero: the time of the request
}

// decodeRefundOrigin reads the body. It does not look at Content-Type:
// "curl -d" sends a JSON body as a form unless told otherwise, and Talkable
// clients copy that line.
func decodeRefundOrigin(body []byte) (refundOrigin, error) {
	var out refundOrigin
	body = bytes.TrimSpace(body)
	var req refundOriginRequest
	if len(body) > 0 {
		if body[0] != '{' {
			return out, refundry.Errorf(refundry.EINVALID, "Request body must be a JSON object.")
		}
		if err := edge.DecodeFields(body, &req); err != nil {
			return out, err
		}
	}
	switch s := req.SiteSlug.(type) {
	case nil:
		return out, &edge.WireError{Status: http.StatusBadRequest, Message: "site_slug is required"}
	case string:
		if s == "" {
			return out, &edge.WireError{Status: http.StatusBadRequest, Message: "site_slug is required"}
		}
		out.siteSlug = s
	default:
		return out, refundry.ParamErrorf(refundry.EINVALID, "site_slug", "site_slug must be a string.")
	}
	if req.Data != nil {
		at, err := parseRefundedAt(req.Data.RefundedAt)
		if err != nil {
			return out, err
		}
		out.refundedAt = at
	}
	return out, nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last second ISO 8601 can write
// with four year digits.
const maxUnix = 253402300799

// parseRefundedAt reads the seed's refunded_at ({"refunded_at": "12345"}):
// decided to be an ISO 8601 date-time, or unix seconds as a string or a
// number.
func parseRefundedAt(v any) (time.Time, error) {
	bad := refundry.ParamErrorf(refundry.EINVALID, "data.refunded_at",
		"data.refunded_at must be an ISO 8601 date-time (2019-05-27T15:41:31-07:00) or unix seconds.")
	var text string
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case json.Number:
		text = x.String()
	case string:
		text = strings.TrimSpace(x)
	default:
		return time.Time{}, bad
	}
	if text == "" {
		return time.Time{}, bad
	}
	// Both forms are bounded to 1970 through 9999: an offset can carry a
	// date written in year 0000 out of the range a date can be stored in.
	inRange := func(t time.Time) bool { return t.Unix() >= 0 && t.Unix() <= maxUnix }
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		if t := time.Unix(n, 0).UTC(); n >= 0 && n <= maxUnix {
			return t, nil
		}
		return time.Time{}, bad
	}
	if _, isNumber := v.(json.Number); isNumber {
		return time.Time{}, bad
	}
	// ISO 8601 as clients write it: with an offset or Z, with or without
	// fractions; without a zone it is taken as UTC.
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, text); err == nil && inRange(t) {
			return t, nil
		}
	}
	return time.Time{}, bad
}

func renderReferral(r *refundry.Referral, m *refundry.Merchant) (referralJSON, error) {
	cur, err := refundry.LookupCurrency(r.Currency)
	if err != nil {
		// A referral recorded without a currency is in the merchant's.
		if cur, err = refundry.LookupCurrency(m.Currency); err != nil {
			return referralJSON{}, &refundry.Error{Code: refundry.EINTERNAL, Message: "An internal error occurred.", Err: err}
		}
	}
	return referralJSON{
		AdRewarded:       r.AdRewarded,
		AdvocatePerson:   renderPerson(r.Advocate),
		CampaignID:       r.CampaignID,
		CreatedAt:        r.Created.Format(timeLayout),
		FriendPerson:     renderPerson(r.Friend),
		ID:               r.ID,
		OfferID:          r.OfferID,
		QAGenerated:      r.QAGenerated,
		ReferredOriginID: r.OriginID,
		// Invariant 1: a JSON number in major units ("35.03"), written
		// from minor units as exact text, never through a float.
		ReferredSubtotal: json.Number(refundry.FormatMajor(r.Subtotal, cur)),
		Status:           r.Status,
		TrackMethod:      r.TrackMethod,
		UpdatedAt:        r.Updated.Format(timeLayout),
	}, nil
}

func renderPerson(p refundry.Person) personJSON {
	return personJSON{ID: p.ID, Email: p.Email, FirstName: nullable(p.FirstName), LastName: nullable(p.LastName)}
}

// nullable writes an absent name as null, as the seed's sample does.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
