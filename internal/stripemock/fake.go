package stripemock

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Fixture returns the object stripe-mock answers GET path with (e.g.
// /v1/refunds/re_x): Stripe's own fixture for that resource, as a map a
// test may change before serving it from a Fake. stripe-mock keeps no
// state, so a test that needs Stripe to hold something (a refund made in
// the dashboard, a refund that failed later) takes stripe-mock's payload
// and changes only the fields the situation is about.
func (s *Server) Fixture(t testing.TB, path string) map[string]any {
	t.Helper()
	base := s.Require(t)
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(TestKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stripe-mock GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stripe-mock GET %s: %s: %s", path, resp.Status, body)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("stripe-mock GET %s: %v", path, err)
	}
	return obj
}

// Fake is a small Stripe that keeps refunds, which stripe-mock does not:
// POST /v1/refunds makes one (replaying it for an Idempotency-Key seen
// before), and GET /v1/refunds?charge= or ?payment_intent= lists a
// payment's, one page in the list shape stripe-mock uses. Every refund is
// stripe-mock's own refund fixture with only the fields of the situation
// changed (id, amount, payment, status, metadata), so the payloads are
// Stripe's shape as stripe-go reads it. Anything else is answered 404
// resource_missing.
type Fake struct {
	*httptest.Server
	fixture map[string]any
	mu      sync.Mutex
	refunds map[string][]map[string]any // by charge or PaymentIntent id
	byKey   map[string]map[string]any   // by Idempotency-Key
	seq     int
	down    bool
}

// NewFake starts a Fake on the refund fixture of the stripe-mock s; it is
// closed when the test ends. Without stripe-mock the test is skipped
// (failed in CI), as Require does.
func (s *Server) NewFake(t testing.TB) *Fake {
	f := &Fake{fixture: s.Fixture(t, "/v1/refunds/re_fixture"), refunds: map[string][]map[string]any{}, byKey: map[string]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Hold makes Stripe hold a refund of paymentID Refundry did not ask for
// (made in the Stripe dashboard), and returns its id.
func (f *Fake) Hold(paymentID string, amount int64, status string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	re := f.newRefund(paymentID, amount, status, nil)
	return re["id"].(string)
}

// SetStatus changes a refund Stripe holds, as Stripe does when a refund
// it reported succeeded fails later; failureReason is Stripe's code
// (expired_or_canceled_card, ...).
func (f *Fake) SetStatus(refundID, status, failureReason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, list := range f.refunds {
		for _, re := range list {
			if re["id"] == refundID {
				re["status"] = status
				re["failure_reason"] = nil
				if failureReason != "" {
					re["failure_reason"] = failureReason
				}
			}
		}
	}
}

// SetAmount changes the amount of a refund Stripe holds.
func (f *Fake) SetAmount(refundID string, amount int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, list := range f.refunds {
		for _, re := range list {
			if re["id"] == refundID {
				re["amount"] = amount
			}
		}
	}
}

// Refunds returns copies of the refunds Stripe holds for the payment, in
// the order they were made.
func (f *Fake) Refunds(paymentID string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, re := range f.refunds[paymentID] {
		c := make(map[string]any, len(re))
		for k, v := range re {
			c[k] = v
		}
		out = append(out, c)
	}
	return out
}

// Forget drops every refund Stripe holds for the payment.
func (f *Fake) Forget(paymentID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.refunds, paymentID)
}

// Down makes every request fail with 503 (true) or be answered again.
func (f *Fake) Down(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// newRefund makes a refund from the fixture; the caller holds f.mu.
func (f *Fake) newRefund(paymentID string, amount int64, status string, metadata map[string]string) map[string]any {
	f.seq++
	re := refundFrom(f.fixture, fmt.Sprintf("re_fake%d", f.seq), paymentID, amount, status, metadata)
	f.refunds[paymentID] = append(f.refunds[paymentID], re)
	return re
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"type":"api_error","message":"The fake Stripe is down."}}`)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/refunds":
		id := r.URL.Query().Get("charge")
		if id == "" {
			id = r.URL.Query().Get("payment_intent")
		}
		data := f.refunds[id]
		if data == nil {
			data = []map[string]any{}
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": "/v1/refunds", "has_more": false, "data": data})
		return
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		if err := r.ParseForm(); err == nil {
			key := r.Header.Get("Idempotency-Key")
			if re, ok := f.byKey[key]; ok && key != "" {
				json.NewEncoder(w).Encode(re)
				return
			}
			id := r.PostForm.Get("charge")
			if id == "" {
				id = r.PostForm.Get("payment_intent")
			}
			amount, err := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
			if id != "" && err == nil && amount > 0 {
				md := map[string]string{}
				for k, v := range r.PostForm {
					if name, ok := strings.CutPrefix(k, "metadata["); ok {
						md[strings.TrimSuffix(name, "]")] = v[0]
					}
				}
				re := f.newRefund(id, amount, "succeeded", md)
				// The reason as Stripe keeps it: one of its own, or null.
				re["reason"] = nil
				if v := r.PostForm.Get("reason"); v != "" {
					re["reason"] = v
				}
				if key != "" {
					f.byKey[key] = re
				}
				json.NewEncoder(w).Encode(re)
				return
			}
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"The fake Stripe needs a charge or payment_intent and a positive amount."}}`)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such resource."}}`)
}

// Refund returns a copy of stripe-mock's refund fixture changed to be
// refund id of payment paymentID (ch_ or pi_) for amount, in status,
// carrying metadata (nil: none).
func (s *Server) Refund(t testing.TB, id, paymentID string, amount int64, status string, metadata map[string]string) map[string]any {
	t.Helper()
	return refundFrom(s.Fixture(t, "/v1/refunds/"+id), id, paymentID, amount, status, metadata)
}

func refundFrom(fixture map[string]any, id, paymentID string, amount int64, status string, metadata map[string]string) map[string]any {
	re := make(map[string]any, len(fixture))
	for k, v := range fixture {
		re[k] = v
	}
	re["id"], re["amount"], re["status"], re["currency"] = id, amount, status, "usd"
	re["charge"], re["payment_intent"], re["failure_reason"] = nil, nil, nil
	if strings.HasPrefix(paymentID, "pi_") {
		re["payment_intent"] = paymentID
	} else {
		re["charge"] = paymentID
	}
	md := map[string]any{}
	for k, v := range metadata {
		md[k] = v
	}
	re["metadata"] = md
	return re
}
