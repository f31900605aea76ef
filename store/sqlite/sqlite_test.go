package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// TestStore runs the conformance suite with group commit on (the default)
// and off: batching must not change any answer.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) refundry.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"))
	})
}

func TestStoreGroupCommitOff(t *testing.T) {
	storetest.Run(t, func(t *testing.T) refundry.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"), sqlite.WithGroupCommit(false))
	})
}

func TestRecovery(t *testing.T) {
	storetest.RunRecovery(t, func(t *testing.T) refundry.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"))
	})
}

func TestInbox(t *testing.T) {
	storetest.RunInbox(t, func(t *testing.T) refundry.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"))
	})
}

// mustOpen opens the database at path and closes it when the test ends.
func mustOpen(tb testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("ReopenKeepsData", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "refundry.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		m := storetest.MustCreateMerchant(t, s)
		sale := storetest.MustCreateSale(t, s, m.ID)
		r := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(700))).Refunds[0]
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopening runs the migrations again: each must be skipped.
		s = mustOpen(t, path)
		got, err := s.FindRefund(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Amount != 700 || got.Status != refundry.RefundPending {
			t.Fatalf("refund after reopen = %+v", got)
		}
		if sale := storetest.MustFindSale(t, s, m.ID, sale.ID); sale.RefundedAmount != 700 {
			t.Fatalf("sale refunded after reopen = %d, want 700", sale.RefundedAmount)
		}
		storetest.CheckInvariants(t, s, m.ID)
	})

	t.Run("ErrEmptyPath", func(t *testing.T) {
		if _, err := sqlite.Open(ctx, ""); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("Open(\"\") = %v, want EINVALID", err)
		}
	})
}

func TestNow(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"))
	at := time.Date(2030, 6, 1, 8, 0, 0, 123456789, time.FixedZone("X", -7*3600))
	s.Now = func() time.Time { return at }
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)
	want := at.UTC().Truncate(time.Microsecond)
	if !sale.Created.Equal(want) || sale.Created.Location() != time.UTC {
		t.Fatalf("sale.Created = %v, want %v", sale.Created, want)
	}
	r := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, nil)).Refunds[0]
	if !r.Created.Equal(want) || !r.RefundedAt.Equal(want) {
		t.Fatalf("refund times = %v, %v, want %v", r.Created, r.RefundedAt, want)
	}
}

func TestOutbox(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) refundry.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"))
	})
}

// TestDispatchConcurrently: two stores on one file stand for two
// processes, each dispatching while both write.
func TestDispatchConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	storetest.DispatchConcurrently(t, a, b)
}
