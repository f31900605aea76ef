package stripe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/stripe"
)

const testKey = "sk_test_refundry"

// newGateway returns a Gateway on base whose requests rec records. The
// rate limit is raised so that tests are not paced like Stripe's test mode.
func newGateway(t *testing.T, base string, rec *recorder) *stripe.Gateway {
	t.Helper()
	cfg := stripe.Config{SecretKey: testKey, APIBase: base, RequestsPerSecond: 1000}
	if rec != nil {
		cfg.HTTPClient = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	}
	g, err := stripe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func refund(id, chargeID string, paid, amount int64) refundry.GatewayRefund {
	return refundry.GatewayRefund{
		RefundID: id,
		Transaction: &refundry.Transaction{
			ID: "txn_" + id, Gateway: refundry.GatewayStripe, GatewayChargeID: chargeID,
			Currency: "USD", Amount: paid,
		},
		Amount:   amount,
		Currency: "USD",
		Created:  time.Now(),
	}
}

func TestName(t *testing.T) {
	g := newGateway(t, "http://127.0.0.1:1", nil)
	if got := g.Name(); got != refundry.GatewayStripe {
		t.Fatalf("Name() = %q, want %q", got, refundry.GatewayStripe)
	}
}

func TestNew(t *testing.T) {
	for name, cfg := range map[string]stripe.Config{
		"ErrKeyRequired":         {},
		"ErrAPIBaseNotHTTP":      {SecretKey: testKey, APIBase: "ftp://example.invalid"},
		"ErrAPIBaseNoHost":       {SecretKey: testKey, APIBase: "http://"},
		"ErrNegativeConcurrency": {SecretKey: testKey, MaxConcurrency: -1},
		"ErrNegativeRate":        {SecretKey: testKey, RequestsPerSecond: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := stripe.New(cfg); refundry.ErrorCode(err) != refundry.EINVALID {
				t.Fatalf("New() error = %v, want code %s", err, refundry.EINVALID)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		if _, err := stripe.New(stripe.Config{SecretKey: testKey}); err != nil {
			t.Fatal(err)
		}
	})
}

// Refunds of a charge and of a PaymentIntent, full and partial, against
// stripe-mock: the request carries the right object, amount, metadata and
// idempotency key, and Stripe's answer maps to succeeded.
func TestRefund(t *testing.T) {
	base := mockBase(t)
	for _, tc := range []struct {
		name, chargeID, param string
		amount                int64
	}{
		{"ChargeFull", "ch_3MmlLrLkdIwHu7ix0snN0B15", "charge", 5000},
		{"ChargePartial", "ch_3MmlLrLkdIwHu7ix0snN0B15", "charge", 1250},
		{"PaymentIntentFull", "pi_3MtwBwLkdIwHu7ix28a3tqPa", "payment_intent", 5000},
		{"PaymentIntentPartial", "pi_3MtwBwLkdIwHu7ix28a3tqPa", "payment_intent", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			g := newGateway(t, base, rec)
			r := refund("rf"+tc.name, tc.chargeID, 5000, tc.amount)
			res, err := g.Refund(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != refundry.RefundSucceeded || !strings.HasPrefix(res.GatewayRefundID, "re_") || res.FailureReason != "" {
				t.Fatalf("result = %+v, want succeeded with a re_ id", res)
			}
			s := rec.last(t)
			if s.Method != http.MethodPost || s.Path != "/v1/refunds" {
				t.Fatalf("request = %s %s, want POST /v1/refunds", s.Method, s.Path)
			}
			other := "payment_intent"
			if tc.param == "payment_intent" {
				other = "charge"
			}
			for _, c := range []struct{ what, got, want string }{
				{tc.param, s.Form.Get(tc.param), tc.chargeID},
				{other, s.Form.Get(other), ""},
				{"amount", s.Form.Get("amount"), fmt.Sprint(tc.amount)},
				{"metadata[refundry_refund_id]", s.Form.Get("metadata[refundry_refund_id]"), r.RefundID},
				{"Idempotency-Key header", s.Header.Get("Idempotency-Key"), r.RefundID},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

// Invariant 6: a refund asked about again (after a crash, or because the
// first answer was lost) goes with the same idempotency key and the same
// parameters, so Stripe replays its first answer and moves no more money.
// stripe-mock keeps no state and answers each call with a fresh id; what
// it can show is that the key and parameters are identical, and that once
// Stripe has named the refund it is only retrieved, never created again.
func TestRefund_Invariant6_IdempotentRetry(t *testing.T) {
	base := mockBase(t)
	rec := &recorder{}
	g := newGateway(t, base, rec)
	r := refund("rfRetry0000000000001", "ch_3MmlLrLkdIwHu7ix0snN0B15", 5000, 5000)
	r.Reason = "requested_by_customer"

	first, err := g.Refund(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	second, err := g.Refund(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != second.Status || first.Status != refundry.RefundSucceeded {
		t.Fatalf("statuses = %s, %s; want succeeded twice", first.Status, second.Status)
	}
	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, s := range reqs {
		if k := s.Header.Get("Idempotency-Key"); k != r.RefundID {
			t.Errorf("request %d Idempotency-Key = %q, want %q", i, k, r.RefundID)
		}
	}
	if a, b := reqs[0].Form.Encode(), reqs[1].Form.Encode(); a != b {
		t.Errorf("retry sent other parameters:\n%s\n%s", a, b)
	}
	if got := reqs[0].Form.Get("reason"); got != "requested_by_customer" {
		t.Errorf("reason = %q, want Stripe's requested_by_customer", got)
	}

	// Once named, the refund is retrieved, never created again.
	r.GatewayRefundID = first.GatewayRefundID
	third, err := g.Refund(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if third.GatewayRefundID != first.GatewayRefundID || third.Status != refundry.RefundSucceeded {
		t.Fatalf("retrieved %+v, want %s succeeded", third, first.GatewayRefundID)
	}
	s := rec.last(t)
	if s.Method != http.MethodGet || s.Path != "/v1/refunds/"+first.GatewayRefundID {
		t.Fatalf("request = %s %s, want GET /v1/refunds/%s", s.Method, s.Path, first.GatewayRefundID)
	}
}

// A free-text reason stays in Refundry: Stripe accepts only its own codes
// and would refuse the refund over it.
func TestRefund_FreeTextReasonNotSent(t *testing.T) {
	base := mockBase(t)
	rec := &recorder{}
	g := newGateway(t, base, rec)
	r := refund("rfReasonText00000001", "ch_1", 5000, 100)
	r.Reason = "Event cancelled: rain"
	if res, err := g.Refund(context.Background(), r); err != nil || res.Status != refundry.RefundSucceeded {
		t.Fatalf("Refund() = %+v, %v", res, err)
	}
	if got := rec.last(t).Form.Get("reason"); got != "" {
		t.Fatalf("reason sent to Stripe = %q, want none", got)
	}
}

// Past Stripe's 24-hour idempotency window the key may be gone, so the
// refund is first looked up by its metadata; stripe-mock's list has no
// refund of ours, so it is then created.
func TestRefund_Invariant6_AfterIdempotencyWindow(t *testing.T) {
	base := mockBase(t)
	rec := &recorder{}
	g := newGateway(t, base, rec)
	r := refund("rfOld000000000000001", "pi_3MtwBwLkdIwHu7ix28a3tqPa", 5000, 700)
	r.Created = time.Now().Add(-25 * time.Hour)
	res, err := g.Refund(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != refundry.RefundSucceeded {
		t.Fatalf("result = %+v", res)
	}
	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want a list then a create", len(reqs))
	}
	if s := reqs[0]; s.Method != http.MethodGet || s.Path != "/v1/refunds" || s.Form.Get("payment_intent") != "pi_3MtwBwLkdIwHu7ix28a3tqPa" {
		t.Errorf("first request = %s %s %v, want a list of the PaymentIntent's refunds", s.Method, s.Path, s.Form)
	}
	if s := reqs[1]; s.Method != http.MethodPost || s.Header.Get("Idempotency-Key") != r.RefundID {
		t.Errorf("second request = %s %s, want the create with the same key", s.Method, s.Path)
	}
}

// Stripe's error answer for bad credentials (stripe-mock refuses a
// live-mode key) is an error, not a failed refund: nothing was decided,
// and the refund goes through once the key is fixed.
func TestRefund_ErrBadCredentials(t *testing.T) {
	base := mockBase(t)
	g, err := stripe.New(stripe.Config{SecretKey: "sk_live_not_for_stripe_mock", APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Refund(context.Background(), refund("rfBadKey000000000001", "ch_1", 5000, 100))
	if err == nil {
		t.Fatalf("Refund() = %+v, want an error", res)
	}
	if refundry.ErrorCode(err) != refundry.EGATEWAY || !strings.Contains(refundry.ErrorMessage(err), "API key") {
		t.Fatalf("error = %v, want EGATEWAY about the API key", err)
	}
}

// What Stripe would refuse before moving anything is refused here too,
// with a clear reason, without a request.
func TestRefund_RefusedLocally(t *testing.T) {
	rec := &recorder{}
	g := newGateway(t, "http://127.0.0.1:1", rec)
	for name, tc := range map[string]struct {
		chargeID string
		amount   int64
		want     string
	}{
		"NotAStripeID":   {"txn_12345", 100, "not a Stripe charge"},
		"EmptyID":        {"", 100, "not a Stripe charge"},
		"BarePrefix":     {"ch_", 100, "not a Stripe charge"},
		"ZeroAmount":     {"ch_1", 0, "positive amount"},
		"NegativeAmount": {"ch_1", -5, "positive amount"},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := g.Refund(context.Background(), refund("rf"+name, tc.chargeID, 5000, tc.amount))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != refundry.RefundFailed || !strings.Contains(res.FailureReason, tc.want) {
				t.Fatalf("result = %+v, want failed with %q", res, tc.want)
			}
		})
	}
	t.Run("CurrencyMismatch", func(t *testing.T) {
		r := refund("rfCurrency", "ch_1", 5000, 100)
		r.Currency = "EUR"
		res, err := g.Refund(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != refundry.RefundFailed || !strings.Contains(res.FailureReason, "EUR") {
			t.Fatalf("result = %+v, want failed naming the currencies", res)
		}
	})
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d requests sent, want none", n)
	}
}

// Each Stripe refund status maps onto Refundry's. A local server answers
// with Stripe's refund object in each status: this checks the mapping, it
// does not imitate Stripe's decisions.
func TestRefund_StatusMapping(t *testing.T) {
	for _, tc := range []struct {
		status, failureReason string
		want                  string
		wantReason            string
	}{
		{"pending", "", refundry.RefundPending, ""},
		{"requires_action", "", refundry.RefundPending, ""},
		{"succeeded", "", refundry.RefundSucceeded, ""},
		{"failed", "lost_or_stolen_card", refundry.RefundFailed, "lost or stolen (lost_or_stolen_card)"},
		{"failed", "expired_or_canceled_card", refundry.RefundFailed, "expired or been canceled"},
		{"failed", "insufficient_funds", refundry.RefundFailed, "insufficient_funds"},
		{"failed", "", refundry.RefundFailed, "Stripe reported the refund as failed."},
		{"canceled", "", refundry.RefundCanceled, ""},
	} {
		t.Run(tc.status+"_"+tc.failureReason, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"id":"re_map","object":"refund","amount":500,"currency":"usd","charge":"ch_1","metadata":{},"status":%q,"failure_reason":%q}`, tc.status, tc.failureReason)
			}))
			defer srv.Close()
			g := newGateway(t, srv.URL, nil)
			res, err := g.Refund(context.Background(), refund("rfMap", "ch_1", 500, 500))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || res.GatewayRefundID != "re_map" || !strings.Contains(res.FailureReason, tc.wantReason) {
				t.Fatalf("result = %+v, want status %s, reason containing %q", res, tc.want, tc.wantReason)
			}
			if tc.wantReason == "" && res.FailureReason != "" {
				t.Fatalf("FailureReason = %q, want none", res.FailureReason)
			}
		})
	}
	t.Run("ErrUnknownStatus", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"id":"re_new","object":"refund","status":"something_new"}`)
		}))
		defer srv.Close()
		g := newGateway(t, srv.URL, nil)
		if res, err := g.Refund(context.Background(), refund("rfNew", "ch_1", 500, 500)); err == nil {
			t.Fatalf("Refund() = %+v, want an error: an unknown status is not final", res)
		}
	})
}

// Stripe's refusals are failed results carrying Stripe's message; every
// other error answer leaves the outcome unknown and is returned as an
// error, so the refund stays pending and is retried with the same key.
func TestRefund_ErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		wantFail string // a refusal: FailureReason contains this
		wantCode string // otherwise: the error's code
	}{
		{"ChargeAlreadyRefunded", 400, `{"error":{"type":"invalid_request_error","code":"charge_already_refunded","message":"Charge ch_1 has already been refunded."}}`, "Charge ch_1 has already been refunded.", ""},
		{"AmountTooLarge", 400, `{"error":{"type":"invalid_request_error","code":"amount_too_large","param":"amount","message":"Refund amount ($60.00) is greater than unrefunded amount on charge ($50.00)"}}`, "greater than unrefunded amount", ""},
		{"ResourceMissing", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"charge","message":"No such charge: 'ch_1'"}}`, "No such charge: 'ch_1'", ""},
		{"CardError", 402, `{"error":{"type":"card_error","code":"expired_card","message":"Your card has expired."}}`, "Your card has expired.", ""},
		{"CodeWithoutMessage", 400, `{"error":{"type":"invalid_request_error","code":"charge_disputed"}}`, "charge_disputed", ""},
		{"ServerError", 500, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`, "", refundry.EUNAVAILABLE},
		{"BadGatewayHTML", 502, `<html>Bad Gateway</html>`, "", refundry.EUNAVAILABLE},
		{"RateLimited", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests hit the API too quickly."}}`, "", refundry.EUNAVAILABLE},
		{"KeyInUse", 409, `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Stripe token."}}`, "", refundry.EUNAVAILABLE},
		{"KeyReused", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`, "", refundry.EGATEWAY},
		{"Unauthorized", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}`, "", refundry.EGATEWAY},
		{"Forbidden", 403, `{"error":{"type":"invalid_request_error","message":"The provided key does not have the required permissions."}}`, "", refundry.EGATEWAY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var key atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key.Store(r.Header.Get("Idempotency-Key"))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			g := newGateway(t, srv.URL, nil)
			res, err := g.Refund(context.Background(), refund("rfErr"+tc.name, "ch_1", 5000, 5000))
			if key.Load() != "rfErr"+tc.name {
				t.Errorf("Idempotency-Key = %v, want the refund id", key.Load())
			}
			if tc.wantFail != "" {
				if err != nil {
					t.Fatalf("Refund() error = %v, want a failed result", err)
				}
				if res.Status != refundry.RefundFailed || !strings.Contains(res.FailureReason, tc.wantFail) {
					t.Fatalf("result = %+v, want failed with %q", res, tc.wantFail)
				}
				return
			}
			if err == nil {
				t.Fatalf("Refund() = %+v, want an error (outcome unknown)", res)
			}
			if code := refundry.ErrorCode(err); code != tc.wantCode {
				t.Fatalf("error code = %s (%v), want %s", code, err, tc.wantCode)
			}
		})
	}
}

// A known refund that Stripe no longer finds (wrong key or account) is
// not called failed: it stays pending.
func TestRefund_ErrRetrieveMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such refund: 're_gone'"}}`)
	}))
	defer srv.Close()
	g := newGateway(t, srv.URL, nil)
	r := refund("rfGone", "ch_1", 500, 500)
	r.GatewayRefundID = "re_gone"
	if res, err := g.Refund(context.Background(), r); err == nil {
		t.Fatalf("Refund() = %+v, want an error", res)
	}
}

