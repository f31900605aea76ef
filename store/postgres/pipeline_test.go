package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestPipelined forces one batch of refunds and a settlement that share a
// pipeline: refunds of distinct sales, an over-refund refused after only
// reading, and two refunds of one sale, the second of which must see the
// first (it runs after the pipeline). Each gets its own answer, the sale
// refunded in two parts gets exactly one sale.refunded, and the batch was
// not run again write after write.
func TestPipelined(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			s := mustOpenWith(t, iso, WithGroupCommitLanes(1))
			m := storetest.MustCreateMerchant(t, s)
			ctx := context.Background()
			var distinct []*refundry.Sale
			for range 4 {
				distinct = append(distinct, storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000)))
			}
			over := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			twice := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			settled := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			toFail := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, settled.ID, storetest.Amount(300))).Refunds[0]

			var reqs []refundry.RefundRequest
			for _, sale := range distinct {
				reqs = append(reqs, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
			}
			reqs = append(reqs,
				storetest.SaleRefund(m.ID, over.ID, storetest.Amount(1001)),
				storetest.SaleRefund(m.ID, twice.ID, storetest.Amount(400)),
				storetest.LineItemRefund(m.ID, twice.LineItems[0].ID, storetest.Amount(600)),
			)
			errs := make([]error, len(reqs)+1)
			results := make([]*refundry.RefundResult, len(reqs))
			s.batch.Gather(len(errs))
			var wg sync.WaitGroup
			for i, req := range reqs {
				wg.Go(func() { results[i], errs[i] = s.CreateRefunds(ctx, req) })
			}
			wg.Go(func() {
				_, errs[len(reqs)] = s.SettleRefund(ctx, m.ID, toFail.ID, refundry.Settlement{Status: refundry.RefundFailed})
			})
			wg.Wait()

			for i, err := range errs {
				wantErr := i == len(distinct) // the over-refund
				if (err != nil) != wantErr {
					t.Errorf("write %d: %v, want error %v", i, err, wantErr)
				}
			}
			var twiceTotal int64
			for _, r := range results[len(distinct)+1:] {
				if r != nil {
					twiceTotal += r.Refunds[0].Amount
				}
			}
			if twiceTotal != 1000 {
				t.Errorf("the two refunds of one sale took %d, want 400 + 600", twiceTotal)
			}
			for _, c := range []struct {
				sale *refundry.Sale
				want int64
			}{{distinct[0], 100}, {over, 0}, {twice, 1000}, {settled, 0}} {
				if got := storetest.MustFindSale(t, s, m.ID, c.sale.ID).RefundedAmount; got != c.want {
					t.Errorf("sale %s: refunded %d, want %d", c.sale.ID, got, c.want)
				}
			}
			evs, _, err := s.ListEvents(ctx, m.ID, refundry.EventFilter{ObjectID: twice.ID, Types: []string{refundry.EventSaleRefunded}})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Errorf("%d sale.refunded events for the sale refunded in two parts, want 1", len(evs))
			}
			if n := s.Stats().Unpipelined; n != 0 {
				t.Errorf("%d batches ran without the pipeline, want 0", n)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestPipelinedFallback: a statement that fails in the shared pipeline
// stops it; the batch runs again write after write, and only the write
// whose statement failed fails.
func TestPipelinedFallback(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
	m := storetest.MustCreateMerchant(t, s)
	ctx := context.Background()
	a := storetest.MustCreateSale(t, s, m.ID)
	b := storetest.MustCreateSale(t, s, m.ID)

	s.batch.Gather(3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, sale := range []*refundry.Sale{a, b} {
		wg.Go(func() { _, errs[i] = s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100))) })
	}
	wg.Go(func() {
		errs[2] = s.grouped(ctx, func(tx pgx.Tx) error {
			bt := &pgx.Batch{}
			bt.Queue(`INSERT INTO no_such_table VALUES (1)`)
			return tx.SendBatch(ctx, bt).Close()
		})
	})
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("neighbours of a failed statement: %v, %v; want both to succeed", errs[0], errs[1])
	}
	if refundry.ErrorCode(errs[2]) != refundry.EINTERNAL {
		t.Fatalf("failed statement: %v, want EINTERNAL", errs[2])
	}
	if n := s.Stats().Unpipelined; n < 1 {
		t.Errorf("the batch was not run again without the pipeline")
	}
	for _, sale := range []*refundry.Sale{a, b} {
		if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 100 {
			t.Errorf("sale %s: refunded %d, want 100", sale.ID, got)
		}
	}
	storetest.CheckInvariants(t, s, m.ID)
}
