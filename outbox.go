package refundry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook endpoint statuses. An endpoint is disabled by the delivery worker
// after failing continuously (see AttemptResult) and enabled again only by
// its merchant.
const (
	EndpointEnabled  = "enabled"
	EndpointDisabled = "disabled"
)

// Delivery statuses. A pending delivery is retried until it is delivered
// or its retry schedule runs out (failed); a replay makes it pending again.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Notification statuses. A notice stays unsent until a mail server takes
// it; one the mail server refuses for good, or that runs out of retries,
// is failed.
const (
	NotificationUnsent = "unsent"
	NotificationSent   = "sent"
	NotificationFailed = "failed"
)

// AllEvents in an endpoint's EnabledEvents subscribes it to every type.
// A family pattern, "refund.*", subscribes it to every type of that family
// ("refund.created", "refund.succeeded", ...), including types added after
// the endpoint was made: patterns are matched when an event is delivered,
// never expanded when the endpoint is stored.
const AllEvents = "*"

// EventFamilies lists the families of EventTypes ("refund", "sale", ...),
// the prefixes a pattern such as "refund.*" may name.
func EventFamilies() []string {
	var out []string
	for _, t := range EventTypes {
		if f, _, ok := strings.Cut(t, "."); ok && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// WebhookEndpoint is a merchant's URL that receives its events, signed
// with Secret as the Standard Webhooks specification says.
type WebhookEndpoint struct {
	ID             string
	MerchantID     string
	URL            string
	EnabledEvents  []string
	Secret         string // whsec_ + base64; shown to the merchant once
	Status         string
	DisabledReason string
	// FailureStreak counts the attempts that failed since the last one
	// that succeeded; FailingSince is when the first of them was made.
	FailureStreak int
	FailingSince  time.Time
	Created       time.Time
	Updated       time.Time
	// GatewayAccount is set on the endpoint a Talkable gateway account
	// keeps (made and removed with the account, never listed among the
	// merchant's webhook endpoints): its deliveries are not webhooks but
	// calls that void a refunded sale's referrals at Talkable, retried
	// and recorded like any delivery.
	GatewayAccount string
}

// MaxEndpointURL bounds an endpoint's URL.
const MaxEndpointURL = 2048

// Validate returns EINVALID if the URL is not an absolute http(s) URL or
// an enabled event is neither a known type, nor "*", nor a known family's
// pattern ("refund.*"): a misspelt family would otherwise match nothing,
// silently.
func (e *WebhookEndpoint) Validate() error {
	if err := checkTexts(MaxEndpointURL, "url", e.URL); err != nil {
		return err
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return ParamErrorf(EINVALID, "url", "URL must be an absolute http or https URL without credentials or fragment.")
	}
	if len(e.EnabledEvents) == 0 {
		return ParamErrorf(EINVALID, "enabled_events", "Name at least one event type, or \"*\" for all.")
	}
	for _, t := range e.EnabledEvents {
		if t == AllEvents || slices.Contains(EventTypes, t) {
			continue
		}
		if f, ok := strings.CutSuffix(t, ".*"); ok && slices.Contains(EventFamilies(), f) {
			continue
		}
		var patterns []string
		for _, f := range EventFamilies() {
			patterns = append(patterns, f+".*")
		}
		return ParamErrorf(EINVALID, "enabled_events", "Unknown event type or pattern %q; known: *, %s, %s.",
			t, strings.Join(patterns, ", "), strings.Join(EventTypes, ", "))
	}
	return nil
}

// Wants reports whether the endpoint subscribes to events of type t, by
// name, by its family's pattern ("refund.*") or by "*".
func (e *WebhookEndpoint) Wants(t string) bool {
	for _, p := range e.EnabledEvents {
		if p == AllEvents || p == t {
			return true
		}
		if f, ok := strings.CutSuffix(p, ".*"); ok && strings.HasPrefix(t, f+".") {
			return true
		}
	}
	return false
}

// NewWebhookSecret returns a signing secret in the Standard Webhooks form:
// "whsec_" and the base64 of 32 random bytes (the specification asks for
// 24 to 64).
func NewWebhookSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// Delivery is one event owed to one endpoint.
type Delivery struct {
	ID          string
	MerchantID  string
	EndpointID  string
	EventID     string
	EventType   string
	ObjectID    string
	Status      string
	Attempts    int
	NextAttempt time.Time
	DeliveredAt time.Time // zero until delivered
	Created     time.Time
	// History holds the delivery's attempts, newest first (ListDeliveries).
	History []*DeliveryAttempt
	// Event and Endpoint are filled by ClaimDeliveries, for sending.
	Event    *Event
	Endpoint *WebhookEndpoint
}

// DeliveryAttempt records one try at sending a delivery.
type DeliveryAttempt struct {
	ID         string
	DeliveryID string
	StatusCode int    // 0 when no response came
	LatencyMS  int64  // from sending the request to the end of the response
	Response   string // at most MaxResponseExcerpt bytes of the body
	Error      string // why no usable response came (timeout, refused)
	Created    time.Time
	// Done settles the delivery whatever the status: the receiver's
	// answer needs no retry though it is not 2xx (Talkable's 404: the
	// origin is unknown there, so nothing is left to void). Not stored:
	// the status and response stored say what came.
	Done bool
}

// MaxResponseExcerpt bounds the part of a response body kept per attempt.
const MaxResponseExcerpt = 1024

// OK reports whether the endpoint took the delivery: a 2xx answer.
func (a *DeliveryAttempt) OK() bool {
	return a.Error == "" && (a.Done || a.StatusCode >= 200 && a.StatusCode < 300)
}

// AttemptResult is what the worker reports about one attempt, and the
// policy to apply: when to try again, and when to give up on the endpoint.
type AttemptResult struct {
	Attempt DeliveryAttempt
	// Retry is when to try a failed delivery again; zero gives it up
	// (failed). Ignored when the attempt succeeded.
	Retry time.Time
	// A failed attempt disables the endpoint when the endpoint's failure
	// streak reaches DisableAfterFailures attempts (0: never) and its first
	// failure is at least DisableAfter old. Both must hold, so neither a
	// burst of events during a short outage nor one slow retry disables it.
	DisableAfterFailures int
	DisableAfter         time.Duration
}

// Claim asks for deliveries that are due.
type Claim struct {
	Limit int
	// Lease is how long the claimed deliveries are the caller's: nobody
	// else claims them until it ends or their attempt is recorded. A
	// worker that dies mid-attempt thus loses its claims only for Lease.
	Lease time.Duration
	// PerEndpoint bounds the deliveries of one endpoint under lease at
	// once, counting those claimed earlier (0: no bound).
	PerEndpoint int
}

// Notification is an email owed to a customer about a refund, with what
// the message states, as it was when the refund succeeded.
type Notification struct {
	ID            string
	MerchantID    string
	RefundID      string
	SaleID        string
	To            string
	CustomerName  string
	MerchantName  string
	SaleReference string
	Amount        int64 // minor units returned to the customer (refund less fee)
	Currency      string
	Status        string
	Attempts      int
	LastError     string
	NextAttempt   time.Time
	SentAt        time.Time // zero until sent
	Created       time.Time
}

// NotificationFilter narrows ListNotifications.
type NotificationFilter struct {
	Page
	Status string
}

// NotificationResult is what the email worker reports about one send.
type NotificationResult struct {
	Sent  bool
	Error string
	// Retry is when to try an unsent notice again; zero gives it up.
	Retry time.Time
}

// Outbox keeps what leaves Refundry: webhook endpoints and their
// deliveries, and customer notifications. Both stores implement it next to
// Store, on the same database, so that the events a state change appends
// and the notification it owes commit with it (never lost, never invented).
// Objects of another merchant are answered like missing ones (ENOTFOUND).
type Outbox interface {
	// CreateWebhookEndpoint stores a validated endpoint, assigning its
	// timestamps. Returns EINVALID, or ENOTFOUND for an unknown merchant.
	CreateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// FindWebhookEndpoint returns ENOTFOUND if there is no such endpoint.
	FindWebhookEndpoint(ctx context.Context, merchantID, id string) (*WebhookEndpoint, error)
	// ListWebhookEndpoints returns one page, newest first.
	ListWebhookEndpoints(ctx context.Context, merchantID string, p Page) ([]*WebhookEndpoint, bool, error)
	// DeleteWebhookEndpoint deletes an endpoint with its deliveries.
	// Returns ENOTFOUND.
	DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error
	// EnableWebhookEndpoint enables an endpoint and clears its failure
	// streak; its pending deliveries resume. Returns ENOTFOUND.
	EnableWebhookEndpoint(ctx context.Context, merchantID, id string) (*WebhookEndpoint, error)

	// DispatchEvents makes, for up to limit events not yet dispatched
	// (oldest first), one pending delivery per enabled endpoint of the
	// event's merchant that wants its type and existed when it happened,
	// and marks them dispatched, all in one transaction. Running it twice,
	// or in two processes, makes each delivery once. Returns how many
	// events it dispatched.
	DispatchEvents(ctx context.Context, limit int) (int, error)
	// ClaimDeliveries leases deliveries that are due, of enabled endpoints,
	// soonest first. A delivery is never claimed while an earlier one (by
	// event time, then id) for the same object and endpoint is pending:
	// events about one refund reach an endpoint in order.
	ClaimDeliveries(ctx context.Context, c Claim) ([]*Delivery, error)
	// RecordAttempt records an attempt of a claimed delivery, ends its
	// lease, and applies r's retry and disable policy. It reports whether
	// the endpoint was disabled by this attempt. Returns ENOTFOUND if the
	// delivery is gone (its endpoint deleted).
	RecordAttempt(ctx context.Context, deliveryID string, r AttemptResult) (disabled bool, err error)
	// ListDeliveries returns one page of an endpoint's deliveries, newest
	// first, each with its attempts. Returns ENOTFOUND for the endpoint.
	ListDeliveries(ctx context.Context, merchantID, endpointID string, p Page) ([]*Delivery, bool, error)
	// ReplayDelivery makes a delivery pending and due now, whatever it was.
	// Returns ENOTFOUND, or ECONFLICT while an attempt of it is under way
	// or its endpoint is disabled.
	ReplayDelivery(ctx context.Context, merchantID, endpointID, deliveryID string) (*Delivery, error)

	// ListNotifications returns one page, newest first.
	ListNotifications(ctx context.Context, merchantID string, f NotificationFilter) ([]*Notification, bool, error)
	// ClaimNotifications leases unsent notifications that are due, oldest
	// first, as ClaimDeliveries does.
	ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]*Notification, error)
	// RecordNotification records a send of a claimed notification and
	// ends its lease. Returns ENOTFOUND.
	RecordNotification(ctx context.Context, id string, r NotificationResult) error

	// OldestUndelivered returns, across all merchants, when the oldest
	// pending delivery to an enabled endpoint and the oldest unsent
	// notification were created; a zero time when there is none. It is
	// the outbox's lag, for monitoring. A disabled endpoint's deliveries
	// are left out: they wait for its merchant, not for the worker, and
	// would otherwise hold the lag up for as long as it stays disabled.
	OldestUndelivered(ctx context.Context) (delivery, notification time.Time, err error)
}

// DisabledReason tells a merchant why the delivery worker disabled an
// endpoint; both stores write it alike.
func DisabledReason(streak int, since time.Time) string {
	return fmt.Sprintf("Disabled after %d consecutive failed attempts since %s.", streak, since.UTC().Format(time.RFC3339))
}

// Excerpt cuts s to at most max bytes on a UTF-8 boundary, dropping
// invalid bytes and NULs, so that text from a foreign server (a response
// body, an error) is kept alike by both stores.
func Excerpt(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
