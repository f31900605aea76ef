package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// bulkSale is a sale made for a bulk refund test.
type bulkSale struct{ id, ref, lineItem, txn string }

// makeSales creates n sales of 10.00 concurrently, with references that
// start with prefix.
func makeSales(t *testing.T, c *client, prefix string, n int) []bulkSale {
	t.Helper()
	sales := make([]bulkSale, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				ref := fmt.Sprintf("%s-%d", prefix, i)
				status, s, err := c.call("POST", "/v1/sales", fmt.Sprintf(`{"reference": %q, "currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 1000}], "payment": {"reference": "pay-%s"}}`, ref, ref))
				if err != nil || status != http.StatusCreated {
					t.Errorf("create sale %s: %d %v %v", ref, status, s, err) // not Fatal: the feeder must not block
					continue
				}
				sales[i] = bulkSale{s["id"].(string), ref, s["line_items"].([]any)[0].(map[string]any)["id"].(string),
					s["transactions"].([]any)[0].(map[string]any)["id"].(string)}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return sales
}

// bulkCSV is one row per sale: each refunds 3.00 of its own sale, named in
// turn by sale id, line item id, transaction id, sale reference and
// payment reference; then a row with a target that matches nothing and one
// that asks too much. refund --csv and POST /v1/refund_batches both take
// it, and must read every target alike.
func bulkCSV(sales []bulkSale) string {
	var b strings.Builder
	b.WriteString("target,amount,reason\n")
	for i, s := range sales {
		tg := []string{s.id, s.lineItem, s.txn, s.ref, "pay-" + s.ref}[i%5]
		fmt.Fprintf(&b, "%s,300,late_delivery\n", tg)
	}
	fmt.Fprintf(&b, "no-such-thing,300,other\n%s,5000,other\n", sales[0].id)
	return b.String()
}

func readOutcome(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("outcome %s: %v", path, err)
	}
	return recs
}

// checkExactlyOnce checks the outcome lines (header first, rows in order)
// against the server: every sale was refunded exactly once, by the refund
// its row names, and the two bad rows failed.
func checkExactlyOnce(t *testing.T, c *client, sales []bulkSale, recs [][]string) {
	t.Helper()
	if len(recs) != len(sales)+3 || !slices.Equal(recs[0], []string{"row", "target", "status", "refund", "refund_status", "error"}) {
		t.Fatalf("outcome has %d lines (want %d), header %v", len(recs), len(sales)+3, recs[0])
	}
	refunds := map[string]map[string]any{}
	perSale := map[string]int{}
	for _, r := range c.all("/v1/refunds?") {
		refunds[r["id"].(string)] = r
		perSale[r["sale"].(string)]++
	}
	for i, s := range sales {
		rec := recs[i+1]
		if rec[0] != fmt.Sprint(i+1) || rec[2] != "succeeded" || refunds[rec[3]] == nil || refunds[rec[3]]["sale"] != s.id {
			t.Errorf("row %d: %v", i+1, rec)
		}
		if perSale[s.id] != 1 {
			t.Errorf("sale %s (row %d) has %d refunds, want exactly 1", s.id, i+1, perSale[s.id])
		}
		sale := c.must("GET", "/v1/sales/"+s.id, "")
		if sale["refunded_amount"].(json.Number).String() != "300" {
			t.Errorf("sale %s refunded %v, want 300", s.id, sale["refunded_amount"])
		}
	}
	for _, rec := range recs[len(sales)+1:] {
		if rec[2] != "failed" || rec[3] != "" || rec[5] == "" {
			t.Errorf("bad row should fail with a reason: %v", rec)
		}
	}
	if len(refunds) != len(sales) {
		t.Errorf("%d refunds on the server, want %d", len(refunds), len(sales))
	}
}

