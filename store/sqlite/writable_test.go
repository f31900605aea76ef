package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// A database that refuses writes for a lasting reason is answered
// EUNAVAILABLE with a message naming the reason, never as a fault of ours
// (EINTERNAL, a 500), and the refused write leaves nothing behind. The
// conditions are SQLite's own: query_only makes it refuse every write with
// SQLITE_READONLY, as a read-only file does (the test may run as root,
// whom file modes do not stop); max_page_count at the current size makes
// it refuse to grow with SQLITE_FULL, as a full disk does.
func TestWriteRefused(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, pragma, undo, message string
		probeFails                  bool // the heartbeat rewrite needs no new page, so only read-only shows there
	}{
		{"ReadOnly", `PRAGMA query_only = 1`, `PRAGMA query_only = 0`, "The database is read-only", true},
		{"DiskFull", `PRAGMA max_page_count = %d`, `PRAGMA max_page_count = 1073741823`, "The disk is full", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
			if err := s.CheckWritable(ctx); err != nil {
				t.Fatalf("CheckWritable on a writable database: %v", err)
			}
			m := storetest.MustCreateMerchant(t, s)
			sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			pragma := tt.pragma
			if strings.Contains(pragma, "%d") {
				var pages int64
				if err := s.write.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
					t.Fatal(err)
				}
				pragma = fmt.Sprintf(pragma, pages)
			}
			if _, err := s.write.ExecContext(ctx, pragma); err != nil {
				t.Fatal(err)
			}
			refused := func(what string, err error) {
				t.Helper()
				if refundry.ErrorCode(err) != refundry.EUNAVAILABLE || !strings.HasPrefix(refundry.ErrorMessage(err), tt.message) {
					t.Errorf("%s: %v, want %s with %q", what, err, refundry.EUNAVAILABLE, tt.message)
				}
			}
			if err := s.CheckWritable(ctx); tt.probeFails {
				refused("CheckWritable", err)
			}
			// A sale of many long lines needs new pages whatever the cause.
			var lines []int64
			for range 200 {
				lines = append(lines, 100)
			}
			big := storetest.NewSale(m.ID, storetest.Lines(lines...))
			for _, li := range big.LineItems {
				li.Name = strings.Repeat("x", 250)
			}
			_, err := s.CreateSale(ctx, big, nil)
			refused("CreateSale", err)
			if tt.probeFails {
				_, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(300)))
				refused("CreateRefunds", err)
			}

			if _, err := s.write.ExecContext(ctx, tt.undo); err != nil {
				t.Fatal(err)
			}
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
		})
	}
}
