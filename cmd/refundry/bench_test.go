package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bench end to end: it starts its own server on a SQLite file of the
// test's, refunds through each API, and its --json line says invariant 2
// held. The test does not take bench's word for it: it reads the
// database itself afterwards.
func TestBenchJSON(t *testing.T) {
	bin := buildBinary(t)
	for _, d := range benchDialects {
		t.Run(d, func(t *testing.T) {
			n := "10"
			if d == "native" {
				n = "60"
			}
			path := filepath.Join(t.TempDir(), "bench.db")
			cmd := exec.Command(bin, "bench", "--refunds", n, "--concurrency", "4", "--dialect", d, "--json", "--db", "sqlite:"+path)
			cmd.Env = append(os.Environ(), "REFUNDRY_DB=", "REFUNDRY_ADDR=")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bench: %v\n%s\n%s", err, out, stderr.String())
			}
			var res struct {
				Refunds       int     `json:"refunds"`
				Seconds       float64 `json:"seconds"`
				RefundsPerSec float64 `json:"refunds_per_sec"`
				P50Ms         float64 `json:"p50_ms"`
				P90Ms         float64 `json:"p90_ms"`
				P99Ms         float64 `json:"p99_ms"`
				MaxMs         float64 `json:"max_ms"`
				Errors        int     `json:"errors"`
				InvariantOK   bool    `json:"invariant_ok"`
				SalesChecked  int     `json:"sales_checked"`
			}
			if strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
				t.Fatalf("--json printed more than one line: %q", out)
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("--json output %q: %v", out, err)
			}
			if !res.InvariantOK || res.Errors != 0 || res.Refunds == 0 || res.SalesChecked != res.Refunds {
				t.Fatalf("bench result %+v; stderr:\n%s", res, stderr.String())
			}
			if !(res.P50Ms > 0 && res.P50Ms <= res.P90Ms && res.P90Ms <= res.P99Ms && res.P99Ms <= res.MaxMs) || res.RefundsPerSec <= 0 || res.Seconds <= 0 {
				t.Fatalf("timings out of order: %+v", res)
			}
			// KeepUp refunds whole sales; the others take part of each.
			each := int64(benchRefundAmount)
			if d == "keepup" {
				each = benchSaleAmount
			}
			checkBenchDatabase(t, path, res.Refunds, each)
		})
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--target", "http://127.0.0.1:1"},
		{"bench", "--key", "k"},
		{"bench", "--dialect", "soap"},
		{"bench", "--refunds", "0"},
		{"bench", "--target", "http://127.0.0.1:1", "--key", "k", "--db", "x.db"},
		{"refund", "--target", "http://127.0.0.1:1", "--key", "k"},
		{"refund", "--csv", "x.csv"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, &stderr)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err %v, exit %d; want a usage error", args, err, exitCode(err))
		}
		if !strings.Contains(stderr.String(), "Usage: refundry") {
			t.Errorf("%v: no usage printed", args)
		}
	}
	var stderr strings.Builder
	err := run(context.Background(), []string{"bench", "--target", "http://127.0.0.1:1"}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--key") {
		t.Errorf("--target without --key: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	v := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		pct  int
		want int64
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := percentile(v, c.pct); got != c.want {
			t.Errorf("p%d = %d, want %d", c.pct, got, c.want)
		}
	}
	if percentile([]int64{7}, 99) != 7 || percentile(nil, 50) != 0 {
		t.Error("edge cases")
	}
}

// checkBenchDatabase reads what bench left in the SQLite file at path,
// with SQL of its own rather than through the API bench checked with:
// invariant 2 for every sale, transaction and line item (refunded_amount
// is the sum of its pending and succeeded refunds and never more than
// was paid), and exactly one succeeded refund of each amount per sale,
// as bench asked for.
func checkBenchDatabase(t *testing.T, path string, sales int, each int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, level := range []struct{ table, join string }{
		{"sales", `refunds r ON r.sale_id = x.id`},
		{"transactions", `refunds r ON r.transaction_id = x.id`},
		// Every refund lands on lines: a line holds what its refund lines do.
		{"line_items", `(refund_lines rl JOIN refunds r ON r.id = rl.refund_id) ON rl.line_item_id = x.id`},
	} {
		amount := "r.amount"
		if level.table == "line_items" {
			amount = "rl.amount"
		}
		rows, err := db.Query(`SELECT x.id, x.amount, x.refunded_amount, COALESCE(SUM(` + amount + `), 0), COUNT(r.id)
			FROM ` + level.table + ` x LEFT JOIN ` + level.join + ` AND r.status IN ('pending', 'succeeded')
			GROUP BY x.id, x.amount, x.refunded_amount`)
		if err != nil {
			t.Fatalf("%s: %v", level.table, err)
		}
		n := 0
		for rows.Next() {
			var id string
			var amount, refunded, reserved, count int64
			if err := rows.Scan(&id, &amount, &refunded, &reserved, &count); err != nil {
				t.Fatal(err)
			}
			n++
			if refunded != reserved || reserved > amount {
				t.Errorf("invariant 2: %s %s paid %d, refunded_amount %d, its pending and succeeded refunds %d", level.table, id, amount, refunded, reserved)
			}
			if level.table == "sales" && (count != 1 || reserved != each) {
				t.Errorf("sale %s holds %d refunds of %d in all; bench made one of %d", id, count, reserved, each)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if level.table == "sales" && n != sales {
			t.Errorf("the database holds %d sales; bench made %d", n, sales)
		}
	}
	var succeeded, all int
	if err := db.QueryRow(`SELECT COUNT(*) FILTER (WHERE status = 'succeeded'), COUNT(*) FROM refunds`).Scan(&succeeded, &all); err != nil {
		t.Fatal(err)
	}
	if succeeded != sales || all != sales {
		t.Errorf("the database holds %d refunds, %d succeeded; bench made %d, all answered", all, succeeded, sales)
	}
}
