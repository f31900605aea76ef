package postgres

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// A database set read-only (as a standby is) is answered EUNAVAILABLE
// with a message naming it, by the readiness probe and by every write,
// and the refused writes leave nothing behind.
func TestWriteRefusedReadOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := freshDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable on a writable database: %v", err)
	}
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))

	// Set from the server's own database, which stays writable, and
	// felt by the store's connections once they are made again.
	readOnly := func(on bool) {
		t.Helper()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		sql := "ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " RESET default_transaction_read_only"
		if on {
			sql = "ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " SET default_transaction_read_only = on"
		}
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		s.pool.Reset()
	}
	readOnly(true)
	refused := func(what string, err error) {
		t.Helper()
		if refundry.ErrorCode(err) != refundry.EUNAVAILABLE || !strings.HasPrefix(refundry.ErrorMessage(err), "The database is read-only") {
			t.Errorf("%s: %v, want %s naming the read-only database", what, err, refundry.EUNAVAILABLE)
		}
	}
	refused("CheckWritable", s.CheckWritable(ctx))
	_, err = s.CreateSale(ctx, storetest.NewSale(m.ID, storetest.Lines(500)), nil)
	refused("CreateSale", err)
	_, err = s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(300)))
	refused("CreateRefunds", err)
	if _, err := s.FindSale(ctx, m.ID, refundry.SaleLookup{ID: sale.ID}); err != nil {
		t.Fatalf("reads must go on: %v", err)
	}

	readOnly(false)
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable once writable again: %v", err)
	}
	sales, _, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{})
	if err != nil {
		t.Fatal(err)
	}
	refunds, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.MustFindSale(t, s, m.ID, sale.ID); len(sales) != 1 || len(refunds) != 0 || got.RefundedAmount != 0 {
		t.Fatalf("after the refused writes: %d sales, %d refunds, refunded %d; want 1, 0, 0", len(sales), len(refunds), got.RefundedAmount)
	}
	storetest.CheckInvariants(t, s, m.ID)
}

// The lasting refusals name their reason; the passing ones say try again.
func TestTranslateRefusals(t *testing.T) {
	for _, tt := range []struct{ code, message string }{
		{"25006", "The database is read-only"},
		{"53100", "The disk is full"},
		{"53300", "The database is unavailable; try again."},
	} {
		err := translate(&pgconn.PgError{Code: tt.code})
		if refundry.ErrorCode(err) != refundry.EUNAVAILABLE || !strings.HasPrefix(refundry.ErrorMessage(err), tt.message) {
			t.Errorf("translate(%s) = %v, want %s with %q", tt.code, err, refundry.EUNAVAILABLE, tt.message)
		}
	}
}
