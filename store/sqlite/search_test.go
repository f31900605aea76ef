package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// TestSearchUsesIndexes reads SQLite's plan of every search and email
// filter: each arm must search a fold index of 0007_search.sql, and no
// table may be scanned whole. An expression that drifts from its index by
// one character turns a search into a full scan, which this catches.
func TestSearchUsesIndexes(t *testing.T) {
	s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		f    refundry.SaleFilter
		want []string
	}{
		{"Search", refundry.SaleFilter{Search: "Ann"},
			[]string{"sales_reference_fold", "customers_email_fold", "customers_name_fold", "customers_last_name_fold"}},
		{"SearchNoUpperBound", refundry.SaleFilter{Search: "\U0010FFFF"},
			[]string{"sales_reference_fold", "customers_email_fold", "customers_name_fold", "customers_last_name_fold"}},
		{"SearchNextPage", refundry.SaleFilter{Search: "ann", Page: refundry.Page{StartingAfter: refundry.NewID()}},
			[]string{"sales_reference_fold", "customers_email_fold"}},
		{"CustomerEmail", refundry.SaleFilter{CustomerEmail: "Ann@Example.com"}, []string{"customers_email_fold"}},
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
			rows, err := s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+text, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(plan, "\n")
			for _, line := range plan {
				// "SCAN t" reads every row of t; "SCAN t USING INDEX"
				// walks a whole index. A subquery's own result may be
				// scanned: it holds only the matches.
				if strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN (subquery") && !strings.Contains(line, "COVERING INDEX") {
					t.Errorf("plan scans a table: %q", line)
				}
				// The merchant alone bounds nothing: that is every sale.
				if strings.HasSuffix(line, "(merchant_id=?)") {
					t.Errorf("plan reads every row of the merchant: %q", line)
				}
			}
			for _, idx := range tt.want {
				if !strings.Contains(all, "INDEX "+idx+" ") {
					t.Errorf("plan does not use %s", idx)
				}
			}
			if t.Failed() {
				t.Logf("plan:\n%s", all)
			}
		})
	}
}