// A caller's deadline cuts a call that Stripe does not answer; the error
// says the outcome is unknown and wraps the deadline.
func TestRefund_ErrTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	g := newGateway(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := g.Refund(ctx, refund("rfHang", "ch_1", 500, 500))
	if err == nil {
		t.Fatalf("Refund() = %+v, want an error", res)
	}
	if !errors.Is(err, context.DeadlineExceeded) || refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
		t.Fatalf("error = %v, want EUNAVAILABLE wrapping the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Refund() took %v; the deadline was 200ms", d)
	}
}

// Past the idempotency window, a refund Stripe already made is found by
// its metadata and reported, not created a second time.
func TestRefund_Invariant6_FoundByMetadata(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/refunds" && r.URL.Query().Get("charge") == "ch_1":
			io.WriteString(w, `{"object":"list","has_more":false,"url":"/v1/refunds","data":[
				{"id":"re_other","object":"refund","status":"succeeded","metadata":{"refundry_refund_id":"someone_else"}},
				{"id":"re_ours","object":"refund","status":"pending","metadata":{"refundry_refund_id":"rfOld"}}]}`)
		default:
			posts.Add(1)
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	g := newGateway(t, srv.URL, nil)
	r := refund("rfOld", "ch_1", 500, 500)
	r.Created = time.Now().Add(-48 * time.Hour)
	res, err := g.Refund(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if res.GatewayRefundID != "re_ours" || res.Status != refundry.RefundPending {
		t.Fatalf("result = %+v, want re_ours pending", res)
	}
	if posts.Load() != 0 {
		t.Fatal("a refund was created although Stripe had one")
	}
}

// stripe-mock answers every cancel with a refund in its fixture status,
// succeeded: Stripe has taken the refund, so it cannot be canceled.
func TestCancel_ErrConflict(t *testing.T) {
	base := mockBase(t)
	t.Run("Known", func(t *testing.T) {
		rec := &recorder{}
		g := newGateway(t, base, rec)
		r := refund("rfCancel000000000001", "ch_1", 5000, 100)
		r.GatewayRefundID = "re_3MmlLrLkdIwHu7ix0snN0B15"
		res, err := g.Cancel(context.Background(), r)
		if refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Fatalf("Cancel() = %+v, %v; want ECONFLICT", res, err)
		}
		if !strings.Contains(refundry.ErrorMessage(err), "succeeded") {
			t.Errorf("message %q does not say where the refund is", refundry.ErrorMessage(err))
		}
		s := rec.last(t)
		if s.Method != http.MethodPost || s.Path != "/v1/refunds/re_3MmlLrLkdIwHu7ix0snN0B15/cancel" {
			t.Fatalf("request = %s %s", s.Method, s.Path)
		}
	})
	t.Run("NotYetAtStripe", func(t *testing.T) {
		// No Stripe id and no refund with our metadata: a request for it
		// may still be in flight, so it is not called canceled.
		rec := &recorder{}
		g := newGateway(t, base, rec)
		res, err := g.Cancel(context.Background(), refund("rfCancel000000000002", "pi_1", 5000, 100))
		if refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Fatalf("Cancel() = %+v, %v; want ECONFLICT", res, err)
		}
		for _, s := range rec.all() {
			if s.Method != http.MethodGet {
				t.Fatalf("Cancel sent %s %s; it should only have looked", s.Method, s.Path)
			}
		}
	})
}

