package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestGroupCommit forces a batch that holds refunds that must pass and
// refunds and settlements that must fail, and checks each gets its own
// answer and the store ends exact (invariants 2 and 4).
func TestGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"),
		WithBatchObserver(func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.GroupCommit(t, s, s.batch.Gather)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(sizes, 11) {
		t.Fatalf("batch sizes %v: the 11 writes never shared one batch", sizes)
	}
}

// TestGroupCommitFallback: a write that fails with an error that is not
// its own (here a statement SQLite rejects, standing for an I/O error)
// aborts its batch, and the other writes are run again alone and succeed.
func TestGroupCommitFallback(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)

	s.batch.Gather(3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = s.CreateRefunds(context.Background(), storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
		})
	}
	wg.Go(func() {
		errs[2] = s.grouped(context.Background(), func(t *tx) error {
			_, err := t.Exec(`INSERT INTO no_such_table VALUES (1)`)
			return err
		})
	})
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("neighbours of a broken write: %v, %v; want both to succeed", errs[0], errs[1])
	}
	if refundry.ErrorCode(errs[2]) != refundry.EINTERNAL {
		t.Fatalf("broken write: %v, want EINTERNAL", errs[2])
	}
	if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 200 {
		t.Fatalf("refunded %d, want 200", got)
	}
	storetest.CheckInvariants(t, s, m.ID)
}

