package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// refundry export refunds writes what GET /v1/refunds/export answers for
// the same range, byte for byte (one writer serves both), to standard
// output or a file, and refuses a bad range as a usage error.
func TestExportRefundsCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	key := createMerchant(t, db, "exporter")
	other := createMerchant(t, db, "other-shop")
	base := startInProcess(t, db)
	var sale, theirs saleJSON
	nativeCall(t, base, key, "POST", "/v1/sales", `{"reference": "ORDER-1", "currency": "USD",
		"line_items": [{"name": "Widget", "quantity": 2, "unit_amount": 1250}], "payment": {"reference": "pay-1"}}`, &sale)
	nativeCall(t, base, other, "POST", "/v1/sales", `{"currency": "USD", "line_items": [{"name": "x", "quantity": 1, "unit_amount": 700}], "payment": {"reference": "pay-b"}}`, &theirs)
	nativeCall(t, base, key, "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 300, "reason": "damaged", "description": "cracked, \"badly\""}`, sale.ID), nil)
	nativeCall(t, base, key, "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 200}`, sale.ID), nil)
	nativeCall(t, base, other, "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q}`, theirs.ID), nil)

	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }
	export := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"export", "refunds", "--db", db}, args...), noEnv, &out, &errOut)
		if err != nil {
			return errOut.String(), err
		}
		return out.String(), nil
	}
	got, err := export("--merchant", "exporter", "--since", day(-1), "--until", day(1))
	if err != nil {
		t.Fatal(err, got)
	}
	recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil || len(recs) != 3 || !slices.Equal(recs[0], refundry.RefundCSVColumns) {
		t.Fatalf("export = %q, %v", recs, err)
	}
	if recs[2][8] != "damaged" || recs[2][9] != `cracked, "badly"` || recs[2][4] != "300" || recs[2][5] != "3.00" || recs[1][4] != "200" {
		t.Fatalf("rows = %q", recs[1:])
	}
	since, _ := time.Parse(time.DateOnly, day(-1))
	until, _ := time.Parse(time.DateOnly, day(1))
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/refunds/export?created[gte]=%d&created[lt]=%d", base, since.Unix(), until.Unix()), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(api) != got {
		t.Fatalf("the command and the API differ:\ncommand %q\napi     %q", got, api)
	}

	// --out replaces the file whole; a range with nothing is a header.
	file := filepath.Join(t.TempDir(), "refunds.csv")
	if err := os.WriteFile(file, []byte("old content that must go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := export("--merchant", "exporter", "--since", day(-1), "--out", file); err != nil || out != "" {
		t.Fatalf("--out: %v %q", err, out)
	}
	if b, _ := os.ReadFile(file); string(b) != got {
		t.Fatalf("--out wrote %q", b)
	}
	if out, err := export("--merchant", "exporter", "--since", day(1)+"T00:00:00Z", "--until", day(2)); err != nil ||
		out != strings.Join(refundry.RefundCSVColumns, ",")+"\n" {
		t.Fatalf("an empty range: %v %q", err, out)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".refunds.csv.*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	for _, args := range [][]string{
		{"--since", day(-1)},
		{"--merchant", "exporter"},
		{"--merchant", "exporter", "--since", "yesterday"},
		{"--merchant", "exporter", "--since", day(1), "--until", day(-1)},
		{"--merchant", "no-such-shop", "--since", day(-1)},
		{"--merchant", "exporter", "--since", day(-1), "stray"},
	} {
		msg, err := export(args...)
		if exitCode(err) != 2 {
			t.Errorf("export refunds %v: %v (exit %d), want a usage error: %s", args, err, exitCode(err), msg)
		}
	}
}