// Cancel against a local server holding one refund in a given state.
func TestCancel(t *testing.T) {
	type state struct {
		listed      string // status of the refund the list shows; "" lists none
		cancel      int    // the cancel's HTTP status
		afterCancel string // the refund's status after the cancel
	}
	serve := func(t *testing.T, st state) (*httptest.Server, *atomic.Int32) {
		var cancels atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodGet && r.URL.Path == "/v1/refunds":
				data := ""
				if st.listed != "" {
					data = fmt.Sprintf(`{"id":"re_1","object":"refund","status":%q,"metadata":{"refundry_refund_id":"rfC"}}`, st.listed)
				}
				fmt.Fprintf(w, `{"object":"list","has_more":false,"data":[%s]}`, data)
			case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds/re_1/cancel":
				cancels.Add(1)
				w.WriteHeader(st.cancel)
				if st.cancel != 200 {
					io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"You can only cancel refunds with a status of requires_action."}}`)
					return
				}
				fmt.Fprintf(w, `{"id":"re_1","object":"refund","status":%q}`, st.afterCancel)
			case r.Method == http.MethodGet && r.URL.Path == "/v1/refunds/re_1":
				fmt.Fprintf(w, `{"id":"re_1","object":"refund","status":%q}`, st.afterCancel)
			default:
				t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
				w.WriteHeader(500)
			}
		}))
		t.Cleanup(srv.Close)
		return srv, &cancels
	}
	r := refund("rfC", "ch_1", 500, 500)
	withID := r
	withID.GatewayRefundID = "re_1"

	t.Run("OK", func(t *testing.T) {
		srv, cancels := serve(t, state{cancel: 200, afterCancel: "canceled"})
		res, err := newGateway(t, srv.URL, nil).Cancel(context.Background(), withID)
		if err != nil || res.Status != refundry.RefundCanceled || res.GatewayRefundID != "re_1" || cancels.Load() != 1 {
			t.Fatalf("Cancel() = %+v, %v", res, err)
		}
	})
	t.Run("OKFoundByMetadata", func(t *testing.T) {
		srv, cancels := serve(t, state{listed: "requires_action", cancel: 200, afterCancel: "canceled"})
		res, err := newGateway(t, srv.URL, nil).Cancel(context.Background(), r)
		if err != nil || res.Status != refundry.RefundCanceled || cancels.Load() != 1 {
			t.Fatalf("Cancel() = %+v, %v", res, err)
		}
	})
	t.Run("OKAnswerLostBefore", func(t *testing.T) {
		// An earlier cancel went through but its answer was lost: Stripe
		// now refuses, and the refund is reported canceled.
		srv, _ := serve(t, state{cancel: 400, afterCancel: "canceled"})
		res, err := newGateway(t, srv.URL, nil).Cancel(context.Background(), withID)
		if err != nil || res.Status != refundry.RefundCanceled {
			t.Fatalf("Cancel() = %+v, %v", res, err)
		}
	})
	t.Run("ErrConflictRefused", func(t *testing.T) {
		srv, _ := serve(t, state{cancel: 400, afterCancel: "pending"})
		if _, err := newGateway(t, srv.URL, nil).Cancel(context.Background(), withID); refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Fatalf("Cancel() error = %v, want ECONFLICT", err)
		}
	})
	t.Run("ErrConflictFoundSucceeded", func(t *testing.T) {
		srv, cancels := serve(t, state{listed: "succeeded"})
		if _, err := newGateway(t, srv.URL, nil).Cancel(context.Background(), r); refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Fatalf("Cancel() error = %v, want ECONFLICT", err)
		}
		if cancels.Load() != 0 {
			t.Fatal("cancel sent for a refund that cannot be canceled")
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		srv, _ := serve(t, state{cancel: 503})
		_, err := newGateway(t, srv.URL, nil).Cancel(context.Background(), withID)
		if code := refundry.ErrorCode(err); code != refundry.EUNAVAILABLE {
			t.Fatalf("Cancel() error = %v, want EUNAVAILABLE", err)
		}
	})
}

// A test payment is a confirmed PaymentIntent paid with pm_card_visa, and
// its id is refundable.
func TestCreateTestPayment(t *testing.T) {
	base := mockBase(t)
	rec := &recorder{}
	g := newGateway(t, base, rec)
	id, err := g.CreateTestPayment(context.Background(), 4200, "usd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "pi_") {
		t.Fatalf("id = %q, want a PaymentIntent id", id)
	}
	s := rec.last(t)
	for k, want := range map[string]string{"amount": "4200", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true", "payment_method_types[0]": "card"} {
		if got := s.Form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	res, err := g.Refund(context.Background(), refund("rfTestPay00000000001", id, 4200, 4200))
	if err != nil || res.Status != refundry.RefundSucceeded {
		t.Fatalf("Refund() = %+v, %v", res, err)
	}
	if got := rec.last(t).Form.Get("payment_intent"); got != id {
		t.Fatalf("refund's payment_intent = %q, want %q", got, id)
	}

	t.Run("ErrLiveKey", func(t *testing.T) {
		live, err := stripe.New(stripe.Config{SecretKey: "sk_live_x", APIBase: base})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := live.CreateTestPayment(context.Background(), 100, "usd"); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("error = %v, want EINVALID", err)
		}
	})
	t.Run("ErrAmount", func(t *testing.T) {
		if _, err := g.CreateTestPayment(context.Background(), 0, "usd"); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("error = %v, want EINVALID", err)
		}
	})
	t.Run("ErrCurrency", func(t *testing.T) {
		if _, err := g.CreateTestPayment(context.Background(), 100, "dollars"); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("error = %v, want EINVALID", err)
		}
	})
}

// Two gateways with different API bases live side by side: nothing is
// kept in stripe-go's package-level state.
func TestTwoGateways(t *testing.T) {
	base := mockBase(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"id":"re_local","object":"refund","status":"pending"}`)
	}))
	defer srv.Close()
	mockGW, localGW := newGateway(t, base, nil), newGateway(t, srv.URL, nil)
	for i := range 3 {
		a, err := mockGW.Refund(context.Background(), refund(fmt.Sprint("rfTwoA", i), "ch_1", 500, 500))
		if err != nil || a.Status != refundry.RefundSucceeded {
			t.Fatalf("stripe-mock gateway: %+v, %v", a, err)
		}
		b, err := localGW.Refund(context.Background(), refund(fmt.Sprint("rfTwoB", i), "ch_1", 500, 500))
		if err != nil || b.GatewayRefundID != "re_local" {
			t.Fatalf("local gateway: %+v, %v", b, err)
		}
	}
	if hits.Load() != 3 {
		t.Fatalf("local server got %d requests, want 3", hits.Load())
	}
}

