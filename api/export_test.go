package api_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

func getExport(t *testing.T, srv *httptest.Server, key, query string) (*http.Response, [][]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/refunds/export"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(res.Body)
		t.Fatalf("export%s: %d %s", query, res.StatusCode, raw)
	}
	recs, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		t.Fatalf("export%s is not CSV a csv.Reader reads: %v", query, err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], refundry.RefundCSVColumns) {
		t.Fatalf("export%s header = %q", query, recs)
	}
	return res, recs[1:]
}

// The export takes the list's filters, its created[gte]/created[lt]
// range among them, and answers what the list would, all pages of it,
// with each column as documented.
func TestExportRefunds(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, api.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)

	usd := env.Sale(testenv.SaleSpec{})
	jpy := env.Sale(testenv.SaleSpec{Currency: "JPY", Units: []int64{5000}})
	kwd := env.Sale(testenv.SaleSpec{Currency: "KWD", Units: []int64{10000}})
	refund := func(sale *refundry.Sale, amount int64, reason, description string) *refundry.Refund {
		t.Helper()
		res, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
			Amount: &amount, Reason: reason, Description: description, Source: refundry.SourceNative})
		if err != nil {
			t.Fatal(err)
		}
		return res.Refunds[0]
	}
	a := refund(usd, 1250, "damaged", `Arrived "crushed", box torn`+"\nsecond line")
	// Created times are kept to the microsecond; the range is in seconds,
	// so the second half starts on a fresh second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	cut := time.Now().Unix()
	b := refund(jpy, 500, "", "")
	c := refund(kwd, 1234, "other", "=cmd|' /C calc'!A0")
	env.Sale(testenv.SaleSpec{Merchant: env.B}) // B's sale, B's refund: never in A's export
	if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.B.ID, Target: refundry.RefundTarget{SaleID: env.Sale(testenv.SaleSpec{Merchant: env.B}).ID},
		Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}

	res, all := getExport(t, srv, env.KeyA, "")
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if len(all) != 3 || all[0][0] != c.ID || all[1][0] != b.ID || all[2][0] != a.ID {
		t.Fatalf("export = %q, want c, b, a", all)
	}
	col := func(rec []string, name string) string { return rec[slices.Index(refundry.RefundCSVColumns, name)] }
	for _, tc := range []struct {
		rec                                          []string
		r                                            *refundry.Refund
		amount, major, currency, reason, description string
	}{
		{all[2], a, "1250", "12.50", "USD", "damaged", `Arrived "crushed", box torn` + "\nsecond line"},
		{all[1], b, "500", "500", "JPY", "", ""},
		{all[0], c, "1234", "1.234", "KWD", "other", "'=cmd|' /C calc'!A0"},
	} {
		for name, want := range map[string]string{
			"amount": tc.amount, "amount_major": tc.major, "currency": tc.currency, "reason": tc.reason, "description": tc.description,
			"sale": tc.r.SaleID, "transaction": tc.r.TransactionID, "status": tc.r.Status, "source": "native", "gateway": "simulator",
			"gateway_refund_id": tc.r.GatewayRefundID, "fee": "0", "created": tc.r.Created.UTC().Format(time.RFC3339),
		} {
			if got := col(tc.rec, name); got != want {
				t.Errorf("refund %s column %s = %q, want %q", tc.r.ID, name, got, want)
			}
		}
	}

	for _, f := range []struct {
		query string
		want  []string
	}{
		{"?sale=" + jpy.ID, []string{b.ID}},
		{"?created[lt]=" + strconv.FormatInt(cut, 10), []string{a.ID}},
		{"?created[gte]=" + strconv.FormatInt(cut, 10), []string{c.ID, b.ID}},
		{fmt.Sprintf("?created[gte]=%d&created[lt]=%d", cut, cut), nil},
		{"?transaction=" + a.TransactionID, []string{a.ID}},
		{"?status=failed", nil},
		{"?source=keepup", nil},
	} {
		_, recs := getExport(t, srv, env.KeyA, f.query)
		var got []string
		for _, r := range recs {
			got = append(got, r[0])
		}
		if !slices.Equal(got, f.want) {
			t.Errorf("export%s = %v, want %v", f.query, got, f.want)
		}
	}
	_, theirs := getExport(t, srv, env.KeyB, "")
	if len(theirs) != 1 {
		t.Fatalf("B's export has %d refunds, want its own 1", len(theirs))
	}
}

// failingPages is the real refund store, failing every read after the
// first ok of them. Atomic: a handler cut short may still be reading
// when the test moves on.
type failingPages struct {
	refundry.RefundStore
	reads, ok atomic.Int64
}

func (f *failingPages) ListRefunds(ctx context.Context, merchantID string, fl refundry.RefundFilter) ([]*refundry.Refund, bool, error) {
	if f.reads.Add(1) > f.ok.Load() {
		return nil, false, errors.New("the database went away")
	}
	return f.RefundStore.ListRefunds(ctx, merchantID, fl)
}

// A page that cannot be read after rows went out cuts the connection: the
// client sees a broken download, never a file that looks whole. One that
// cannot be read before any row is an ordinary error answer.
func TestExportRefundsFailureMidStream(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	srv := httptest.NewServer(edge.Observe(env.Logger, api.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	sale := env.Sale(testenv.SaleSpec{Units: []int64{100000}})
	for i := 0; i < refundry.MaxPageLimit+1; i++ {
		one := int64(1)
		if _, err := env.Store.CreateRefunds(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
			Amount: &one, Source: refundry.SourceNative}); err != nil {
			t.Fatal(err)
		}
	}
	failing := &failingPages{RefundStore: env.Engine.Stores.Refunds}
	failing.ok.Store(1)
	env.Engine.Stores.Refunds = failing
	req, _ := http.NewRequest("GET", srv.URL+"/v1/refunds/export", nil)
	req.Header.Set("Authorization", "Bearer "+env.KeyA)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		t.Fatalf("a cut export read as whole (%d, %d bytes)", res.StatusCode, len(body))
	}
	if n := strings.Count(string(body), "\n"); n != refundry.MaxPageLimit+1 {
		t.Errorf("%d lines arrived before the cut, want the header and the first page", n)
	}

	failing.ok.Store(-1 << 40) // every read fails from now on
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(raw), `"error"`) {
		t.Fatalf("a failure before any row: %d %s", res.StatusCode, raw)
	}
}
