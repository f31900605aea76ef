package main

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry/internal/pgtest"
)

// Invariant 3 with group commit: 64 clients refund at once, so writes
// share transactions; the server is killed with SIGKILL mid-burst and
// restarted, and every refund answered 201 is there, with each sale's
// refunded amount equal to what its stored refunds add up to (invariant 2).
func TestCrashGroupCommitKeepsAckedRefunds(t *testing.T) {
	bin := buildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		crashUnderLoad(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "gc.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		crashUnderLoad(t, bin, pgtest.NewDatabase(t))
	})
}

func crashUnderLoad(t *testing.T, bin, db string) {
	key := newMerchant(t, bin, db)
	cmd, base, _, _ := startServe(t, bin, "--db", db, "--group-commit=true")
	c := &client{t: t, base: base, key: key}

	var sales []string
	for i := range 32 {
		s := c.must("POST", "/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 100000}], "payment": {"reference": "gc-%d"}}`, i))
		sales = append(sales, s["id"].(string))
	}

	var mu sync.Mutex
	acked := map[string]string{} // refund id -> sale id
	var wg sync.WaitGroup
	enough := make(chan struct{})
	var once sync.Once
	for w := range 64 {
		wg.Go(func() {
			for i := 0; ; i++ {
				sale := sales[(w+i)%len(sales)]
				status, r, err := c.call("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 1}`, sale))
				if err != nil {
					return // the server is gone
				}
				if status != 201 {
					continue
				}
				mu.Lock()
				acked[r["id"].(string)] = sale
				n := len(acked)
				mu.Unlock()
				if n >= 1500 {
					once.Do(func() { close(enough) })
				}
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(120 * time.Second):
		t.Fatal("1500 refunds were not answered in time")
	}
	// SIGKILL while all 64 clients still have requests in flight.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	_ = cmd.Wait()

	_, c.base, _, _ = startServe(t, bin, "--db", db)
	for id, sale := range acked {
		r := c.must("GET", "/v1/refunds/"+id, "")
		if r["sale"] != sale {
			t.Fatalf("refund %s acknowledged for sale %s comes back as %v", id, sale, r)
		}
	}
	for _, sale := range sales {
		s := c.must("GET", "/v1/sales/"+sale, "")
		var sum int64
		for _, r := range c.all("/v1/refunds?sale=" + sale) {
			if st := r["status"]; st == "pending" || st == "succeeded" {
				n, _ := r["amount"].(interface{ Int64() (int64, error) }).Int64()
				sum += n
			}
		}
		got, _ := s["refunded_amount"].(interface{ Int64() (int64, error) }).Int64()
		if got != sum {
			t.Errorf("sale %s: refunded_amount %d, stored refunds add up to %d", sale, got, sum)
		}
	}
	t.Logf("%d refunds acknowledged before the kill, all found after restart", len(acked))
}
