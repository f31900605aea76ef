package stripe

import (
	"io"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// limitedTransport bounds the requests a Gateway has in flight and the rate
// at which it starts them. It sits on the HTTP transport rather than on the
// Gateway's methods because Stripe counts requests, and one method may send
// several (a lookup by metadata pages through a list, a refused cancel is
// followed by a retrieve).
type limitedTransport struct {
	base    http.RoundTripper
	slots   chan struct{} // a semaphore: one token per request in flight
	limiter *rate.Limiter
}

func newLimitedTransport(base http.RoundTripper, maxConcurrency, perSecond int) *limitedTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &limitedTransport{
		base:  base,
		slots: make(chan struct{}, maxConcurrency),
		// A burst of one spreads requests evenly over each second, so
		// Stripe's limiter never sees a second's allowance at once.
		// rate.Limit is a float64 by the library's design; this is a count
		// of requests, not money.
		limiter: rate.NewLimiter(rate.Limit(perSecond), 1),
	}
}

// RoundTrip waits for a slot, then for the rate limiter, then sends. Both
// waits end with the request's context, so a caller's deadline holds. The
// slot is given back when the response body is closed (stripe-go reads
// and closes every body), or at once if there is no response.
func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		closeBody(req)
		return nil, ctx.Err()
	}
	if err := t.limiter.Wait(ctx); err != nil {
		<-t.slots
		closeBody(req)
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		<-t.slots
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { <-t.slots }}
	return resp, nil
}

// closeBody honours the RoundTripper contract: the request body is closed
// even when the request is never sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// releasingBody gives a slot back once, on the first Close.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
