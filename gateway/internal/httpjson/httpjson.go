// Package httpjson is what the JSON connectors (Payop, RevCent, Jetti,
// KeepUp) share: one request to a provider, its answer read with a bound,
// and the errors that say the outcome is unknown or that the provider
// turned the call away. The meaning of each answer is each connector's.
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// DefaultTimeout bounds one request when a connector's Config has no
// HTTP client; a caller's shorter deadline wins.
const DefaultTimeout = 30 * time.Second

// maxAnswer bounds what is read of an answer: every documented answer is
// a few hundred bytes, and a Jetti transaction a few kilobytes.
const maxAnswer = 1 << 20

// Caller sends requests to one provider.
type Caller struct {
	Provider string // the provider's name, for messages
	Base     string // scheme://host[/prefix], no trailing slash
	Client   *http.Client
}

// New returns a Caller for base (def when empty) and hc (a client with
// DefaultTimeout when nil). Returns EINVALID for a base that is not an
// absolute http(s) URL.
func New(provider, base, def string, hc *http.Client) (*Caller, error) {
	if base == "" {
		base = def
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "base_url", "%s base URL %q is not an http(s) URL.", provider, base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Caller{Provider: provider, Base: strings.TrimRight(base, "/"), Client: hc}, nil
}

// Answer is a provider's HTTP answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends method path with header and body (marshalled as JSON; nil
// sends none). An error is always an unknown outcome (EUNAVAILABLE): the
// request may have reached the provider.
func (c *Caller) Do(ctx context.Context, op, method, path string, header http.Header, body any) (*Answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", c.Provider, op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.Provider, op, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, c.Unknown(op, "did not answer", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, c.Unknown(op, "broke off its answer", err)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Unknown is the error for an outcome nobody knows: the provider did not
// answer, answered 5xx, or asked to slow down. The refund stays pending.
func (c *Caller) Unknown(op, what string, err error) error {
	msg := fmt.Sprintf("%s %s (%s); the outcome is unknown and the refund stays pending.", c.Provider, what, op)
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("%s did not answer in time (%s); the outcome is unknown and the refund stays pending.", c.Provider, op)
	}
	return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: msg, Err: err}
}

// TurnedAway is the error for a call the provider would not take (its
// credentials refused, an address it does not know, an answer that is not
// its own): a person must look. The refund stays pending.
func (c *Caller) TurnedAway(op string, a *Answer, detail string) error {
	msg := fmt.Sprintf("%s answered %d %s (%s)", c.Provider, a.Status, http.StatusText(a.Status), op)
	if detail != "" {
		msg += ": " + detail
	}
	return &refundry.Error{Code: refundry.EGATEWAY, Message: msg + ".", Err: fmt.Errorf("HTTP %d: %.200s", a.Status, a.Body)}
}

// Decode reads a JSON answer with numbers kept as json.Number (never a
// float: invariant 1).
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// Major is amount in minor units written as the JSON number, in major
// units of currency, that the providers read: exact, never through a
// float (1250 USD is 12.50, 500 JPY is 500, 1234 KWD is 1.234).
func Major(amount int64, currency string) (json.Number, error) {
	cur, err := refundry.LookupCurrency(currency)
	if err != nil {
		return "", err
	}
	return json.Number(refundry.FormatMajor(amount, cur)), nil
}

// Minor is the inverse of Major for an amount a provider answered.
func Minor(n json.Number, currency string) (int64, error) {
	cur, err := refundry.LookupCurrency(currency)
	if err != nil {
		return 0, err
	}
	return refundry.ParseMajor(n.String(), cur)
}

// Failed is a refusal: nothing moved, and the refund is failed and
// released with the provider's reason.
func Failed(provider, msg string) refundry.GatewayResult {
	if msg == "" {
		msg = "refused the refund"
	}
	return refundry.GatewayResult{Status: refundry.RefundFailed, FailureReason: provider + ": " + msg}
}

// Currency is the refund's currency, else the transaction's.
func Currency(r refundry.GatewayRefund) string {
	if r.Currency != "" {
		return r.Currency
	}
	if r.Transaction != nil {
		return r.Transaction.Currency
	}
	return ""
}

// ProviderID is the provider's id of r's payment: GatewayChargeID, else
// the transaction's Reference.
func ProviderID(r refundry.GatewayRefund) string {
	if r.Transaction == nil {
		return ""
	}
	if r.Transaction.GatewayChargeID != "" {
		return r.Transaction.GatewayChargeID
	}
	return r.Transaction.Reference
}