// TestGroupCommitUndo: writes of a batch run without savepoints, so a
// write that fails with its own error after it wrote must not leave its
// rows in the commit its neighbours share. The batch runs again with
// savepoints: the neighbours commit, the failed write's rows do not.
// Neither do the event and audit row it gathered for the batch's end,
// whether it failed before writing or after, while its neighbours' do.
func TestGroupCommitUndo(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)

	for _, tt := range []struct {
		name   string
		writes bool
	}{
		{"FailsBeforeWriting", false},
		{"FailsAfterWriting", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount
			ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: tt.name})
			s.batch.Gather(3)
			var wg sync.WaitGroup
			errs := make([]error, 3)
			refunds := make([]*refundry.RefundResult, 2)
			for i := range 2 {
				wg.Go(func() {
					refunds[i], errs[i] = s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
				})
			}
			wg.Go(func() {
				errs[2] = s.grouped(ctx, func(t *tx) error {
					if err := appendEvent(ctx, t, m.ID, refundry.EventRefundCreated, "refund", "refused-"+tt.name, map[string]string{}); err != nil {
						return err
					}
					if err := audit(ctx, t, m.ID, refundry.AuditRefundCreate, "refused-"+tt.name); err != nil {
						return err
					}
					if tt.writes {
						if _, err := t.ExecContext(context.Background(), `UPDATE sales SET refunded_amount = refunded_amount + 1 WHERE id = ?`, sale.ID); err != nil {
							return err
						}
					}
					return refundry.Errorf(refundry.ECONFLICT, "refused")
				})
			})
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("neighbours of a refused write: %v, %v; want both to succeed", errs[0], errs[1])
			}
			if refundry.ErrorCode(errs[2]) != refundry.ECONFLICT {
				t.Fatalf("refused write: %v, want its own ECONFLICT", errs[2])
			}
			if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != before+200 {
				t.Fatalf("refunded %d, want %d: the refused write's update was kept", got, before+200)
			}
			for _, id := range []string{"refused-" + tt.name, refunds[0].Refunds[0].ID, refunds[1].Refunds[0].ID} {
				events, _, err := s.ListEvents(ctx, m.ID, refundry.EventFilter{ObjectID: id})
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 0, false: 1}[id == "refused-"+tt.name]; len(events) != want {
					t.Errorf("%d events of %s, want %d", len(events), id, want)
				}
			}
			entries, _, err := s.ListAuditLog(ctx, m.ID, refundry.AuditFilter{KeyID: tt.name})
			if err != nil {
				t.Fatal(err)
			}
			var objects []string
			for _, e := range entries {
				objects = append(objects, e.ObjectID)
			}
			slices.Sort(objects)
			want := []string{refunds[0].Refunds[0].ID, refunds[1].Refunds[0].ID}
			slices.Sort(want)
			if !slices.Equal(objects, want) {
				t.Errorf("audit rows of %v, want the neighbours' refunds %v alone", objects, want)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestGroupCommitGathered: a batch's new refunds, their lines and their
// idempotency keys are written at its end (gathered), and every answer
// and row is as if each had been written at once: a key used twice in
// one batch makes one refund (invariant 4), a count of a sale's refunds
// under max_refunds_per_sale sees those made earlier in the batch
// (invariant 2), and a write that fails after a statement of its own had
// the gathered rows written leaves its neighbours' rows and none of its
// own.
func TestGroupCommitGathered(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "k1"})
	m := storetest.MustCreateMerchant(t, s)
	two := int64(2)

	for _, tt := range []struct {
		name string
		// reqs are the batch's refunds, all of one sale (SaleID set
		// below); failing adds a write that gathers a key, reads refunds
		// and fails with its own error.
		reqs    []refundry.RefundRequest
		failing bool
		// made is how many refunds the batch makes; refused how many
		// requests fail, with code.
		made, refused int
		code          string
	}{
		{name: "KeyTwice", reqs: []refundry.RefundRequest{
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "twice", Hash: "h"}},
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "twice", Hash: "h"}},
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "other", Hash: "h"}},
		}, made: 2},
		{name: "KeyTwiceOtherRequest", reqs: []refundry.RefundRequest{
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "again", Hash: "h"}},
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "again", Hash: "h2"}},
		}, made: 1, refused: 1, code: refundry.EIDEMPOTENCY},
		{name: "PolicyCountsGathered", reqs: []refundry.RefundRequest{
			{Amount: storetest.Amount(100), Policy: &refundry.RefundPolicy{MaxRefundsPerSale: &two}},
			{Amount: storetest.Amount(100), Policy: &refundry.RefundPolicy{MaxRefundsPerSale: &two}},
			{Amount: storetest.Amount(100), Policy: &refundry.RefundPolicy{MaxRefundsPerSale: &two}},
		}, made: 2, refused: 1, code: refundry.ETOOMANY},
		{name: "FailsAfterFlush", reqs: []refundry.RefundRequest{
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "kept-1", Hash: "h"}},
			{Amount: storetest.Amount(100), Idempotency: &refundry.Idempotency{Key: "kept-2", Hash: "h"}},
		}, failing: true, made: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := storetest.MustCreateSale(t, s, m.ID)
			n := len(tt.reqs)
			if tt.failing {
				n++
			}
			s.batch.Gather(n)
			var wg sync.WaitGroup
			results := make([]*refundry.RefundResult, len(tt.reqs))
			errs := make([]error, len(tt.reqs))
			for i, req := range tt.reqs {
				req.MerchantID, req.Target = m.ID, refundry.RefundTarget{SaleID: sale.ID}
				if req.Policy != nil {
					req.Policy.MerchantID = m.ID
				}
				wg.Go(func() { results[i], errs[i] = s.CreateRefunds(ctx, req) })
			}
			var failed error
			if tt.failing {
				wg.Go(func() {
					failed = s.grouped(ctx, func(t *tx) error {
						if err := recordKey(ctx, t, m.ID, &refundry.Idempotency{Key: "refused", Hash: "h"}, resourceRefunds, []string{"x"}, nil); err != nil {
							return err
						}
						var n int
						if err := t.QueryRowContext(ctx, `SELECT COUNT(*) FROM refunds WHERE sale_id = ?`, sale.ID).Scan(&n); err != nil {
							return err
						}
						return refundry.Errorf(refundry.ECONFLICT, "refused after reading %d refunds", n)
					})
				})
			}
			wg.Wait()
			if tt.failing && refundry.ErrorCode(failed) != refundry.ECONFLICT {
				t.Fatalf("failing write: %v, want its own ECONFLICT", failed)
			}
			ids := map[string]bool{}
			refused := 0
			for i, err := range errs {
				if err != nil {
					if refundry.ErrorCode(err) != tt.code {
						t.Fatalf("request %d: %v, want %s", i, err, tt.code)
					}
					refused++
					continue
				}
				for _, r := range results[i].Refunds {
					ids[r.ID] = true
					// Written: found with its lines, as it was answered.
					got, err := s.FindRefund(ctx, m.ID, r.ID)
					if err != nil {
						t.Fatalf("request %d's refund %s: %v", i, r.ID, err)
					}
					if got.Amount != r.Amount || len(got.Lines) != len(r.Lines) || len(got.Lines) == 0 {
						t.Fatalf("refund %s stored with amount %d and %d lines, answered with %d and %d",
							r.ID, got.Amount, len(got.Lines), r.Amount, len(r.Lines))
					}
				}
				// Its key, if any, replays what it answered.
				if req := tt.reqs[i]; req.Idempotency != nil {
					req.MerchantID, req.Target = m.ID, refundry.RefundTarget{SaleID: sale.ID}
					again, err := s.CreateRefunds(ctx, req)
					if err != nil || !again.Replayed || again.Refunds[0].ID != results[i].Refunds[0].ID {
						t.Fatalf("request %d replayed: %+v, %v; want its refund %s again", i, again, err, results[i].Refunds[0].ID)
					}
				}
			}
			if len(ids) != tt.made || refused != tt.refused {
				t.Fatalf("%d refunds made and %d requests refused, want %d and %d", len(ids), refused, tt.made, tt.refused)
			}
			stored, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != tt.made {
				t.Fatalf("%d refunds stored, want %d", len(stored), tt.made)
			}
			if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != int64(100*tt.made) {
				t.Fatalf("sale refunded %d, want %d", got, 100*tt.made)
			}
			if tt.failing {
				var n int
				if err := s.read.QueryRow(`SELECT COUNT(*) FROM idempotency_keys WHERE merchant_id = ? AND key = 'refused'`, m.ID).Scan(&n); err != nil || n != 0 {
					t.Fatalf("the failed write's key: %d rows (%v), want none", n, err)
				}
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestGroupCommitGatheredMoves: the amounts a batch's refunds move are
// written in one UPDATE per table at its end (gatherMoves, writeMoves),
// and each refund is still decided on every amount moved before it in
// the batch: refunds of one sale, line or payment that together exceed
// it make exactly as many refunds as fit, the rest refused as too large
// (invariant 2), while a neighbour on another sale commits. With the
// writer's cache made wrong (stale), the UPDATE's own bounds refuse what
// the cache allowed, and the batch still commits its neighbour.
func TestGroupCommitGatheredMoves(t *testing.T) {
	for _, tt := range []struct {
		name string
		// refund builds the batch's requests on one sale (1,000 of one
		// line, one payment).
		refund func(m string, sale *refundry.Sale) []refundry.RefundRequest
		// before is refunded of the sale before the batch; stale makes
		// the writer's cache say it is not; again says the rows refuse
		// what the cache allows, and the batch runs its writes again.
		before       int64
		stale, again bool
		// made is how many of the requests succeed, refunded the sale's
		// refunded amount after the batch.
		made     int
		refunded int64
	}{
		{name: "SaleTwiceOver", refund: repeat(2, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, storetest.Amount(600))
		}), made: 1, refunded: 600},
		{name: "SaleTwiceFits", refund: repeat(2, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, storetest.Amount(500))
		}), made: 2, refunded: 1000},
		{name: "SaleElevenTenths", refund: repeat(11, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, storetest.Amount(100))
		}), made: 10, refunded: 1000},
		{name: "SaleInFullTwice", refund: repeat(2, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, nil)
		}), before: 300, made: 1, refunded: 1000},
		{name: "LineTwiceOver", refund: repeat(2, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.LineItemRefund(m, s.LineItems[0].ID, storetest.Amount(600))
		}), made: 1, refunded: 600},
		{name: "PaymentTwiceOver", refund: repeat(2, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.TransactionRefund(m, s.Transactions[0].ID, storetest.Amount(600))
		}), made: 1, refunded: 600},
		{name: "StaleCacheOver", refund: repeat(1, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, storetest.Amount(500))
		}), before: 800, stale: true, again: true, made: 0, refunded: 800},
		{name: "StaleCacheFits", refund: repeat(1, func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, storetest.Amount(200))
		}), before: 800, stale: true, made: 1, refunded: 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
			// A stale cache is what the check against the rows would
			// catch first; here the rows must catch it themselves.
			s.sales.verify = !tt.stale
			ctx := context.Background()
			m := storetest.MustCreateMerchant(t, s)
			sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			other := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			if tt.before > 0 {
				storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(tt.before)))
			}
			if tt.stale {
				forgetRefunded(t, s, sale.ID)
			}
			reqs := append(tt.refund(m.ID, sale), storetest.SaleRefund(m.ID, other.ID, storetest.Amount(100)))
			errs := make([]error, len(reqs))
			misses := s.sales.misses.Load()
			s.batch.Gather(len(reqs))
			var wg sync.WaitGroup
			for i, req := range reqs {
				wg.Go(func() { _, errs[i] = s.CreateRefunds(ctx, req) })
			}
			wg.Wait()
			// Decided on the cache and written at the end, the batch
			// commits at once; only rows that refuse what the cache
			// allowed make it run each write again alone, on sales read
			// afresh.
			if again := s.sales.misses.Load() != misses; again != tt.again {
				t.Fatalf("the batch ran its writes again alone: %v, want %v", again, tt.again)
			}
			if err := errs[len(reqs)-1]; err != nil {
				t.Fatalf("the neighbour on another sale: %v", err)
			}
			made := 0
			for i, err := range errs[:len(reqs)-1] {
				switch {
				case err == nil:
					made++
				case !refused(err):
					t.Fatalf("request %d: %v, want success or a refusal of the amount", i, err)
				}
			}
			if made != tt.made {
				t.Fatalf("%d refunds made, want %d", made, tt.made)
			}
			stored := storetest.MustFindSale(t, s, m.ID, sale.ID)
			if stored.RefundedAmount != tt.refunded || stored.LineItems[0].RefundedAmount != tt.refunded ||
				stored.Transactions[0].RefundedAmount != tt.refunded {
				t.Fatalf("refunded: sale %d, line %d, payment %d; want %d each", stored.RefundedAmount,
					stored.LineItems[0].RefundedAmount, stored.Transactions[0].RefundedAmount, tt.refunded)
			}
			if got := storetest.MustFindSale(t, s, m.ID, other.ID).RefundedAmount; got != 100 {
				t.Fatalf("the neighbour's sale refunded %d, want 100", got)
			}
			// The writer decides the next refund on what the batch left:
			// what remains, and nothing more.
			if rest := 1000 - tt.refunded; rest > 0 {
				storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, nil))
			}
			if _, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1))); !refused(err) {
				t.Fatalf("a refund of a sale refunded in full: %v, want a refusal of the amount", err)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// refused reports whether err refuses a refund's amount: more than
// remains, or nothing remains.
func refused(err error) bool {
	code := refundry.ErrorCode(err)
	return code == refundry.ETOOLARGE || code == refundry.EREFUNDED
}

// repeat is n requests made by req.
func repeat(n int, req func(m string, s *refundry.Sale) refundry.RefundRequest) func(string, *refundry.Sale) []refundry.RefundRequest {
	return func(m string, s *refundry.Sale) []refundry.RefundRequest {
		out := make([]refundry.RefundRequest, n)
		for i := range out {
			out[i] = req(m, s)
		}
		return out
	}
}

// forgetRefunded makes the writer's cache wrong: the sale it holds shows
// nothing refunded, whatever the rows say.
func forgetRefunded(t *testing.T, s *Store, saleID string) {
	t.Helper()
	s.sales.mu.Lock()
	defer s.sales.mu.Unlock()
	e := s.sales.sales[saleID]
	if e == nil {
		t.Fatalf("the writer does not hold sale %s", saleID)
	}
	sale := e.Value.(*refundry.Sale)
	sale.RefundedAmount, sale.Status = 0, refundry.PaymentState(sale.Amount, 0)
	for _, li := range sale.LineItems {
		li.RefundedAmount, li.RefundedQuantity = 0, 0
	}
	for _, p := range sale.Transactions {
		p.RefundedAmount, p.Status = 0, refundry.PaymentState(p.Amount, 0)
	}
}

// TestGroupCommitGatheredSaleRead: a sale the writer's cache does not
// hold is read from its rows without writing the batch's gathered rows
// first, and the amounts moved on it earlier in the batch, gathered and
// not yet written, are counted (findGatheredSale): a second refund of
// the sale in the batch, after the cache was emptied, sees the first
// (invariant 2), whichever way it names the sale.
func TestGroupCommitGatheredSaleRead(t *testing.T) {
	for _, tt := range []struct {
		name   string
		second func(m string, s *refundry.Sale) refundry.RefundRequest
	}{
		{"BySale", func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.SaleRefund(m, s.ID, storetest.Amount(600))
		}},
		{"ByLine", func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.LineItemRefund(m, s.LineItems[0].ID, storetest.Amount(600))
		}},
		{"ByPayment", func(m string, s *refundry.Sale) refundry.RefundRequest {
			return storetest.TransactionRefund(m, s.Transactions[0].ID, storetest.Amount(600))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
			ctx := context.Background()
			m := storetest.MustCreateMerchant(t, s)
			sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			var second error
			err := s.groupedKeeping(ctx, func(tx *tx) error {
				if _, err := createRefunds(ctx, tx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(600))); err != nil {
					return err
				}
				if len(tx.gather.moves) == 0 || tx.gather.flushes != 0 {
					return fmt.Errorf("the first refund's moves: %d gathered, %d flushes; want them gathered", len(tx.gather.moves), tx.gather.flushes)
				}
				tx.forgetSales()
				_, second = createRefunds(ctx, tx, tt.second(m.ID, sale))
				if tx.gather.flushes != 0 {
					return fmt.Errorf("reading the sale wrote the gathered rows")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !refused(second) {
				t.Fatalf("the second refund: %v, want a refusal of the amount", second)
			}
			if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 600 {
				t.Fatalf("sale refunded %d, want 600", got)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}
