package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestStatementsPerRefund counts what the single writer runs for a
// refund of a sale of two lines and its settlement, each alone in its
// transaction, BEGIN and COMMIT included: the sale held by the writer,
// which checks data_version once per transaction instead of reading it,
// one statement per row written, the refund not read again to settle it.
func TestStatementsPerRefund(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "refundry.db"))
	ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "k1"})
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)
	if len(sale.LineItems) != 2 || len(sale.Transactions) != 1 {
		t.Fatalf("the fixture's sale has %d lines, %d payments; the counts below are for 2 and 1", len(sale.LineItems), len(sale.Transactions))
	}
	for i := range 3 {
		before := s.Statements()
		res, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
		if err != nil {
			t.Fatal(err)
		}
		created := s.Statements()
		if _, err := s.SettleRefund(ctx, m.ID, res.Refunds[0].ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
			t.Fatal(err)
		}
		settled := s.Statements()
		// BEGIN, data_version, the 4 amount moves (payment, 2 lines,
		// sale) in one UPDATE per table, the refund, its lines, its
		// event, its audit row, COMMIT.
		if n := created - before; n != 10 {
			t.Errorf("refund %d: %d statements, want 10", i, n)
		}
		// BEGIN, the refund's UPDATE, its event, its audit row, COMMIT.
		if n := settled - created; n != 5 {
			t.Errorf("settlement %d: %d statements, want 5", i, n)
		}
	}
	// Reads outside a transaction: the sale in one statement, a refund
	// and its lines in two, no BEGIN or ROLLBACK.
	res := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1)))
	for _, read := range []struct {
		name string
		n    int64
		fn   func() error
	}{
		{"FindSale", 1, func() error { _, err := s.FindSale(ctx, m.ID, refundry.SaleLookup{ID: sale.ID}); return err }},
		{"FindRefund", 2, func() error { _, err := s.FindRefund(ctx, m.ID, res.Refunds[0].ID); return err }},
		{"FindMerchant", 1, func() error { _, err := s.FindMerchant(ctx, m.ID); return err }},
	} {
		before := s.Statements()
		if err := read.fn(); err != nil {
			t.Fatal(err)
		}
		if n := s.Statements() - before; n != read.n {
			t.Errorf("%s: %d statements, want %d", read.name, n, read.n)
		}
	}
}
