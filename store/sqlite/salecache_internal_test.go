package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

func init() {
	// Every store this package's tests open, the conformance suite's
	// included, checks each sale its writer's cache answers against a
	// read of the rows.
	verifySaleCache = true
}

// openUnverified opens a store whose sale cache answers as it would in
// production, without the check against the rows: the tests below look
// for a stale sale in what the store answers.
func openUnverified(t *testing.T, path string) *Store {
	t.Helper()
	s := mustOpenInternal(t, path)
	s.sales.verify = false
	return s
}

// refundSale refunds amount of the sale (nil: what remains) and checks
// that the sale answered is the sale stored.
func refundSale(t *testing.T, s *Store, reader refundry.Store, merchantID, saleID string, amount *int64) *refundry.RefundResult {
	t.Helper()
	res, err := s.CreateRefunds(context.Background(), storetest.SaleRefund(merchantID, saleID, amount))
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	checkAnswered(t, reader, merchantID, res.Sale)
	return res
}

// checkAnswered fails if a sale a write answered is not the sale stored.
func checkAnswered(t *testing.T, reader refundry.Store, merchantID string, answered *refundry.Sale) {
	t.Helper()
	stored := storetest.MustFindSale(t, reader, merchantID, answered.ID)
	if !reflect.DeepEqual(answered, stored) {
		t.Fatalf("answered sale:\n%s\nstored:\n%s", saleString(answered), saleString(stored))
	}
}

// TestSaleCacheOtherProcess: two stores on one file, as two processes
// would have, refund one sale in turn, and each fails refunds the other
// made, releasing their money. Each must decide on what the other
// committed (invariant 2): a store that trusted the sale it held would
// answer with the wrong amounts, refuse to refund what was released, or
// try to refund what is gone.
func TestSaleCacheOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	a, b := openUnverified(t, path), openUnverified(t, path)
	m := storetest.MustCreateMerchant(t, a)
	sale := storetest.MustCreateSale(t, a, m.ID, storetest.Lines(10_000)) // held by a
	var last *refundry.RefundResult
	for i, step := range []struct {
		s      *Store
		fail   bool   // fail the last refund instead of refunding
		amount *int64 // nil: what remains
		want   int64  // the sale's refunded amount after the step
	}{
		{s: a, amount: storetest.Amount(300), want: 300},
		{s: a, amount: storetest.Amount(300), want: 600},
		{s: b, amount: storetest.Amount(300), want: 900},
		{s: b, amount: storetest.Amount(300), want: 1200},
		{s: a, amount: storetest.Amount(300), want: 1500},
		{s: b, fail: true, want: 1200},
		{s: a, amount: storetest.Amount(300), want: 1500},
		{s: a, want: 10_000},
		{s: b, fail: true, want: 1500},
		{s: a, want: 10_000},
		{s: b, fail: true, want: 1500},
		{s: b, want: 10_000},
	} {
		if step.fail {
			if _, err := step.s.SettleRefund(context.Background(), m.ID, last.Refunds[0].ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := storetest.MustFindSale(t, a, m.ID, sale.ID).RefundedAmount; got != step.want {
				t.Fatalf("step %d: stored refunded %d, want %d", i, got, step.want)
			}
			continue
		}
		last = refundSale(t, step.s, a, m.ID, sale.ID, step.amount)
		if last.Sale.RefundedAmount != step.want {
			t.Fatalf("step %d: answered refunded %d, want %d", i, last.Sale.RefundedAmount, step.want)
		}
	}
	for _, s := range []*Store{a, b} {
		if _, err := s.CreateRefunds(context.Background(), storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1))); refundry.ErrorCode(err) != refundry.EREFUNDED {
			t.Fatalf("refund of a sale refunded in full: %v, want EREFUNDED", err)
		}
	}
	if a.sales.hits.Load() == 0 || b.sales.hits.Load() == 0 {
		t.Fatalf("cache hits %d and %d: the test never used a sale held", a.sales.hits.Load(), b.sales.hits.Load())
	}
	storetest.CheckInvariants(t, a, m.ID)
}

