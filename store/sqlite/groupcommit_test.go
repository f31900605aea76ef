package sqlite

import (
	"context"
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
