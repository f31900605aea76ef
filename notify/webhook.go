package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/talkable"
)

// DefaultSchedule is how long a failed delivery waits before each retry:
// the schedule of the Standard Webhooks reference implementation (Svix).
// With the first attempt that makes 8 attempts over about 27.6 hours
// (each wait jittered by ±20%); after the last one fails the delivery is
// given up (failed) until replayed.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Disable threshold defaults: an endpoint is disabled once it has failed
// every attempt for 5 days and at least 20 attempts in a row. The count
// keeps one slow trickle of retries from disabling an endpoint; the time
// keeps a burst of events during a short outage from doing it.
const (
	DefaultDisableAfter         = 5 * 24 * time.Hour
	DefaultDisableAfterFailures = 20
)

// Webhooks delivers events to merchants' endpoints. Set the fields, then
// Open; Close stops it and waits for attempts under way.
type Webhooks struct {
	Outbox refundry.Outbox
	// Render turns an event into the body sent, the same JSON the API
	// lists at GET /v1/events.
	Render func(*refundry.Event) ([]byte, error)
	Logger *slog.Logger
	Client *http.Client // default: no redirects followed

	Schedule             []time.Duration // default DefaultSchedule
	Jitter               float64         // fraction of each wait; default 0.2
	Timeout              time.Duration   // per attempt; default 10s
	PerEndpoint          int             // attempts under way per endpoint; default 4
	Concurrency          int             // attempts under way in all; default 32
	Interval             time.Duration   // how often the outbox is polled; default 250ms
	DisableAfterFailures int             // default DefaultDisableAfterFailures
	DisableAfter         time.Duration   // default DefaultDisableAfter
	// OnPass, if set, is called after every pass of the loop, so that a
	// readiness check can tell the loop is alive.
	OnPass func()
	// Accounts opens the gateway account an endpoint is kept by
	// (WebhookEndpoint.GatewayAccount), its credentials in clear text:
	// engine.OpenGatewayAccount. Without it, such deliveries fail and
	// are retried on the schedule.
	Accounts func(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{}
	wake   chan struct{}
	warn   throttle
}

// Open applies the defaults and starts the loop.
func (w *Webhooks) Open() {
	if w.Schedule == nil {
		w.Schedule = DefaultSchedule
	}
	if w.Jitter == 0 {
		w.Jitter = 0.2
	}
	if w.Timeout == 0 {
		w.Timeout = 10 * time.Second
	}
	if w.PerEndpoint == 0 {
		w.PerEndpoint = 4
	}
	if w.Concurrency == 0 {
		w.Concurrency = 32
	}
	if w.Interval == 0 {
		w.Interval = 250 * time.Millisecond
	}
	if w.DisableAfterFailures == 0 {
		w.DisableAfterFailures = DefaultDisableAfterFailures
	}
	if w.DisableAfter == 0 {
		w.DisableAfter = DefaultDisableAfter
	}
	if w.Client == nil {
		// A redirect is a failed delivery, as Standard Webhooks senders
		// treat it: following it would send a signed body elsewhere.
		w.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	w.warn.every = time.Minute
	w.slots = make(chan struct{}, w.Concurrency)
	w.wake = make(chan struct{}, 1)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.wg.Go(w.loop)
}

// Close stops the loop and waits for the attempts under way. An attempt
// cut short is not recorded: its lease ends and it is tried again.
func (w *Webhooks) Close() {
	w.cancel()
	w.wg.Wait()
}

// lease is how long a claimed delivery stays ours: the attempt's timeout
// plus room to record it. A worker killed mid-attempt delays that
// delivery by no more than this.
func (w *Webhooks) lease() time.Duration { return w.Timeout + 10*time.Second }

func (w *Webhooks) loop() {
	ticker := time.NewTicker(w.Interval)
	defer ticker.Stop()
	backoff := time.Duration(0)
	for {
		if err := w.pass(); err != nil && w.ctx.Err() == nil {
			// Capped exponential backoff while the database fails.
			backoff = min(max(2*backoff, w.Interval), time.Minute)
			w.warn.log(w.Logger, "pass", "webhook pass failed", "err", err, "retry_in", backoff)
		} else {
			backoff = 0
		}
		if w.OnPass != nil {
			w.OnPass()
		}
		wait := w.Interval
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		case <-time.After(wait):
		}
	}
}

// pass dispatches new events into deliveries, then starts an attempt for
// each due delivery there is a free slot for.
func (w *Webhooks) pass() error {
	for {
		n, err := w.Outbox.DispatchEvents(w.ctx, 500)
		if err != nil {
			return err
		}
		if n < 500 {
			break
		}
	}
	free := cap(w.slots) - len(w.slots)
	if free == 0 {
		return nil
	}
	ds, err := w.Outbox.ClaimDeliveries(w.ctx, refundry.Claim{Limit: free, Lease: w.lease(), PerEndpoint: w.PerEndpoint})
	if err != nil {
		return err
	}
	for _, d := range ds {
		w.slots <- struct{}{}
		w.wg.Go(func() {
			defer func() { <-w.slots }()
			w.deliver(d)
			// An attempt that ends may unblock the next event of its
			// object: look again now rather than at the next tick.
			select {
			case w.wake <- struct{}{}:
			default:
			}
		})
	}
	return nil
}

func (w *Webhooks) deliver(d *refundry.Delivery) {
	a := w.attempt(d)
	if w.ctx.Err() != nil {
		return // shutting down: the lease ends and the delivery is retried
	}
	r := refundry.AttemptResult{Attempt: a, DisableAfterFailures: w.DisableAfterFailures, DisableAfter: w.DisableAfter}
	if !a.OK() && d.Attempts < len(w.Schedule) {
		r.Retry = time.Now().Add(jittered(w.Schedule[d.Attempts], w.Jitter))
	}
	disabled, err := w.Outbox.RecordAttempt(w.ctx, d.ID, r)
	switch {
	case refundry.ErrorCode(err) == refundry.ENOTFOUND:
		// The endpoint was deleted during the attempt.
	case err != nil:
		w.warn.log(w.Logger, "record", "recording a webhook attempt failed; it will be retried when its lease ends", "delivery", d.ID, "err", err)
	case disabled:
		w.Logger.Warn("webhook endpoint disabled after failing continuously", "endpoint", d.EndpointID, "merchant", d.MerchantID)
	case !a.OK() && r.Retry.IsZero():
		w.Logger.Warn("webhook delivery given up after its last retry", "delivery", d.ID, "endpoint", d.EndpointID)
	}
}

// attempt sends one delivery, signed as Standard Webhooks says: the
// webhook-id is the event's id, the same on every retry, so a receiver can
// drop a duplicate.
func (w *Webhooks) attempt(d *refundry.Delivery) refundry.DeliveryAttempt {
	if d.Endpoint.GatewayAccount != "" {
		return w.voidReferrals(d)
	}
	var a refundry.DeliveryAttempt
	body, err := w.Render(d.Event)
	if err != nil {
		a.Error = "rendering the event: " + err.Error()
		return a
	}
	wh, err := standardwebhooks.NewWebhook(d.Endpoint.Secret)
	if err != nil {
		a.Error = "the endpoint's secret is unusable: " + err.Error()
		return a
	}
	ts := time.Now()
	sig, err := wh.Sign(d.EventID, ts, body)
	if err != nil {
		a.Error = "signing: " + err.Error()
		return a
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Refundry-Webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, d.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	start := time.Now()
	res, err := w.Client.Do(req)
	if err != nil {
		a.LatencyMS = time.Since(start).Milliseconds()
		a.Error = attemptError(err, w.Timeout)
		return a
	}
	defer res.Body.Close()
	excerpt, err := io.ReadAll(io.LimitReader(res.Body, refundry.MaxResponseExcerpt))
	// Drain a little more so the connection can be reused, but never
	// wait on a receiver that streams forever.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	a.LatencyMS = time.Since(start).Milliseconds()
	a.StatusCode, a.Response = res.StatusCode, string(excerpt)
	if err != nil {
		a.Error = attemptError(err, w.Timeout)
	}
	return a
}

func attemptError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out after " + timeout.String()
	}
	return err.Error()
}

