package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// csv fetches a documented text/csv answer and returns its records; the
// document says what the columns are, which a JSON Schema cannot check,
// so the header is checked against api.OutcomeHeader instead.
func (c *conformance) csv(tmpl, path, key string) [][]string {
	c.t.Helper()
	return c.csvWith(tmpl, path, key, api.OutcomeHeader)
}

// csvWith is csv for an answer whose header is header.
func (c *conformance) csvWith(tmpl, path, key string, header []string) [][]string {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.srv.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	name := fmt.Sprintf("GET %s %d", tmpl, res.StatusCode)
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(res.Body)
		c.t.Fatalf("GET %s: status %d, want 200: %s", path, res.StatusCode, raw)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		c.t.Fatal(err)
	}
	if _, ok := doc.Paths[tmpl]["get"].Responses["200"].Content["text/csv"]; !ok {
		c.t.Fatalf("%s: no text/csv answer is documented", name)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		c.t.Errorf("%s: Content-Type %q", name, ct)
	}
	recs, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		c.t.Fatalf("%s: not CSV: %v", name, err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], header) {
		c.t.Fatalf("%s: header %v, want %v", name, recs, header)
	}
	c.seen[name] = true
	return recs[1:]
}

// batchConformance produces every documented answer of the refund batch
// routes: batches sent as a JSON object, a bare JSON array and CSV, worked
// by the engine's BatchWorker so that one row succeeds and one fails,
// then read back whole and as outcome.csv.
func batchConformance(t *testing.T, c *conformance, env *testenv.Env) {
	t.Helper()
	key := env.KeyA
	missing := refundry.NewID()
	ref := "ord-" + refundry.NewID()
	env.Sale(testenv.SaleSpec{Reference: ref})
	csvType := []string{"Content-Type", "text/csv"}

	batches := "/v1/refund_batches"
	b := c.do("POST", batches, batches, key, fmt.Sprintf(`{"rows": [{"target": %q, "amount": 100, "reason": "late_delivery"}, {"target": "no-such-order"}]}`, ref), 202)
	if b["status"] != "processing" || b["pending"] != json.Number("2") {
		t.Errorf("a new batch: %v", b)
	}
	c.do("POST", batches, batches, key, fmt.Sprintf(`[{"target": %q, "amount": 50}]`, ref), 202)
	c.do("POST", batches, batches, key, "target,amount,reason\n"+ref+",25,duplicate\n", 202, csvType...)
	body := fmt.Sprintf(`[{"target": %q, "amount": 10}]`, ref)
	k := []string{"Idempotency-Key", "batch-" + refundry.NewID()}
	first := c.do("POST", batches, batches, key, body, 202, k...)
	if again := c.do("POST", batches, batches, key, body, 202, k...); again["id"] != first["id"] {
		t.Errorf("a batch sent again with its key: %v, first %v", again["id"], first["id"])
	}
	c.do("POST", batches, batches, key, `[{"target": "other"}]`, 400, k...)
	c.do("POST", batches, batches, key, `{"rows": []}`, 400)
	c.do("POST", batches, batches, key, `{"rows": [{"target": "x", "amount": 0}]}`, 400)
	c.do("POST", batches, batches, key, `[{"target": "x", "currency": "USD"}]`, 400)
	c.do("POST", batches, batches, key, "target,colour\nx,red\n", 400, csvType...)
	c.do("POST", batches, batches, "", `{}`, 401)
	c.do("POST", batches, batches, key, `{"rows": [{"target": "`+strings.Repeat("x", api.MaxBatchBody)+`"}]}`, 413)

	one := "/v1/refund_batches/{id}"
	id, _ := b["id"].(string)
	c.do("GET", one, batches+"/"+id, key, "", 200)
	w := engine.NewBatchWorker(env.Engine, time.Minute)
	for {
		n, err := w.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if done := c.do("GET", one, batches+"/"+id, key, "", 200); done["status"] != "completed" || done["succeeded"] != json.Number("1") || done["failed"] != json.Number("1") {
		t.Errorf("the batch once worked: %v", done)
	}
	c.do("GET", one, batches+"/"+id, "", "", 401)
	c.do("GET", one, batches+"/"+missing, key, "", 404)
	c.do("GET", one, batches+"/"+id, env.KeyB, "", 404)

	outcome := "/v1/refund_batches/{id}/outcome.csv"
	recs := c.csv(outcome, batches+"/"+id+"/outcome.csv", key)
	if len(recs) != 2 || recs[0][2] != "succeeded" || recs[0][3] == "" || recs[1][2] != "failed" || recs[1][5] == "" {
		t.Errorf("outcome.csv: %q", recs)
	}
	c.do("GET", outcome, batches+"/"+id+"/outcome.csv", "", "", 401)
	c.do("GET", outcome, batches+"/"+missing+"/outcome.csv", key, "", 404)
	c.do("GET", outcome, batches+"/"+id+"/outcome.csv", env.KeyB, "", 404)
}
