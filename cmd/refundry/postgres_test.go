package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/refundry/refundry/internal/pgtest"
)

// Invariant 2 across processes: two servers on one PostgreSQL database,
// hammered at once with partial refunds of the same transactions. No
// transaction ends over-refunded, and every refund answered 2xx exists
// exactly once.
func TestTwoProcessesOnePostgres(t *testing.T) {
	db := pgtest.NewDatabase(t)
	bin := buildBinary(t)
	out, err := exec.Command(bin, "merchant", "create", "--slug", "shared", "--name", "Shared", "--db", db).Output()
	if err != nil {
		t.Fatalf("merchant create: %v", err)
	}
	var mc struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &mc); err != nil {
		t.Fatalf("merchant create printed %q", out)
	}
	_, base1, _, _ := startServe(t, bin, "--db", db)
	_, base2, _, _ := startServe(t, bin, "--db", db)
	bases := []string{base1, base2}

	call := func(base, method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+mc.APIKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0, nil
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		_ = dec.Decode(&m)
		if res.StatusCode >= 500 {
			t.Errorf("%s %s answered %d: %s", method, path, res.StatusCode, raw)
		}
		return res.StatusCode, m
	}

	const sales = 3
	var txns []string
	paid := map[string]int64{}
	for i := range sales {
		status, s := call(bases[i%2], "POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD",
			"line_items": [{"name": "ticket", "quantity": 4, "unit_amount": 2500}], "payment": {"reference": "pg-%d"}}`, i))
		if status != 201 {
			t.Fatalf("create sale: %d %v", status, s)
		}
		txn := s["transactions"].([]any)[0].(map[string]any)
		txns = append(txns, txn["id"].(string))
		paid[txn["id"].(string)] = 10000
	}

	var mu sync.Mutex
	accepted := map[string]int64{} // refund id -> amount
	byTxn := map[string]int64{}
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range 6 {
				txn := txns[rng.IntN(len(txns))]
				amount := 1 + rng.Int64N(1500)
				status, r := call(bases[w%2], "POST", "/v1/refunds", fmt.Sprintf(`{"transaction": %q, "amount": %d}`, txn, amount))
				if status == 201 {
					mu.Lock()
					if _, dup := accepted[r["id"].(string)]; dup {
						t.Errorf("refund id %v answered twice", r["id"])
					}
					accepted[r["id"].(string)] = amount
					byTxn[txn] += amount
					mu.Unlock()
				} else if status != 400 {
					t.Errorf("refund answered %d: %v", status, r)
				}
			}
		})
	}
	wg.Wait()
	if len(accepted) == 0 {
		t.Fatal("no refund was accepted")
	}

	// Every 2xx refund is stored exactly once, and nothing else is.
	stored := map[string]int64{}
	after := ""
	for {
		path := "/v1/refunds?limit=100"
		if after != "" {
			path += "&starting_after=" + after
		}
		_, page := call(base1, "GET", path, "")
		for _, d := range page["data"].([]any) {
			r := d.(map[string]any)
			id := r["id"].(string)
			if _, dup := stored[id]; dup {
				t.Fatalf("refund %s listed twice", id)
			}
			stored[id] = integer(r["amount"])
			after = id
		}
		if page["has_more"] != true {
			break
		}
	}
	if len(stored) != len(accepted) {
		t.Fatalf("%d refunds stored, %d answered 2xx", len(stored), len(accepted))
	}
	for id, amount := range accepted {
		if stored[id] != amount {
			t.Fatalf("refund %s: stored %d, answered %d", id, stored[id], amount)
		}
	}
	_, list := call(base2, "GET", "/v1/sales?limit=100", "")
	for _, d := range list["data"].([]any) {
		txn := d.(map[string]any)["transactions"].([]any)[0].(map[string]any)
		id, refunded := txn["id"].(string), integer(txn["refunded_amount"])
		if refunded != byTxn[id] || refunded > paid[id] {
			t.Errorf("transaction %s: refunded %d, accepted refunds %d, paid %d", id, refunded, byTxn[id], paid[id])
		}
	}
	t.Logf("%d refunds accepted across two processes", len(accepted))
}

func integer(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}
