package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// A database made before 0009 keeps its rows: its payments gain an empty
// dispute state, the schema keeps no cap on refunded_amount of sales and
// payments (adoption may go above it; the conditional updates keep it for
// everything else), and a negative sum stays impossible.
func TestMigrate0009KeepsData(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 9)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', $1)`,
		`INSERT INTO customers VALUES ('c1', 'm1', '', '', '')`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'r1', 'USD', 1000, 400, 'c1', '', '', $1)`,
		`INSERT INTO line_items (id, sale_id, merchant_id, ord, name, quantity, unit_amount, amount) VALUES ('l1', 's1', 'm1', 0, 'Thing', 1, 1000, 1000)`,
		`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created)
			VALUES ('t1', 's1', 'm1', 0, 'pi_old', 'stripe', 'ch_old', 'USD', 1000, 400, 0, 0, '', $1)`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, at)
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sale, err := s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if tx := sale.Transactions[0]; sale.RefundedAmount != 400 || tx.RefundedAmount != 400 || tx.DisputeStatus != "" || tx.DisputedAmount != 0 {
		t.Fatalf("after 0009: sale %+v, transaction %+v", sale, tx)
	}
	write := func(ms ...refundry.Move) error {
		return s.write(ctx, func(tx pgx.Tx) error { return applyChanges(ctx, tx, &changes{moves: ms}) })
	}
	over := []refundry.Move{{Kind: refundry.OnTransaction, ID: "t1", SaleID: "s1", Delta: 700}, {Kind: refundry.OnSale, ID: "s1", SaleID: "s1", Delta: 700}}
	if err := write(over...); err == nil {
		t.Fatal("a bounded move above the amount was written")
	}
	for i := range over {
		over[i].Unbounded = true
	}
	if err := write(over...); err != nil {
		t.Fatalf("an adoption's move above the amount: %v", err)
	}
	if n, err := s.CountOverRefundedSales(ctx); err != nil || n != 1 {
		t.Fatalf("CountOverRefundedSales = %d, %v; want 1", n, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE sales SET refunded_amount = -1 WHERE id = 's1'`); err == nil {
		t.Fatal("the schema took a negative refunded amount")
	}
}