// voidReferrals is the delivery of a Talkable account's endpoint: not a
// webhook, but Talkable's origin refund call for the sale the event says
// was wholly refunded, which voids the referrals of that origin (its
// order number, the sale's reference). 2xx is delivered; 404 too
// (Talkable has no such origin: nothing to void), recorded as it came;
// anything else (401, 403, 5xx, no answer) is retried on the schedule,
// which a second void of the same origin makes safe.
func (w *Webhooks) voidReferrals(d *refundry.Delivery) refundry.DeliveryAttempt {
	var a refundry.DeliveryAttempt
	var sale struct {
		Reference string `json:"reference"`
	}
	if err := json.Unmarshal(d.Event.Data, &sale); err != nil {
		a.Error = "reading the event's sale: " + err.Error()
		return a
	}
	if sale.Reference == "" {
		a.Done = true
		a.Response = "The sale has no reference (order number), the only name Talkable knows a purchase by: nothing was sent."
		return a
	}
	if w.Accounts == nil {
		a.Error = "this server cannot open gateway accounts"
		return a
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.Timeout)
	defer cancel()
	acct, err := w.Accounts(ctx, d.MerchantID, d.Endpoint.GatewayAccount)
	if err != nil {
		a.Error = "opening the Talkable account: " + refundry.ErrorMessage(err)
		return a
	}
	c, err := talkable.New(talkable.Config{BaseURL: acct.BaseURL, APIKey: acct.Credentials["api_key"],
		SiteSlug: acct.Credentials["site_slug"], HTTPClient: w.Client})
	if err != nil {
		a.Error = refundry.ErrorMessage(err)
		return a
	}
	start := time.Now()
	ans, err := c.VoidOrigin(ctx, sale.Reference, d.Event.Created)
	a.LatencyMS = time.Since(start).Milliseconds()
	if err != nil {
		a.Error = attemptError(err, w.Timeout)
		return a
	}
	a.StatusCode, a.Response, a.Done = ans.Status, ans.Body, ans.Done
	return a
}