// TestSaleCacheOtherWrites: every other kind of write that changes a sale
// held, its payments or its customer, is seen by the next refund.
func TestSaleCacheOtherWrites(t *testing.T) {
	ctx := context.Background()
	s := openUnverified(t, filepath.Join(t.TempDir(), "refundry.db"))
	m := storetest.MustCreateMerchant(t, s)
	for _, tt := range []struct {
		name string
		// change changes the sale by the write under test and returns
		// the refund error then expected ("" none).
		change func(t *testing.T, sale *refundry.Sale) string
	}{
		{"Settlement", func(t *testing.T, sale *refundry.Sale) string {
			r := refundSale(t, s, s, m.ID, sale.ID, storetest.Amount(700))
			if _, err := s.SettleRefund(ctx, m.ID, r.Refunds[0].ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{"GatewayReport", func(t *testing.T, sale *refundry.Sale) string {
			res, err := s.ApplyRefundReport(ctx, refundry.RefundReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{sale.Transactions[0].GatewayChargeID},
				GatewayRefundID: "re_" + refundry.NewID(), Amount: 400, Currency: "USD", Status: refundry.RefundSucceeded})
			if err != nil || res.Outcome != refundry.OutcomeAdopted {
				t.Fatalf("report: %v, %+v", err, res)
			}
			return ""
		}},
		{"Dispute", func(t *testing.T, sale *refundry.Sale) string {
			res, err := s.ApplyDisputeReport(ctx, refundry.DisputeReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{sale.Transactions[0].GatewayChargeID},
				GatewayDisputeID: "dp_" + refundry.NewID(), Amount: 500, Currency: "USD", Status: refundry.DisputeNeedsResponse})
			if err != nil || res.Outcome != refundry.OutcomeDispute {
				t.Fatalf("dispute: %v, %+v", err, res)
			}
			return refundry.ECHARGEDISPUTED
		}},
		{"CustomerRenamed", func(t *testing.T, sale *refundry.Sale) string {
			storetest.MustCreateSale(t, s, m.ID, storetest.Email(sale.Customer.Email), storetest.Names("Grace", "Hopper"))
			return ""
		}},
		{"Update", func(t *testing.T, sale *refundry.Sale) string {
			if err := s.update(ctx, func(tx *tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE sales SET campaign_name = 'Autumn' WHERE id = ?`, sale.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{"Grouped", func(t *testing.T, sale *refundry.Sale) string {
			if err := s.grouped(ctx, func(tx *tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE transactions SET dispute_status = ? WHERE id = ?`, refundry.DisputeNeedsResponse, sale.Transactions[0].ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return refundry.ECHARGEDISPUTED
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale, _ := storetestStripeSale(t, s, m.ID)
			refundSale(t, s, s, m.ID, sale.ID, storetest.Amount(100))
			hits := s.sales.hits.Load()
			want := tt.change(t, sale)
			res, err := s.CreateRefunds(ctx, storetest.TransactionRefund(m.ID, sale.Transactions[0].ID, storetest.Amount(100)))
			if refundry.ErrorCode(err) != want && !(want == "" && err == nil) {
				t.Fatalf("refund after the change: %v, want %q", err, want)
			}
			if err == nil {
				checkAnswered(t, s, m.ID, res.Sale)
			}
			if tt.name == "Settlement" && s.sales.hits.Load() == hits {
				t.Fatal("the refunds never found the sale held")
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// storetestStripeSale stores a sale of one Stripe charge, whose reports
// find it.
func storetestStripeSale(t *testing.T, s *Store, merchantID string) (*refundry.Sale, string) {
	charge := "ch_" + refundry.NewID()
	return storetest.MustCreateSale(t, s, merchantID, storetest.Gateway(refundry.GatewayStripe), func(s *refundry.Sale) {
		s.Transactions[0].GatewayChargeID = charge
	}), charge
}

// TestSaleCacheRolledBack: a write of a batch that moves the sale held,
// then fails with its own error, leaves no amount in the cache that is
// not on disk, whether the whole transaction is rolled back (the batch's
// first run, without savepoints), the write's savepoint is (its second
// run), or the move was only gathered and is dropped (in the first run,
// the batch's only one). See TestGroupCommitUndo for the batch.
func TestSaleCacheRolledBack(t *testing.T) {
	s := openUnverified(t, filepath.Join(t.TempDir(), "refundry.db"))
	m := storetest.MustCreateMerchant(t, s)
	heartbeat := func(ctx context.Context, t *tx, sale *refundry.Sale) error {
		_, err := t.ExecContext(ctx, `UPDATE heartbeat SET beat = beat WHERE id = 1`)
		return err
	}
	// move reads the sale (held from then on, if it was not), and moves
	// its refunded amount: gathered, or written at once if unbounded.
	moving := func(unbounded bool) func(ctx context.Context, t *tx, sale *refundry.Sale) error {
		return func(ctx context.Context, t *tx, sale *refundry.Sale) error {
			if _, err := loadSale(ctx, t, sale.MerchantID, refundry.SaleLookup{ID: sale.ID}); err != nil {
				return err
			}
			return persistMoves(ctx, t, []refundry.Move{{Kind: refundry.OnSale, ID: sale.ID, SaleID: sale.ID, Delta: 50, Unbounded: unbounded}})
		}
	}
	move, write := moving(false), moving(true)
	none := func(ctx context.Context, t *tx, sale *refundry.Sale) error { return nil }
	for _, tt := range []struct {
		name string
		// runs are what the refused write does before it fails, in the
		// batch's first run and in its second; want is how many runs.
		runs [2]func(ctx context.Context, t *tx, sale *refundry.Sale) error
		want int
	}{
		{"Transaction", [2]func(context.Context, *tx, *refundry.Sale) error{write, none}, 2},
		{"Savepoint", [2]func(context.Context, *tx, *refundry.Sale) error{heartbeat, move}, 2},
		{"Gathered", [2]func(context.Context, *tx, *refundry.Sale) error{move, none}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := storetest.MustCreateSale(t, s, m.ID)
			ctx := context.Background()
			s.batch.Gather(3)
			var wg sync.WaitGroup
			errs := make([]error, 3)
			answered := make([]int64, 2)
			for i := range 2 {
				wg.Go(func() {
					res, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
					if errs[i] = err; err == nil {
						answered[i] = res.Sale.RefundedAmount
					}
				})
			}
			run := 0
			wg.Go(func() {
				errs[2] = s.groupedKeeping(ctx, func(t *tx) error {
					run++
					if run > 2 {
						return refundry.Errorf(refundry.EINTERNAL, "run %d: the batch ran thrice", run)
					}
					if err := tt.runs[run-1](ctx, t, sale); err != nil {
						return err
					}
					return refundry.Errorf(refundry.ECONFLICT, "refused")
				})
			})
			wg.Wait()
			if errs[0] != nil || errs[1] != nil || refundry.ErrorCode(errs[2]) != refundry.ECONFLICT || run != tt.want {
				t.Fatalf("errors %v after %d runs; want the refusal alone, after %d", errs, run, tt.want)
			}
			if slices.Sort(answered); answered[0] != 100 || answered[1] != 200 {
				t.Fatalf("the refunds answered their sale refunded %v, want 100 and 200", answered)
			}
			if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 200 {
				t.Fatalf("stored refunded %d, want 200", got)
			}
			res := refundSale(t, s, s, m.ID, sale.ID, nil)
			if res.Sale.RefundedAmount != sale.Amount || res.Refunds[0].Amount != sale.Amount-200 {
				t.Fatalf("full refund of %d: answered refunded %d, want %d of %d", res.Refunds[0].Amount, res.Sale.RefundedAmount,
					sale.Amount-200, sale.Amount)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}
