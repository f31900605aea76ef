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
			plan := queryPlan(t, s, text, args...)
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

// queryPlan returns the lines of SQLite's plan for a query.
func queryPlan(t *testing.T, s *Store, text string, args ...any) []string {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+text, args...)
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
	return plan
}

// TestReferenceLookupsUseIndexes: every lookup by a sale's or a payment's
// reference searches its unique index on (merchant_id, reference). Those
// indexes are partial, so a query that leaves out their condition walks
// every sale of the merchant, or every payment, and creating a sale, which
// checks its references, grows slower with each sale stored.
func TestReferenceLookupsUseIndexes(t *testing.T) {
	s := mustOpenInternal(t, filepath.Join(t.TempDir(), "refundry.db"))
	list, listArgs, err := listSalesQuery("m", refundry.SaleFilter{Reference: "ORDER-1", Page: refundry.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, text string
		args       []any
		want       string
	}{
		{"SaleReferenceTaken", saleReferenceTaken, []any{"m", "ORDER-1"}, "sales_reference"},
		{"PaymentReferenceTaken", paymentReferenceTaken, []any{"m", "pay-1"}, "transactions_reference"},
		{"ListSalesByReference", list, listArgs, "sales_reference"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := strings.Join(queryPlan(t, s, tt.text, tt.args...), "\n")
			if !strings.Contains(plan, "INDEX "+tt.want+" (merchant_id=? AND reference=?)") {
				t.Errorf("plan does not search %s by merchant and reference:\n%s", tt.want, plan)
			}
		})
	}
}
