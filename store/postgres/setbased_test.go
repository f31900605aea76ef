package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// TestSetBasedBatch forces one batch of refunds and settlements written
// set-based: refunds of distinct sales, an over-refund refused by its
// decision, two refunds of one sale (the second decided on what the
// first left), a settlement that releases and a refund of the same sale
// that may use what it released, one refund settled twice, and one
// Idempotency-Key used twice. Each gets the answer it would get alone,
// and the stored rows agree with the answers.
func TestSetBasedBatch(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			s := mustOpenWith(t, iso, WithGroupCommitLanes(1))
			m := storetest.MustCreateMerchant(t, s)
			ctx := context.Background()
			var distinct []*refundry.Sale
			for range 4 {
				distinct = append(distinct, storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000)))
			}
			over := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			twice := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			released := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			toFail := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, released.ID, storetest.Amount(1000))).Refunds[0]
			settledTwice := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			toSucceed := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, settledTwice.ID, storetest.Amount(500))).Refunds[0]
			keyed := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1000))
			keyedReq := storetest.SaleRefund(m.ID, keyed.ID, storetest.Amount(250))
			keyedReq.Idempotency = &refundry.Idempotency{Key: "same-key", Hash: "h"}

			type result struct {
				res     *refundry.RefundResult
				settled *refundry.Refund
				err     error
			}
			var writes []func() result
			for _, sale := range distinct {
				writes = append(writes, func() result {
					r, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
					return result{res: r, err: err}
				})
			}
			refund := func(req refundry.RefundRequest) func() result {
				return func() result {
					r, err := s.CreateRefunds(ctx, req)
					return result{res: r, err: err}
				}
			}
			settle := func(id string, status string) func() result {
				return func() result {
					r, err := s.SettleRefund(ctx, m.ID, id, refundry.Settlement{Status: status})
					return result{settled: r, err: err}
				}
			}
			writes = append(writes,
				refund(storetest.SaleRefund(m.ID, over.ID, storetest.Amount(1001))), // 4
				refund(storetest.SaleRefund(m.ID, twice.ID, storetest.Amount(400))), // 5
				refund(storetest.LineItemRefund(m.ID, twice.LineItems[0].ID, nil)),  // 6: the rest
				settle(toFail.ID, refundry.RefundFailed),                            // 7
				settle(toSucceed.ID, refundry.RefundSucceeded),                      // 8
				settle(toSucceed.ID, refundry.RefundSucceeded),                      // 9: a repeat
				refund(keyedReq), // 10
				refund(keyedReq), // 11: its replay
				refund(storetest.SaleRefund(m.ID, "no-such-sale", storetest.Amount(1))),    // 12
				refund(storetest.SaleRefund(m.ID, settledTwice.ID, storetest.Amount(500))), // 13
				refund(storetest.SaleRefund(m.ID, settledTwice.ID, storetest.Amount(500))), // 14: the same
			)
			results := make([]result, len(writes))
			s.batch.Gather(len(writes))
			var wg sync.WaitGroup
			for i, w := range writes {
				wg.Go(func() { results[i] = w() })
			}
			wg.Wait()

			// 13 and 14 race for the last 500 of one sale: exactly one wins.
			wantErr := map[int]string{4: refundry.ETOOLARGE, 12: refundry.ENOTFOUND}
			for i, r := range results {
				if i == 13 || i == 14 {
					continue
				}
				if got := refundry.ErrorCode(r.err); r.err != nil && got != wantErr[i] || r.err == nil && wantErr[i] != "" {
					t.Errorf("write %d: %v, want %q", i, r.err, wantErr[i])
				}
			}
			if (results[13].err == nil) == (results[14].err == nil) {
				t.Errorf("the last 500 of a sale: %v and %v, want exactly one refund", results[13].err, results[14].err)
			}
			if got := results[5].res.Refunds[0].Amount + results[6].res.Refunds[0].Amount; got != 1000 {
				t.Errorf("the two refunds of one sale took %d, want 400 + 600", got)
			}
			for _, i := range []int{8, 9} {
				if st := results[i].settled.Status; st != refundry.RefundSucceeded {
					t.Errorf("settlement %d: %s, want succeeded", i, st)
				}
			}
			if a, b := results[10].res, results[11].res; a == nil || b == nil || a.Refunds[0].ID != b.Refunds[0].ID || a.Replayed == b.Replayed {
				t.Errorf("one key twice in a batch: %+v and %+v, want one refund and its replay", a, b)
			}
			for _, c := range []struct {
				sale *refundry.Sale
				want int64
			}{{distinct[0], 100}, {over, 0}, {twice, 1000}, {released, 0}, {settledTwice, 1000}, {keyed, 250}} {
				if got := storetest.MustFindSale(t, s, m.ID, c.sale.ID).RefundedAmount; got != c.want {
					t.Errorf("sale %s: refunded %d, want %d", c.sale.ID, got, c.want)
				}
			}
			evs, _, err := s.ListEvents(ctx, m.ID, refundry.EventFilter{ObjectID: toSucceed.ID, Types: []string{refundry.EventRefundSucceeded}})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Errorf("%d refund.succeeded events for a refund settled twice, want 1", len(evs))
			}
			evs, _, err = s.ListEvents(ctx, m.ID, refundry.EventFilter{ObjectID: twice.ID, Types: []string{refundry.EventSaleRefunded}})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Errorf("%d sale.refunded events for the sale refunded in two parts, want 1", len(evs))
			}
			if n := s.Stats().SerialBatches; n != 0 {
				t.Errorf("%d batches ran again write by write, want 0", n)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestSetBasedStatements: a batch of refunds costs the same few
// statements whatever its size, where one refund alone costs about a
// dozen. It counts statements (Statements), never time.
func TestSetBasedStatements(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
	m := storetest.MustCreateMerchant(t, s)
	ctx := context.Background()
	for _, n := range []int{1, 8, 32} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sales := make([]*refundry.Sale, n)
			for i := range sales {
				sales[i] = storetest.MustCreateSale(t, s, m.ID, storetest.Lines(600, 400))
			}
			before := s.Statements()
			s.batch.Gather(n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, sale := range sales {
				wg.Go(func() {
					req := storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(300))
					req.Idempotency = &refundry.Idempotency{Key: "k-" + sale.ID, Hash: "h"}
					_, errs[i] = s.CreateRefunds(ctx, req)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("refund %d: %v", i, err)
				}
			}
			// BEGIN and the batch's planner setting (noSeqScan); the
			// sales locked and read, the keys claimed, the lines, the
			// payments; one statement writing the three tables' amounts,
			// the refunds, their lines, events, audit and the keys;
			// COMMIT.
			if got, most := s.Statements()-before, int64(8); got > most {
				t.Errorf("%d refunds in one batch sent %d statements, want at most %d", n, got, most)
			}
			for _, sale := range sales {
				if got := storetest.MustFindSale(t, s, m.ID, sale.ID).RefundedAmount; got != 300 {
					t.Errorf("sale %s: refunded %d, want 300", sale.ID, got)
				}
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestRefundSales: the sale of a refund made here is known without a
// query, only to the refund's own merchant, and what is remembered stays
// bounded: the oldest generation is forgotten, and then looked up.
func TestRefundSales(t *testing.T) {
	var c refundSales
	first := &refundry.Refund{ID: "r-first", SaleID: "s-first"}
	c.put("m1", []*refundry.Refund{first})
	for _, tc := range []struct {
		merchant, id string
		sale         string
		ok           bool
	}{
		{"m1", "r-first", "s-first", true},
		{"m2", "r-first", "", false},
		{"m1", "r-none", "", false},
	} {
		if sale, ok := c.get(tc.merchant, tc.id); sale != tc.sale || ok != tc.ok {
			t.Errorf("get(%s, %s) = %q, %v; want %q, %v", tc.merchant, tc.id, sale, ok, tc.sale, tc.ok)
		}
	}
	for i := range 2 * refundSalesGen {
		c.put("m1", []*refundry.Refund{{ID: fmt.Sprint("r", i), SaleID: "s"}})
	}
	if _, ok := c.get("m1", "r-first"); ok {
		t.Error("the oldest generation is still remembered")
	}
	if sale, ok := c.get("m1", fmt.Sprint("r", 2*refundSalesGen-1)); !ok || sale != "s" {
		t.Errorf("the newest refund: %q, %v", sale, ok)
	}
	if n := len(c.cur) + len(c.old); n > 2*refundSalesGen {
		t.Errorf("%d refunds remembered, want at most %d", n, 2*refundSalesGen)
	}
}

// TestBatchPlansUseIndexes: the reads of a set-based batch keep to their
// indexes in the plan PostgreSQL caches for them, even when it is made
// while the tables are a few rows (a new database, the start of a burst).
// Outside a batch the same generic plans scan the whole table; that plan
// would be reused for every batch after the tables had grown.
func TestBatchPlansUseIndexes(t *testing.T) {
	s := mustOpenWith(t, readCommitted, WithGroupCommitLanes(1))
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(600, 400))
	ctx := context.Background()
	for _, tt := range []struct {
		name, sql string
	}{
		{"refund lines", refundLinesQuery},
		{"refunds to settle", `SELECT ` + refundColumns + ` FROM refunds WHERE id = ANY($1) FOR UPDATE`},
		{"line items", `SELECT ` + lineItemColumns + ` FROM line_items WHERE sale_id = ANY($1) ORDER BY sale_id, ord`},
		{"payments", `SELECT ` + transactionColumns + ` FROM transactions WHERE sale_id = ANY($1) ORDER BY sale_id, ord`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The generic plan, the one a prepared statement settles on
			// after its first executions.
			explain := func(q interface {
				Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
				Query(context.Context, string, ...any) (pgx.Rows, error)
			}) string {
				t.Helper()
				for _, sql := range []string{`SET LOCAL plan_cache_mode = force_generic_plan`, `PREPARE plan_probe(text[]) AS ` + tt.sql} {
					if _, err := q.Exec(ctx, sql); err != nil {
						t.Fatalf("%s: %v", sql, err)
					}
				}
				rows, err := q.Query(ctx, `EXPLAIN EXECUTE plan_probe('{`+sale.ID+`}')`)
				if err != nil {
					t.Fatal(err)
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := q.Exec(ctx, `DEALLOCATE plan_probe`); err != nil {
					t.Fatal(err)
				}
				return strings.Join(lines, "\n")
			}
			var inBatch string
			if err := s.attemptBatch(ctx, func(tx pgx.Tx) error { inBatch = explain(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(inBatch, "Seq Scan") {
				t.Errorf("in a batch, the plan scans the table:\n%s", inBatch)
			}
			var alone string
			if err := s.write(ctx, func(tx pgx.Tx) error { alone = explain(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(alone, "Seq Scan") {
				t.Logf("outside a batch, the plan does not scan the table either (the check above proves nothing here):\n%s", alone)
			}
		})
	}
}