// The semaphore bounds the requests in flight: with MaxConcurrency 3 and
// twelve refunds at once, Stripe never sees more than three.
func TestConcurrencyBound(t *testing.T) {
	const limit, calls = 3, 12
	var inFlight, maxSeen atomic.Int32
	arrived := make(chan struct{}, calls)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			m := maxSeen.Load()
			if n <= m || maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
		fmt.Fprintf(w, `{"id":"re_%s","object":"refund","status":"succeeded"}`, r.Header.Get("Idempotency-Key"))
	}))
	defer srv.Close()
	g, err := stripe.New(stripe.Config{SecretKey: testKey, APIBase: srv.URL, MaxConcurrency: limit, RequestsPerSecond: 1000})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			res, err := g.Refund(context.Background(), refund(fmt.Sprint("rfConc", i), "ch_1", 500, 500))
			if err == nil && res.Status != refundry.RefundSucceeded {
				err = fmt.Errorf("result %+v", res)
			}
			errs <- err
		})
	}
	// Let the first three in, then give the others time to push past the
	// bound if they could. Calls that never arrive fail the test at a
	// deadline instead of hanging it.
	for i := range limit {
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			close(release)
			t.Fatalf("only %d of %d calls reached the server in 20s", i, limit)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := inFlight.Load(); n != limit {
		t.Errorf("in flight while held = %d, want %d", n, limit)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m := maxSeen.Load(); m != limit {
		t.Fatalf("most in flight = %d, want %d", m, limit)
	}
}

// A caller waiting for a slot gives up at its deadline: a full semaphore
// never holds a call past it.
func TestConcurrencyBound_Deadline(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, `{"id":"re_1","object":"refund","status":"succeeded"}`)
	}))
	defer srv.Close()
	defer close(release)
	g, err := stripe.New(stripe.Config{SecretKey: testKey, APIBase: srv.URL, MaxConcurrency: 1, RequestsPerSecond: 1000})
	if err != nil {
		t.Fatal(err)
	}
	go g.Refund(context.Background(), refund("rfHolder", "ch_1", 500, 500))
	// The holder has the only slot once its request is at the server; a
	// sleep instead could let the waiter take the slot first and time out
	// at the server, passing for the wrong reason.
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the holder's request did not reach the server in 20s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = g.Refund(ctx, refund("rfWaiter", "ch_1", 500, 500))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the deadline", err)
	}
	if len(arrived) != 0 {
		t.Fatal("the waiter reached the server without a slot")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waited %v for a slot; the deadline was 100ms", d)
	}
}

// The rate limit spreads requests: at 20 per second, six requests take at
// least a quarter of a second.
func TestRateLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"re_1","object":"refund","status":"succeeded"}`)
	}))
	defer srv.Close()
	g, err := stripe.New(stripe.Config{SecretKey: testKey, APIBase: srv.URL, RequestsPerSecond: 20})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 6 {
		if _, err := g.Refund(context.Background(), refund(fmt.Sprint("rfRate", i), "ch_1", 500, 500)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 240*time.Millisecond {
		t.Fatalf("six requests at 20/s took %v, want at least 250ms", d)
	}
}
