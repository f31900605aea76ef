package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/refundry/refundry"
)

// TestSearchUsesIndexes reads PostgreSQL's plan of every search and email
// filter over a merchant with 20,000 sales and fresh statistics (on a
// nearly empty table every plan is a scan, the cheapest there): each arm
// must use a fold index of 0007_search.sql, no table may be scanned, and
// the merchant's sales may not be walked whole. An expression that drifts
// from its index by one character is caught here.
func TestSearchUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, stmt := range []string{
		`INSERT INTO merchants (id, slug, name, currency, created) VALUES ('m', 'm', 'M', 'USD', now())`,
		`INSERT INTO customers (id, merchant_id, email, first_name, last_name)
			SELECT 'c' || i, 'm', 'c' || i || '@example.com', 'First' || i, 'Last' || i FROM generate_series(1, 20000) i`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, customer_id, campaign_id, campaign_name, created)
			SELECT lpad(i::text, 20, '0'), 'm', 'ORDER-' || i, 'USD', 100, 'c' || i, '', '', now() FROM generate_series(1, 20000) i`,
		`ANALYZE merchants, customers, sales`,
	} {
		if _, err := s.pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	all := []string{"sales_reference_fold_idx", "customers_email_fold_idx", "customers_name_fold_idx", "customers_last_name_fold_idx"}
	for _, tt := range []struct {
		name string
		f    refundry.SaleFilter
		want []string
	}{
		{"Search", refundry.SaleFilter{Search: "Ann"}, all},
		{"SearchNoUpperBound", refundry.SaleFilter{Search: "\U0010FFFF"}, all},
		{"SearchNextPage", refundry.SaleFilter{Search: "ann", Page: refundry.Page{StartingAfter: refundry.NewID()}}, all},
		{"CustomerEmail", refundry.SaleFilter{CustomerEmail: "Ann@Example.com"}, []string{"customers_email_fold_idx"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			if err := f.Normalize(); err != nil {
				t.Fatal(err)
			}
			text, args, err := listSalesQuery("m", f)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			rows, err := s.pool.Query(ctx, "EXPLAIN "+text, args...)
			if err != nil {
				t.Fatal(err)
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			text = strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan") {
				t.Errorf("plan scans a table")
			}
			// Walking sales in id order until the page is full reads every
			// sale when few match: the plan must start from the matches.
			if strings.Contains(text, "Index Scan Backward") {
				t.Errorf("plan walks the sales in id order")
			}
			for _, idx := range tt.want {
				if !strings.Contains(text, idx) {
					t.Errorf("plan does not use %s", idx)
				}
			}
			if t.Failed() {
				t.Logf("plan:\n%s", text)
			}
		})
	}
}
