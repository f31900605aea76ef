package engine_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// pageWatch is the real refund store, noting how much of the export had
// been written each time a page was read.
type pageWatch struct {
	refundry.RefundStore
	out     *bytes.Buffer
	written []int // bytes written before each read
	failAt  int   // the read that fails (1-based); 0: none
}

func (p *pageWatch) ListRefunds(ctx context.Context, merchantID string, f refundry.RefundFilter) ([]*refundry.Refund, bool, error) {
	p.written = append(p.written, p.out.Len())
	if len(p.written) == p.failAt {
		return nil, false, errors.New("the database went away")
	}
	return p.RefundStore.ListRefunds(ctx, merchantID, f)
}

// An export of more refunds than a page writes each page before it reads
// the next (so it never holds the whole set), flushes after each, and
// writes every refund once, newest first.
func TestExportRefundsCSVStreamsPages(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := env.Sale(testenv.SaleSpec{Units: []int64{100000}})
	const n = 2*refundry.MaxPageLimit + 37
	var ids []string
	for i := 0; i < n; i++ {
		res, err := env.Store.CreateRefunds(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
			Amount: ptr(int64(1)), Source: refundry.SourceNative})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Refunds[0].ID)
	}
	// Merchant B's refunds are never exported with A's.
	if _, err := env.Store.CreateRefunds(ctx, refundry.RefundRequest{MerchantID: env.B.ID,
		Target: refundry.RefundTarget{SaleID: env.Sale(testenv.SaleSpec{Merchant: env.B}).ID}, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	watch := &pageWatch{RefundStore: env.Engine.Stores.Refunds, out: &out}
	env.Engine.Stores.Refunds = watch
	flushes := 0
	if err := env.Engine.ExportRefundsCSV(ctx, env.A.ID, refundry.RefundFilter{Page: refundry.Page{Limit: 3}}, &out, func() { flushes++ }); err != nil {
		t.Fatal(err)
	}
	pages := (n + refundry.MaxPageLimit - 1) / refundry.MaxPageLimit
	if len(watch.written) != pages || flushes != pages {
		t.Fatalf("%d reads and %d flushes for %d refunds, want %d of each (the caller's page limit is not the export's)", len(watch.written), flushes, n, pages)
	}
	for i := 1; i < len(watch.written); i++ {
		if watch.written[i] <= watch.written[i-1] {
			t.Fatalf("page %d was read before page %d was written: %v", i+1, i, watch.written)
		}
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 {
		t.Fatalf("%d records, want header + %d", len(recs), n)
	}
	for i, rec := range recs[1:] {
		if want := ids[n-1-i]; rec[0] != want {
			t.Fatalf("row %d is %s, want %s (newest first, each once)", i+1, rec[0], want)
		}
	}

	// A read that fails after the first page is an error, not a short
	// file passed off as whole.
	out.Reset()
	env.Engine.Stores.Refunds = &pageWatch{RefundStore: watch.RefundStore, out: &out, failAt: 2}
	if err := env.Engine.ExportRefundsCSV(ctx, env.A.ID, refundry.RefundFilter{}, &out, nil); err == nil {
		t.Fatal("a failed page read ended the export without an error")
	}
}

func ptr[T any](v T) *T { return &v }
