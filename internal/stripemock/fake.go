package stripemock

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

// Fake is a small Stripe that keeps the refunds a test gives it, per
// payment, and answers GET /v1/refunds?charge= or ?payment_intent= with
// them as one list page, in the list shape stripe-mock uses. Anything
// else is answered 404 resource_missing.
type Fake struct {
	*httptest.Server
	mu      sync.Mutex
	refunds map[string][]map[string]any // by charge or PaymentIntent id
	down    bool
}

// NewFake starts a Fake; it is closed when the test ends.
func NewFake(t testing.TB) *Fake {
	f := &Fake{refunds: map[string][]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// SetRefunds replaces the refunds Stripe holds for the payment.
func (f *Fake) SetRefunds(paymentID string, refunds ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refunds[paymentID] = refunds
}

// Down makes every request fail with 503 (true) or be answered again.
func (f *Fake) Down(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
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
	if r.Method != http.MethodGet || r.URL.Path != "/v1/refunds" {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such resource."}}`)
		return
	}
	id := r.URL.Query().Get("charge")
	if id == "" {
		id = r.URL.Query().Get("payment_intent")
	}
	data := f.refunds[id]
	if data == nil {
		data = []map[string]any{}
	}
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "url": "/v1/refunds", "has_more": false, "data": data,
	})
}

// Refund returns a copy of stripe-mock's refund fixture changed to be
// refund id of payment paymentID (ch_ or pi_) for amount, in status,
// carrying metadata (nil: none).
func (s *Server) Refund(t testing.TB, id, paymentID string, amount int64, status string, metadata map[string]string) map[string]any {
	t.Helper()
	re := s.Fixture(t, "/v1/refunds/"+id)
	re["id"], re["amount"], re["status"], re["currency"] = id, amount, status, "usd"
	re["charge"], re["payment_intent"] = nil, nil
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
