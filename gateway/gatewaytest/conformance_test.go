package gatewaytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// behaviour is what the provider's own payment gateway does with a
// refund of the payment.
type behaviour string

const (
	succeed behaviour = ""        // refunds at once
	decline behaviour = "decline" // refuses every refund
	pend    behaviour = "pending" // takes the refund, leaves it pending
	hang    behaviour = "hang"    // never answers (the simulator; a wire hangs in front of the others)
)

// conn is how a gateway under test reaches its provider for one case.
type conn struct {
	// wrap stands in front of the provider's handler: it may hang, drop
	// the answer, or answer in the provider's place.
	wrap func(http.Handler) http.Handler
	// badCredentials makes the gateway send credentials the provider
	// does not know.
	badCredentials bool
}

// ledger is what the provider holds of one payment (or one refund).
type ledger struct {
	Succeeded, Pending int64
	PendingKnown       bool // false: the provider cannot tell pending apart
}

// harness is one gateway and its provider.
type harness struct {
	name string
	// pay makes a payment of amount minor units of currency at the
	// provider and returns the payment as the merchant's Refundry keeps
	// it. unknown makes one whose id the provider does not know.
	pay func(t *testing.T, amount int64, currency string, b behaviour, unknown bool) *refundry.Transaction
	// gateway is the gateway under test, for one case.
	gateway func(t *testing.T, c conn) refundry.Gateway
	// ledger is what the provider holds for txn after refund r; ok false
	// when the provider keeps nothing to ask (stripe-mock).
	ledger func(t *testing.T, txn *refundry.Transaction, refundID string) (l ledger, ok bool)
	// errorBody is the provider's own error body for status; nil when the
	// gateway has no HTTP wire (the simulator).
	errorBody func(status int) string
	// expect overrides a case's expected outcome for this gateway.
	expect map[string]outcome
	// skip names the cases the provider cannot express, and why.
	skip map[string]string
}

// outcome is what a case must end in: a result of Status, or (Status "")
// an error of Code ("" any code); Moved says whether the provider holds
// the refund after an error.
type outcome struct {
	Status string
	Code   string
	Moved  bool
	// NoCall: the gateway must refuse without sending anything.
	NoCall bool
}

// testCase is one situation every gateway is put in.
type testCase struct {
	name     string
	currency string
	paid     int64
	amount   int64 // asked; -1 means paid+1 (more than remains)
	b        behaviour
	unknown  bool // the provider does not know the payment
	conn     conn
	timeout  time.Duration // of the call's context; 0: 10 s
	want     outcome
}

// inject answers status with the provider's own error body in place of
// the provider (or a proxy's HTML when body is "").
func inject(status int, body string) func(http.Handler) http.Handler {
	return func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body == "" {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(status)
				fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		})
	}
}

// hangs never answers: the call lasts until the client gives up.
func hangs(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read first: only then does the server notice the
		// client hanging up, which ends the request's context.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
}

// dropsAnswer lets the provider do the refund, then breaks the connection
// before a byte of the answer is sent: the outcome is unknown to the
// gateway, but the money moved.
func dropsAnswer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	})
}

// cases are the situations; a harness's errorBody fills the injected ones.
func cases(h harness) []testCase {
	usd := func(name string, amount int64, b behaviour, c conn, want outcome) testCase {
		return testCase{name: name, currency: "USD", paid: 1250, amount: amount, b: b, conn: c, want: want}
	}
	out := []testCase{
		{name: "full/JPY", currency: "JPY", paid: 5000, amount: 5000, want: outcome{Status: refundry.RefundSucceeded}},
		{name: "full/USD", currency: "USD", paid: 1250, amount: 1250, want: outcome{Status: refundry.RefundSucceeded}},
		{name: "full/KWD", currency: "KWD", paid: 12345, amount: 12345, want: outcome{Status: refundry.RefundSucceeded}},
		{name: "partial/JPY", currency: "JPY", paid: 5000, amount: 1234, want: outcome{Status: refundry.RefundSucceeded}},
		{name: "partial/USD", currency: "USD", paid: 1250, amount: 501, want: outcome{Status: refundry.RefundSucceeded}},
		{name: "partial/KWD", currency: "KWD", paid: 12345, amount: 1001, want: outcome{Status: refundry.RefundSucceeded}},
		usd("refused/over", -1, succeed, conn{}, outcome{Status: refundry.RefundFailed}),
		usd("refused/declined", 1250, decline, conn{}, outcome{Status: refundry.RefundFailed}),
		usd("pending", 1250, pend, conn{}, outcome{Status: refundry.RefundPending}),
		{name: "timeout", currency: "USD", paid: 1250, amount: 1250, b: hang, conn: conn{wrap: hangs}, timeout: 300 * time.Millisecond,
			want: outcome{Code: refundry.EUNAVAILABLE}},
		usd("unknown_outcome", 1250, succeed, conn{wrap: dropsAnswer}, outcome{Code: refundry.EUNAVAILABLE, Moved: true}),
		{name: "not_found", currency: "USD", paid: 1250, amount: 1250, unknown: true, want: outcome{Status: refundry.RefundFailed}},
		usd("bad_credentials", 1250, succeed, conn{badCredentials: true}, outcome{Code: refundry.EGATEWAY}),
		usd("proxy_502", 1250, succeed, conn{wrap: inject(http.StatusBadGateway, "")}, outcome{Code: refundry.EUNAVAILABLE}),
	}
	if h.errorBody != nil {
		for _, c := range []struct {
			status int
			want   outcome
		}{
			{http.StatusUnauthorized, outcome{Code: refundry.EGATEWAY}},
			{http.StatusNotFound, outcome{Status: refundry.RefundFailed}},
			{http.StatusUnprocessableEntity, outcome{Status: refundry.RefundFailed}},
			{http.StatusInternalServerError, outcome{Code: refundry.EUNAVAILABLE}},
			{http.StatusServiceUnavailable, outcome{Code: refundry.EUNAVAILABLE}},
		} {
			out = append(out, usd(fmt.Sprintf("provider_%d", c.status), 1250, succeed,
				conn{wrap: inject(c.status, h.errorBody(c.status))}, c.want))
		}
	}
	return out
}

