package postgres

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestFindSaleReleases: FindSale sends BEGIN, its reads and COMMIT as one
// pipeline; found or not, every call gives its connection back, so more
// calls than the pool has connections all answer.
func TestFindSaleReleases(t *testing.T) {
	s := mustOpenWith(t, readCommitted)
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)
	ctx := context.Background()
	for i := range 3 * int(s.pool.Config().MaxConns) {
		for _, tc := range []struct {
			by   refundry.SaleLookup
			code string
		}{
			{refundry.SaleLookup{ID: sale.ID}, ""},
			{refundry.SaleLookup{LineItemID: sale.LineItems[0].ID}, ""},
			{refundry.SaleLookup{ID: "sale_missing"}, refundry.ENOTFOUND},
			{refundry.SaleLookup{}, refundry.EINVALID},
		} {
			got, err := s.FindSale(ctx, m.ID, tc.by)
			if code := refundry.ErrorCode(err); err != nil && code != tc.code || err == nil && tc.code != "" {
				t.Fatalf("call %d, %+v: %v, want code %q", i, tc.by, err, tc.code)
			}
			if err == nil && (got.ID != sale.ID || len(got.LineItems) != len(sale.LineItems) || len(got.Transactions) != 1) {
				t.Fatalf("call %d: read %+v", i, got)
			}
		}
	}
	if n := s.pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections still held", n)
	}
}
