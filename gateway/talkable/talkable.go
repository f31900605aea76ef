// Package talkable is Refundry's client of Talkable's origin refund
// endpoint (seed 001): when a sale with a Talkable origin is wholly
// refunded, a merchant's Talkable account is told, and Talkable voids
// the referrals of that origin. It is not a payment gateway: it moves
// no money, and it is called from the outbox (package notify), retried
// and recorded like a webhook delivery.
//
// The call, as the seed shows it:
//
//	POST {base}/api/v2/origins/{order_number}/refund
//	Authorization: Basic base64(api_key + ":")   (curl -u api_key:)
//	{"site_slug": "my-store", "data": {"refunded_at": "1700000000"}}
package talkable

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// DefaultBaseURL is Talkable's, from the seed's example.
const DefaultBaseURL = "https://www.talkable.com"

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 10

// Config configures a Client.
type Config struct {
	// BaseURL is Talkable's base; "" means DefaultBaseURL.
	BaseURL string
	// APIKey is sent as the Basic user name, with an empty password.
	APIKey string
	// SiteSlug names the merchant's site at Talkable.
	SiteSlug string
	// HTTPClient makes the requests; nil means one with a 30 s timeout
	// that follows no redirect (a redirect would send the key elsewhere).
	HTTPClient *http.Client
}

// Client voids origins' referrals at Talkable. It is safe for
// concurrent use.
type Client struct {
	base, key, site string
	http            *http.Client
}

// New returns a Client for cfg. EINVALID naming the credential or
// base_url at fault.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "credentials.api_key", "Talkable needs an API key.")
	}
	if strings.TrimSpace(cfg.SiteSlug) == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "credentials.site_slug", "Talkable needs the site's slug (site_slug).")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "base_url", "Talkable base URL %q is not an http(s) URL.", base)
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Client{base: strings.TrimRight(base, "/"), key: cfg.APIKey, site: cfg.SiteSlug, http: c}, nil
}

// Answer is Talkable's answer to one call.
type Answer struct {
	// Status is the HTTP status.
	Status int
	// Body is the start of the answer's body, for the delivery's record.
	Body string
	// Done is true when the call needs no retry: the origin's referrals
	// are voided (2xx), or Talkable has no such origin (404), so there
	// is nothing to void.
	Done bool
	// Voided is true when Talkable named a referral it voided.
	Voided bool
	// Message is Talkable's error_message, if it sent one.
	Message string
}

type request struct {
	SiteSlug string      `json:"site_slug"`
	Data     requestData `json:"data"`
}

// requestData's refunded_at is unix seconds as a string, the seed's own
// example ({"refunded_at": "12345"}).
type requestData struct {
	RefundedAt string `json:"refunded_at"`
}

type answerBody struct {
	OK           bool   `json:"ok"`
	ErrorMessage string `json:"error_message"`
	Result       *struct {
		Referral json.RawMessage `json:"referral"`
	} `json:"result"`
}

// URL is where VoidOrigin posts for the origin (an order number, or
// "event_category:event_number"), escaped as one path segment.
func (c *Client) URL(origin string) string {
	return c.base + "/api/v2/origins/" + url.PathEscape(origin) + "/refund"
}

// VoidOrigin asks Talkable to refund the origin, which voids its
// referrals. An error means no answer came (the call may be retried: a
// second void of a voided origin changes nothing); any answer is
// returned, Done or not.
func (c *Client) VoidOrigin(ctx context.Context, origin string, refundedAt time.Time) (Answer, error) {
	body, err := json.Marshal(request{SiteSlug: c.site, Data: requestData{RefundedAt: strconv.FormatInt(refundedAt.Unix(), 10)}})
	if err != nil {
		return Answer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL(origin), bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	req.SetBasicAuth(c.key, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Refundry/1")
	res, err := c.http.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Status: res.StatusCode, Body: refundry.Excerpt(string(raw), refundry.MaxResponseExcerpt)}
	var ab answerBody
	parsed := json.Unmarshal(raw, &ab) == nil
	if parsed {
		a.Message = ab.ErrorMessage
	}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		a.Done = true
		a.Voided = parsed && ab.OK && ab.Result != nil && len(ab.Result.Referral) > 0 && string(ab.Result.Referral) != "null"
	case res.StatusCode == http.StatusNotFound:
		a.Done = true
	}
	return a, nil
}