var refundSeq atomic.Int64

// run puts h through every case.
func run(t *testing.T, h harness) {
	for _, tc := range cases(h) {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := h.skip[tc.name]; ok {
				t.Skip(why)
			}
			want := tc.want
			if w, ok := h.expect[tc.name]; ok {
				want = w
			}
			amount := tc.amount
			if amount < 0 {
				amount = tc.paid + 1
			}
			txn := h.pay(t, tc.paid, tc.currency, tc.b, tc.unknown)
			var calls atomic.Int64
			c := tc.conn
			inner := c.wrap
			c.wrap = func(next http.Handler) http.Handler {
				if inner != nil {
					next = inner(next)
				}
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					next.ServeHTTP(w, r)
				})
			}
			g := h.gateway(t, c)
			r := refundry.GatewayRefund{
				RefundID:    fmt.Sprintf("re_conformance_%d_%d", time.Now().UnixNano(), refundSeq.Add(1)),
				Transaction: txn, Amount: amount, Currency: tc.currency,
				Remainder: amount == tc.paid, Created: time.Now(),
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			res, err := g.Refund(ctx, r)
			cancel()

			if want.Status != "" {
				if err != nil {
					t.Fatalf("Refund: %v; want a result %s", err, want.Status)
				}
				if res.Status != want.Status {
					t.Fatalf("status = %q (%s), want %q", res.Status, res.FailureReason, want.Status)
				}
				if res.Status == refundry.RefundFailed && res.FailureReason == "" {
					t.Error("a failed result names no reason")
				}
			} else {
				if err == nil {
					t.Fatalf("Refund = %+v, want an error (outcome unknown or turned away)", res)
				}
				if want.Code != "" && refundry.ErrorCode(err) != want.Code {
					t.Fatalf("error code = %q (%v), want %q", refundry.ErrorCode(err), err, want.Code)
				}
				var re *refundry.Error
				if want.Code != "" && (!errors.As(err, &re) || re.Message == "") {
					t.Errorf("error %v carries no message", err)
				}
			}
			if want.NoCall && calls.Load() != 0 {
				t.Errorf("%d requests reached the provider; want none", calls.Load())
			}

			// The two ledgers agree.
			l, ok := h.ledger(t, txn, r.RefundID)
			if !ok {
				return
			}
			checkLedger(t, want, res, err, l, amount)

			if tc.name != "unknown_outcome" {
				return
			}
			// The retry rule after a lost answer. A OneShot gateway is
			// never asked again: a second call could refund twice, or
			// read the provider's "nothing remains" as a refusal of money
			// that did move. Any other is asked again, through a
			// connection that answers, and must report the refund the
			// provider made without making a second one.
			if os, ok := g.(refundry.OneShot); ok && os.OneShot() {
				return
			}
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			res, err = h.gateway(t, conn{}).Refund(ctx, r)
			cancel()
			if err != nil {
				t.Fatalf("asked again after the lost answer: %v", err)
			}
			if res.Status != refundry.RefundSucceeded && res.Status != refundry.RefundPending {
				t.Fatalf("asked again after the lost answer: status %q (%s); the refund the provider made is lost", res.Status, res.FailureReason)
			}
			again, _ := h.ledger(t, txn, r.RefundID)
			if again != l {
				t.Errorf("asking again moved money: provider held %+v, now %+v", l, again)
			}
			checkLedger(t, outcome{Status: res.Status}, res, nil, again, amount)
		})
	}
}

// checkLedger compares what the gateway reported with what the provider
// stored.
func checkLedger(t *testing.T, want outcome, res refundry.GatewayResult, err error, l ledger, amount int64) {
	t.Helper()
	switch {
	case err != nil && want.Moved:
		if l.Succeeded+l.Pending != amount {
			t.Errorf("provider holds %d succeeded + %d pending after the lost answer; want %d", l.Succeeded, l.Pending, amount)
		}
	case err != nil:
		if l.Succeeded != 0 || l.Pending != 0 {
			t.Errorf("the gateway reported no outcome but the provider holds %d succeeded + %d pending", l.Succeeded, l.Pending)
		}
	case res.Status == refundry.RefundSucceeded:
		if l.Succeeded != amount || l.Pending != 0 {
			t.Errorf("gateway reported %d succeeded; provider holds %d succeeded + %d pending", amount, l.Succeeded, l.Pending)
		}
	case res.Status == refundry.RefundPending:
		if l.Succeeded != 0 || (l.PendingKnown && l.Pending != amount) {
			t.Errorf("gateway reported %d pending; provider holds %d succeeded + %d pending", amount, l.Succeeded, l.Pending)
		}
	case res.Status == refundry.RefundFailed:
		if l.Succeeded != 0 || l.Pending != 0 {
			t.Errorf("gateway reported a refusal; provider holds %d succeeded + %d pending", l.Succeeded, l.Pending)
		}
	}
}
