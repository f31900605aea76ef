package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/refundry/refundry"
)

func mustOpenInternal(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refundry.db")
	s := mustOpenInternal(t, path)
	if err := s.migrate(ctx); err != nil {
		t.Fatalf("migrating twice: %v", err)
	}
	s.Close()
	s = mustOpenInternal(t, path)

	files, _ := fs.Glob(migrations, "migrations/*.sql")
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(files) || n == 0 {
		t.Fatalf("%d migrations recorded, want %d", n, len(files))
	}
	var mode string
	if err := s.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var sync int
	if err := s.write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
}

// TestInvariant2_ConditionalUpdates bypasses DecideRefund: even a refund
// decided on stale amounts cannot be reserved past what was paid.
func TestInvariant2_ConditionalUpdates(t *testing.T) {
	ctx := context.Background()
	s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
	m := &refundry.Merchant{Slug: "m-" + refundry.NewID(), Name: "M", Currency: "USD"}
	if err := s.CreateMerchant(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	sale := &refundry.Sale{
		MerchantID: m.ID, Currency: "USD",
		LineItems:    []*refundry.LineItem{{Name: "A", Quantity: 1, UnitAmount: 1000}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}},
	}
	if _, err := s.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		amount int64
		code   string
	}{{600, ""}, {401, refundry.ETOOLARGE}, {400, ""}, {1, refundry.ETOOLARGE}} {
		moves := []refundry.Move{
			{Kind: refundry.OnTransaction, ID: sale.Transactions[0].ID, SaleID: sale.ID, Delta: tt.amount},
			{Kind: refundry.OnLineItem, ID: sale.LineItems[0].ID, SaleID: sale.ID, Delta: tt.amount},
			{Kind: refundry.OnSale, ID: sale.ID, SaleID: sale.ID, Delta: tt.amount},
		}
		err := s.update(ctx, func(tx *tx) error { return persistMoves(ctx, tx, moves) })
		if got := refundry.ErrorCode(err); got != tt.code {
			t.Fatalf("persistMoves(%d) = %v, want code %q", tt.amount, err, tt.code)
		}
	}
	got, err := s.FindSale(ctx, m.ID, refundry.SaleLookup{ID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got.RefundedAmount != 1000 || got.Transactions[0].RefundedAmount != 1000 || got.LineItems[0].RefundedAmount != 1000 {
		t.Fatalf("after reserving: sale %d, transaction %d, line item %d; want 1000 each",
			got.RefundedAmount, got.Transactions[0].RefundedAmount, got.LineItems[0].RefundedAmount)
	}
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
	m := &refundry.Merchant{Slug: "m-" + refundry.NewID(), Name: "M", Currency: "USD"}
	if err := s.CreateMerchant(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, sql, code string
		args            []any
	}{
		{"Unique", `INSERT INTO merchants (id, slug, name, currency, created) VALUES (?, ?, 'x', 'USD', 0)`, refundry.ECONFLICT,
			[]any{refundry.NewID(), m.Slug}},
		{"ForeignKey", `INSERT INTO api_keys (id, merchant_id, hash, created) VALUES (?, ?, x'00', 0)`, refundry.ENOTFOUND,
			[]any{refundry.NewID(), refundry.NewID()}},
		{"Check", `INSERT INTO origins (merchant_id, slug, kind, created) VALUES (?, 'x', 'bogus', 0)`, refundry.EINTERNAL,
			[]any{m.ID}},
		// STRICT tables refuse a float where an integer belongs (invariant 1).
		{"FloatInInteger", `INSERT INTO origins (merchant_id, slug, kind, created) VALUES (?, 'y', 'event', 1.5)`, refundry.EINTERNAL,
			[]any{m.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.update(ctx, func(tx *tx) error {
				_, err := tx.ExecContext(ctx, tt.sql, tt.args...)
				return err
			})
			if got := refundry.ErrorCode(err); got != tt.code {
				t.Fatalf("error = %v, want code %q", err, tt.code)
			}
		})
	}
	t.Run("QueryOnlyReadPool", func(t *testing.T) {
		if _, err := s.read.ExecContext(ctx, `DELETE FROM merchants`); err == nil {
			t.Fatal("the read pool wrote")
		}
	})
}