// refund --csv is resumable: killed (SIGKILL) part-way, then run again, it
// refunds every row exactly once and leaves a complete outcome file.
func TestRefundCSVResumesAfterKill(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "bulk.db")
	key := newMerchant(t, bin, db)
	_, base, _, _ := startServe(t, bin, "--db", db)
	c := &client{t: t, base: base, key: key}
	sales := makeSales(t, c, "TICKET", 400)
	in, out := filepath.Join(dir, "tickets.csv"), filepath.Join(dir, "tickets.outcome.csv")
	if err := os.WriteFile(in, []byte(bulkCSV(sales)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"refund", "--csv", in, "--target", base, "--key", key, "--concurrency", "2"}

	first := exec.Command(bin, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		raw, _ := os.ReadFile(out)
		if n := strings.Count(string(raw), "\n"); n > 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run wrote no outcomes")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	raw, _ := os.ReadFile(out)
	doneBefore := strings.Count(string(raw), "\n") - 1
	if doneBefore >= len(sales)+2 {
		t.Fatalf("the first run finished (%d rows) before it was killed; the test proves nothing", doneBefore)
	}
	t.Logf("killed after %d of %d rows", doneBefore, len(sales)+2)

	// Two rows fail: the run ends with exit status 3 to say so.
	second := exec.Command(bin, args...)
	msg, err := second.CombinedOutput()
	if second.ProcessState.ExitCode() != exitFailedRows {
		t.Fatalf("resume: %v, want exit %d\n%s", err, exitFailedRows, msg)
	}
	if !strings.Contains(string(msg), "resuming") || !strings.Contains(string(msg), fmt.Sprintf("%d rows: %d refunded, 2 failed", len(sales)+2, len(sales))) {
		t.Errorf("resume said:\n%s", msg)
	}
	checkExactlyOnce(t, c, sales, readOutcome(t, out))

	// A third run has nothing left to do and changes nothing.
	third := exec.Command(bin, args...)
	if msg, err := third.CombinedOutput(); third.ProcessState.ExitCode() != exitFailedRows {
		t.Fatalf("third run: %v\n%s", err, msg)
	}
	checkExactlyOnce(t, c, sales, readOutcome(t, out))
}

// The refund_batches API, CSV and JSON: a batch survives kill -9 of the
// server that works it, and the restarted server finishes it with every
// row refunded exactly once.
func TestRefundBatchesAPISurvivesKill(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "batch.db")
	key := newMerchant(t, bin, db)
	cmd, base, _, _ := startServe(t, bin, "--db", db, "--batch-lease", "2s")
	c := &client{t: t, base: base, key: key}

	post := func(contentType, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", c.base+"/v1/refund_batches", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", contentType)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		dec := json.NewDecoder(res.Body)
		dec.UseNumber()
		_ = dec.Decode(&m)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /v1/refund_batches: %d %v", res.StatusCode, m)
		}
		return m
	}
	wait := func(id string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			b := c.must("GET", "/v1/refund_batches/"+id, "")
			if b["status"] == "completed" {
				return b
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch not completed: %v", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	outcome := func(id string) [][]string {
		t.Helper()
		req, _ := http.NewRequest("GET", c.base+"/v1/refund_batches/"+id+"/outcome.csv", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("outcome.csv: %v %v", res, err)
		}
		defer res.Body.Close()
		recs, err := csv.NewReader(res.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}

	// CSV upload, with its bad rows.
	small := makeSales(t, c, "SMALL", 8)
	b := post("text/csv", bulkCSV(small))
	if b["total"].(json.Number).String() != "10" || b["object"] != "refund_batch" {
		t.Fatalf("created %v", b)
	}
	done := wait(b["id"].(string))
	if done["succeeded"].(json.Number).String() != "8" || done["failed"].(json.Number).String() != "2" || done["pending"].(json.Number).String() != "0" {
		t.Fatalf("CSV batch ended %v", done)
	}
	checkExactlyOnce(t, c, small, outcome(b["id"].(string)))

	// A bad upload is refused whole, in the native error shape.
	status, e, _ := c.call("POST", "/v1/refund_batches", `{"rows": [{"target": "x", "amount": -5}]}`)
	if status != 400 || e["error"].(map[string]any)["param"] != "rows[0].amount" {
		t.Fatalf("bad batch: %d %v", status, e)
	}
	if status, _, _ := c.call("GET", "/v1/refund_batches/"+strings.Repeat("A", 20), ""); status != 404 {
		t.Fatalf("missing batch: %d", status)
	}

	// JSON, large enough to be killed part-way.
	big := makeSales(t, c, "BIG", 1000)
	var rows []string
	for _, s := range big {
		rows = append(rows, fmt.Sprintf(`{"target": %q, "amount": 300, "reason": "late_delivery"}`, s.id))
	}
	b = post("application/json", `{"rows": [`+strings.Join(rows, ",")+`]}`)
	id := b["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for {
		cur := c.must("GET", "/v1/refund_batches/"+id, "")
		if n, _ := cur["succeeded"].(json.Number).Int64(); n >= 50 {
			if cur["status"] == "completed" {
				t.Fatal("the batch completed before the kill; the test proves nothing")
			}
			t.Logf("killing the server with %v rows done", n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch did not start: %v", cur)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL mid-batch
		t.Fatal(err)
	}
	_ = cmd.Wait()

	_, base2, _, _ := startServe(t, bin, "--db", db, "--batch-lease", "2s")
	c.base = base2
	done = wait(id)
	if done["succeeded"].(json.Number).String() != "1000" || done["failed"].(json.Number).String() != "0" {
		t.Fatalf("batch after restart: %v", done)
	}
	recs := outcome(id)
	if len(recs) != 1001 {
		t.Fatalf("outcome has %d lines", len(recs))
	}
	perSale := map[string]int{}
	for _, r := range c.all("/v1/refunds?source=bulk") {
		perSale[r["sale"].(string)]++
	}
	for i, s := range big {
		if perSale[s.id] != 1 || recs[i+1][2] != "succeeded" || recs[i+1][3] == "" {
			t.Errorf("sale %s (row %d): %d refunds, outcome %v", s.id, i+1, perSale[s.id], recs[i+1])
		}
	}
}
