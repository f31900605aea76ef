package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// A database made before 0009 keeps its rows: its payments gain an empty
// dispute state, the schema keeps no cap on refunded_amount (adoption may
// go above it, the conditional updates keep it for everything else), and
// the file is sound.
func TestMigrate0009KeepsData(t *testing.T) {
	ctx := context.Background()
	path, db := migratedBefore(t, ctx, "0009")
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', 0)`,
		`INSERT INTO customers VALUES ('c1', 'm1', '', '', '')`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'r1', 'USD', 1000, 400, 'c1', '', '', 0)`,
		`INSERT INTO line_items (id, sale_id, position, name, quantity, unit_amount, amount) VALUES ('l1', 's1', 0, 'Thing', 1, 1000, 1000)`,
		`INSERT INTO transactions (id, merchant_id, sale_id, position, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created)
			VALUES ('t1', 'm1', 's1', 0, 'pi_old', 'stripe', 'ch_old', 'USD', 1000, 400, 0, 0, '', 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := mustOpenInternal(t, path)
	sale, err := s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if tx := sale.Transactions[0]; sale.RefundedAmount != 400 || tx.RefundedAmount != 400 || tx.DisputeStatus != "" || tx.DisputedAmount != 0 {
		t.Fatalf("after 0009: sale %+v, transaction %+v", sale, tx)
	}
	var check string
	if err := s.write.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	var text string
	if err := s.write.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE name = 'sales'`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "refunded_amount <= amount") {
		t.Fatalf("the sales table still caps refunded_amount: %s", text)
	}
	moves := []refundry.Move{{Kind: refundry.OnTransaction, ID: "t1", SaleID: "s1", Delta: 700}, {Kind: refundry.OnSale, ID: "s1", SaleID: "s1", Delta: 700}}
	err = s.update(ctx, func(tx *tx) error { return persistMoves(ctx, tx, moves) })
	if refundry.ErrorCode(err) != refundry.ETOOLARGE {
		t.Fatalf("a bounded move above the amount: %v, want %s", err, refundry.ETOOLARGE)
	}
	for i := range moves {
		moves[i].Unbounded = true
	}
	if err := s.update(ctx, func(tx *tx) error { return persistMoves(ctx, tx, moves) }); err != nil {
		t.Fatalf("an adoption's move above the amount: %v", err)
	}
	if n, err := s.CountOverRefundedSales(ctx); err != nil || n != 1 {
		t.Fatalf("CountOverRefundedSales = %d, %v; want 1", n, err)
	}
	// A negative sum stays impossible, even unbounded.
	neg := []refundry.Move{{Kind: refundry.OnSale, ID: "s1", SaleID: "s1", Delta: -5000, Unbounded: true}}
	if err := s.update(ctx, func(tx *tx) error { return persistMoves(ctx, tx, neg) }); err == nil {
		t.Fatal("a release below zero was written")
	}
}
