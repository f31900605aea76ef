package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// call sends one native API request and decodes a 2xx answer into out.
func call(t *testing.T, base, key, method, path string, body any, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// No event is lost across kill -9: refunds are made while the receiver
// fails, the server is killed with SIGKILL before it can deliver them,
// and the restarted server delivers every one, signed.
func TestWebhooksSurviveKill9(t *testing.T) {
	bin := buildBinary(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"merchant", "create", "--slug", "shop", "--name", "Shop", "--db", db},
		func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var created struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	key := created.APIKey

	var up atomic.Bool
	var mu sync.Mutex
	var secret string
	delivered := map[string]int{} // webhook-id (event id) -> 2xx answers
	failed := 0
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			t.Errorf("a delivery did not verify: %s", r.Header)
			return
		}
		if !up.Load() {
			failed++
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		delivered[r.Header.Get("webhook-id")]++
	}))
	defer rc.Close()

	cmd, base, _, logs := startServe(t, bin, "--db", db)
	var ep struct{ ID, Secret string }
	call(t, base, key, "POST", "/v1/webhook_endpoints", map[string]any{"url": rc.URL, "enabled_events": []string{"*"}}, &ep)
	mu.Lock()
	secret = ep.Secret
	mu.Unlock()

	const sales = 10
	for i := range sales {
		var sale struct{ ID string }
		call(t, base, key, "POST", "/v1/sales", map[string]any{
			"reference": fmt.Sprintf("order-%d", i), "customer": map[string]any{"email": fmt.Sprintf("c%d@example.com", i)},
			"line_items": []map[string]any{{"name": "Ticket", "quantity": 1, "unit_amount": 2500}},
			"payment":    map[string]any{"gateway": "simulator"},
		}, &sale)
		call(t, base, key, "POST", "/v1/refunds", map[string]any{"sale": sale.ID, "amount": 1000}, nil)
	}
	// Let some attempts fail, so that the kill finds deliveries both
	// waiting for a retry and never dispatched or attempted.
	for wait := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := failed
		mu.Unlock()
		if n >= 3 || time.Since(wait) > 10*time.Second {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	mu.Lock()
	before := len(delivered)
	tried := failed
	mu.Unlock()
	t.Logf("killed with SIGKILL after %d failed attempts, %d delivered", tried, before)
	if tried == 0 {
		t.Fatal("no attempt failed before the kill")
	}

	up.Store(true)
	start := time.Now()
	_, base, _, logs2 := startServe(t, bin, "--db", db)
	var events struct {
		Data []struct{ ID string }
	}
	call(t, base, key, "GET", "/v1/events?limit=100", nil, &events)
	// Per sale: sale.created, refund.created, refund.succeeded.
	if len(events.Data) != 3*sales {
		t.Fatalf("%d events, want %d", len(events.Data), 3*sales)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, e := range events.Data {
			if delivered[e.ID] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never delivered; logs before the kill:\n%s\nafter:\n%s", missing, len(events.Data), logs.String(), logs2.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("all %d events delivered %v after the restart", len(events.Data), time.Since(start))

	var ds struct {
		Data []struct {
			Status       string `json:"status"`
			AttemptCount int    `json:"attempt_count"`
		}
	}
	call(t, base, key, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries?limit=100", nil, &ds)
	if len(ds.Data) != len(events.Data) {
		t.Fatalf("%d deliveries for %d events", len(ds.Data), len(events.Data))
	}
	retried := 0
	for _, d := range ds.Data {
		if d.AttemptCount > 1 {
			retried++
		}
	}
	t.Logf("%d deliveries, %d of them retried", len(ds.Data), retried)
}
