package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// client talks to a running server with one merchant's key; answers keep
// their numbers exact (json.Number).
type client struct {
	t    *testing.T
	base string
	key  string
}

func (c *client) call(method, path, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	_ = dec.Decode(&m)
	if res.StatusCode == http.StatusInternalServerError {
		c.t.Errorf("%s %s answered 500: %s", method, path, raw)
	}
	return res.StatusCode, m, nil
}

func (c *client) must(method, path, body string) map[string]any {
	c.t.Helper()
	status, m, err := c.call(method, path, body)
	if err != nil || status >= 300 {
		c.t.Fatalf("%s %s: %d %v %v", method, path, status, m, err)
	}
	return m
}

// all pages through a list route.
func (c *client) all(path string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	after := ""
	for {
		p := path + "&limit=100"
		if after != "" {
			p += "&starting_after=" + after
		}
		page := c.must("GET", p, "")
		for _, d := range page["data"].([]any) {
			out = append(out, d.(map[string]any))
			after = d.(map[string]any)["id"].(string)
		}
		if page["has_more"] != true {
			return out
		}
	}
}

func newMerchant(t *testing.T, bin, db string) string {
	t.Helper()
	out, err := exec.Command(bin, "merchant", "create", "--slug", "crash", "--name", "Crash", "--db", db).Output()
	if err != nil {
		t.Fatalf("merchant create: %v", err)
	}
	var mc struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &mc); err != nil {
		t.Fatal(err)
	}
	return mc.APIKey
}

// Invariants 3 and 6 across kill -9: refunds whose gateway is slow are
// made, the server is killed mid-flight, and after a restart every refund
// ends settled exactly once, every 2xx refund is there, and no amount stays
// reserved for a refund that failed.
func TestCrashRecoverySettlesPendingRefunds(t *testing.T) {
	bin := buildBinary(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "crash.db")
	key := newMerchant(t, bin, db)
	cmd, base, _, _ := startServe(t, bin, "--db", db)
	c := &client{t: t, base: base, key: key}

	// Half the sales' gateway settles their refunds after 2s, half declines
	// them after 2s: a crash finds both kinds pending.
	var sales []string
	for i := range 8 {
		ref := fmt.Sprintf("sim_pending_2s-%d", i)
		if i%2 == 1 {
			ref = fmt.Sprintf("sim_pending_2s_fail-%d", i)
		}
		s := c.must("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 1000}], "payment": {"reference": %q}}`, ref))
		sales = append(sales, s["id"].(string))
	}

	var mu sync.Mutex
	acked := map[string]string{} // refund id -> sale id
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for w := range 16 {
		wg.Go(func() {
			for i := range 10 {
				sale := sales[(w+i)%len(sales)]
				status, r, err := c.call("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 50}`, sale))
				if err != nil {
					return // the server is gone
				}
				if status == 201 {
					mu.Lock()
					acked[r["id"].(string)] = sale
					n := len(acked)
					mu.Unlock()
					if n == 40 {
						close(killed)
					}
				}
			}
		})
	}
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatal("40 refunds were not answered in time")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown of any kind
		t.Fatal(err)
	}
	wg.Wait()
	_ = cmd.Wait()

	_, base2, _, _ := startServe(t, bin, "--db", db)
	c.base = base2
	deadline := time.Now().Add(60 * time.Second)
	for len(c.all("/v1/refunds?status=pending")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("refunds still pending after restart: %v", c.all("/v1/refunds?status=pending"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	refunds := map[string]map[string]any{}
	for _, r := range c.all("/v1/refunds?") {
		refunds[r["id"].(string)] = r
	}
	for id := range acked {
		if refunds[id] == nil {
			t.Errorf("refund %s was answered 201 but is gone", id)
		}
	}
	settledEvents := map[string]int{}
	for _, e := range c.all("/v1/events?type=refund.succeeded,refund.failed") {
		obj := e["data"].(map[string]any)["object"].(map[string]any)
		settledEvents[obj["id"].(string)]++
	}
	succeeded := map[string]int64{}
	for id, r := range refunds {
		if settledEvents[id] != 1 {
			t.Errorf("refund %s settled %d times", id, settledEvents[id])
		}
		if r["status"] == "succeeded" {
			n, _ := r["amount"].(json.Number).Int64()
			succeeded[r["sale"].(string)] += n
		}
	}
	for i, id := range sales {
		s := c.must("GET", "/v1/sales/"+id, "")
		refunded, _ := s["refunded_amount"].(json.Number).Int64()
		if refunded != succeeded[id] {
			t.Errorf("sale %s refunded %d, its succeeded refunds add up to %d", id, refunded, succeeded[id])
		}
		if i%2 == 1 && refunded != 0 {
			t.Errorf("sale %s: %d stays reserved for refunds that failed", id, refunded)
		}
	}
	t.Logf("%d refunds answered before the kill, %d stored, all settled once", len(acked), len(refunds))
}
