package refundry_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func TestUnitsAmount(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		quantity, total, taken int64 // taken: refunded of the line already, by amount or units
		r, n                   int64
		want                   int64
	}{
		// ¥1000 over 3 units: 334, 333, 333.
		{"JPYFirst", 3, 1000, 0, 0, 1, 334},
		{"JPYSecond", 3, 1000, 334, 1, 1, 333},
		{"JPYLastTwo", 3, 1000, 334, 1, 2, 666},
		{"JPYAll", 3, 1000, 0, 0, 3, 1000},
		// 10.00 USD + 0.83 tax over 2 units: 5.42, 5.41.
		{"USDTaxFirst", 2, 1083, 0, 0, 1, 542},
		{"USDTaxSecond", 2, 1083, 542, 1, 1, 541},
		// 1.000 KWD over 7 units: 143 x 6 ... the first 6 carry the remainder.
		{"KWDSeventh", 7, 1000, 858, 6, 1, 142},
		{"KWDFirstSix", 7, 1000, 0, 0, 6, 858},
		{"Exact", 4, 1000, 0, 1, 2, 500},
		// An amount refunded of the line without units caps the last units.
		{"CappedByRemaining", 2, 1000, 900, 0, 1, 100},
		{"NothingRemains", 2, 1000, 1000, 0, 2, 0},
		{"ZeroUnits", 3, 1000, 0, 0, 0, 0},
		{"PastQuantity", 3, 1000, 0, 2, 2, 0},
		{"NegativeR", 3, 1000, 0, -1, 1, 0},
		// No overflow at the largest amounts.
		{"Huge", 1_000_000, 1 << 53, 0, 0, 1_000_000, 1 << 53},
		{"HugeOne", 1_000_000, 1 << 53, 0, 999_999, 1, (1 << 53) / 1_000_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			li := &refundry.LineItem{Quantity: tt.quantity, Amount: tt.total, RefundedAmount: tt.taken}
			if got := li.UnitsAmount(tt.r, tt.n); got != tt.want {
				t.Fatalf("UnitsAmount(%d, %d) of %d over %d = %d, want %d", tt.r, tt.n, tt.total, tt.quantity, got, tt.want)
			}
		})
	}
	// Every unit one at a time sums to the total, for every split.
	for _, q := range []int64{1, 2, 3, 7, 10, 99} {
		for _, total := range []int64{0, 1, 5, 99, 100, 101, 1000, 999_999} {
			li := &refundry.LineItem{Quantity: q, Amount: total}
			var sum int64
			for r := range q {
				a := li.UnitsAmount(r, 1)
				li.RefundedAmount += a
				sum += a
			}
			if sum != total {
				t.Fatalf("%d units of %d one at a time sum to %d", q, total, sum)
			}
		}
	}
}

func TestAllocateLines(t *testing.T) {
	line := func(id string, amount, refunded int64) *refundry.LineItem {
		return &refundry.LineItem{ID: id, Quantity: 1, Amount: amount, RefundedAmount: refunded}
	}
	rl := func(id string, amount int64) refundry.RefundLine {
		return refundry.RefundLine{LineItemID: id, Amount: amount}
	}
	for _, tt := range []struct {
		name   string
		lines  []*refundry.LineItem
		amount int64
		want   []refundry.RefundLine
	}{
		{"USDProportional", []*refundry.LineItem{line("a", 2000, 0), line("b", 1000, 0), line("c", 1000, 0)}, 1000,
			[]refundry.RefundLine{rl("a", 500), rl("b", 250), rl("c", 250)}},
		// Ties go to the earlier line: 100 over three equal lines.
		{"TiesByLineOrder", []*refundry.LineItem{line("a", 500, 0), line("b", 500, 0), line("c", 500, 0)}, 100,
			[]refundry.RefundLine{rl("a", 34), rl("b", 33), rl("c", 33)}},
		{"JPYTwoLeft", []*refundry.LineItem{line("a", 1000, 0), line("b", 1000, 0), line("c", 1000, 0)}, 1000,
			[]refundry.RefundLine{rl("a", 334), rl("b", 333), rl("c", 333)}},
		// Largest remainder, not line order: 7 over 1:1:5 is 0.875, 0.875, 4.375 + 1 each to a and b.
		{"LargestRemainder", []*refundry.LineItem{line("a", 100, 0), line("b", 100, 0), line("c", 500, 0)}, 7,
			[]refundry.RefundLine{rl("a", 1), rl("b", 1), rl("c", 5)}},
		// What remains, not what was paid: a is refunded in full already.
		{"OnRemaining", []*refundry.LineItem{line("a", 1000, 1000), line("b", 1000, 500), line("c", 1000, 0)}, 300,
			[]refundry.RefundLine{rl("b", 100), rl("c", 200)}},
		{"KWDSmall", []*refundry.LineItem{line("a", 3333, 0), line("b", 6667, 0)}, 1,
			[]refundry.RefundLine{rl("b", 1)}},
		{"All", []*refundry.LineItem{line("a", 3, 1), line("b", 5, 0)}, 7,
			[]refundry.RefundLine{rl("a", 2), rl("b", 5)}},
		// An over-refund lands on the lines up to what remains on them.
		{"AboveRemaining", []*refundry.LineItem{line("a", 3, 1), line("b", 5, 0)}, 100,
			[]refundry.RefundLine{rl("a", 2), rl("b", 5)}},
		{"NothingRemains", []*refundry.LineItem{line("a", 3, 3)}, 1, nil},
		{"Zero", []*refundry.LineItem{line("a", 3, 0)}, 0, nil},
		// amount x remaining passes 2^63 and must not overflow.
		{"Huge", []*refundry.LineItem{line("a", 1<<52, 0), line("b", 1<<52, 0)}, 1<<52 + 1,
			[]refundry.RefundLine{rl("a", 1<<51+1), rl("b", 1<<51)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := refundry.AllocateLines(tt.lines, tt.amount)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AllocateLines(%d) = %+v, want %+v", tt.amount, got, tt.want)
			}
		})
	}
}

// linesSale is a 30.00 USD sale: 3 widgets of 5.00 + 1.50 tax (16.50),
// a gadget of 8.50 (no tax) and shipping of 5.00, paid 10.00 (t1) and
// 20.00 (t2).
func linesSale() *refundry.Sale {
	return &refundry.Sale{
		ID: "s1", MerchantID: "m1", Currency: "USD", Amount: 3000,
		LineItems: []*refundry.LineItem{
			{ID: "w", SaleID: "s1", Kind: refundry.LineProduct, Quantity: 3, UnitAmount: 500, TaxAmount: 150, Amount: 1650},
			{ID: "g", SaleID: "s1", Kind: refundry.LineProduct, Quantity: 1, UnitAmount: 850, Amount: 850},
			{ID: "ship", SaleID: "s1", Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 500, Amount: 500},
		},
		Transactions: []*refundry.Transaction{
			{ID: "t1", SaleID: "s1", Gateway: refundry.GatewaySimulator, Currency: "USD", Amount: 1000},
			{ID: "t2", SaleID: "s1", Gateway: refundry.GatewaySimulator, Currency: "USD", Amount: 2000},
		},
	}
}

func TestDecideRefundLines(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	amt := func(n int64) *int64 { return &n }
	rl := func(id string, q, a int64) refundry.RefundLine {
		return refundry.RefundLine{LineItemID: id, Quantity: q, Amount: a}
	}
	type refund struct {
		txn    string
		amount int64
		lines  []refundry.RefundLine
	}
	for _, tt := range []struct {
		name    string
		prepare func(s *refundry.Sale)
		req     refundry.RefundRequest
		code    string
		param   string
		want    []refund
	}{
		{name: "OneUnit", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1}}},
			want: []refund{{"t1", 550, []refundry.RefundLine{rl("w", 1, 550)}}}},
		{name: "UnitsAndShipping", req: refundry.RefundRequest{
			Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 2}}, Shipping: &refundry.ShippingRequest{All: true}},
			// 1100 + 500 = 1600: t1 takes 1000 of the widgets, t2 the rest and the shipping.
			want: []refund{
				{"t1", 1000, []refundry.RefundLine{rl("w", 2, 1000)}},
				{"t2", 600, []refundry.RefundLine{rl("w", 0, 100), rl("ship", 1, 500)}},
			}},
		{name: "LinesInSaleOrder", req: refundry.RefundRequest{
			Lines: []refundry.LineRequest{{LineItemID: "g", Quantity: 1}, {LineItemID: "w", Quantity: 1}}},
			want: []refund{{"t1", 1000, []refundry.RefundLine{rl("w", 1, 550), rl("g", 1, 450)}}, {"t2", 400, []refundry.RefundLine{rl("g", 0, 400)}}}},
		{name: "ExplicitAmount", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1, Amount: amt(300)}}},
			want: []refund{{"t1", 300, []refundry.RefundLine{rl("w", 1, 300)}}}},
		{name: "AmountOnly", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "g", Amount: amt(100)}}},
			want: []refund{{"t1", 100, []refundry.RefundLine{rl("g", 0, 100)}}}},
		{name: "ShippingAmount", req: refundry.RefundRequest{Shipping: &refundry.ShippingRequest{Amount: 200}},
			want: []refund{{"t1", 200, []refundry.RefundLine{rl("ship", 0, 200)}}}},
		// The last unit gets what an amount refund left of the line.
		{name: "UnitCappedByRemaining", prepare: func(s *refundry.Sale) {
			s.LineItems[1].RefundedAmount = 800
			s.RefundedAmount = 800
			s.Transactions[0].RefundedAmount = 800
		},
			req:  refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "g", Quantity: 1}}},
			want: []refund{{"t1", 50, []refundry.RefundLine{rl("g", 1, 50)}}}},
		// Units whose money is gone come back with the other lines' money.
		{name: "UnitsWithoutMoney", prepare: func(s *refundry.Sale) {
			s.LineItems[1].RefundedAmount = 850
			s.RefundedAmount = 850
			s.Transactions[0].RefundedAmount = 850
		},
			req:  refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1}, {LineItemID: "g", Quantity: 1}}},
			want: []refund{{"t1", 150, []refundry.RefundLine{rl("w", 1, 150)}}, {"t2", 400, []refundry.RefundLine{rl("w", 0, 400), rl("g", 1, 0)}}}},
		// A sale refund by amount is allocated over the lines: 6.00 of 16.50:8.50:5.00.
		{name: "SaleAmountAllocated", req: refundry.RefundRequest{Amount: amt(600)},
			want: []refund{{"t1", 600, []refundry.RefundLine{rl("w", 0, 330), rl("g", 0, 170), rl("ship", 0, 100)}}}},
		{name: "TransactionAllocated", req: refundry.RefundRequest{Target: refundry.RefundTarget{TransactionID: "t2"}, Amount: amt(300)},
			want: []refund{{"t2", 300, []refundry.RefundLine{rl("w", 0, 165), rl("g", 0, 85), rl("ship", 0, 50)}}}},
		{name: "LineItemAmount", req: refundry.RefundRequest{Target: refundry.RefundTarget{LineItemID: "g"}, Amount: amt(1200)}, code: refundry.ETOOLARGE, param: "amount"},
		{name: "LineItemByAmount", req: refundry.RefundRequest{Target: refundry.RefundTarget{LineItemID: "g"}},
			want: []refund{{"t1", 850, []refundry.RefundLine{rl("g", 0, 850)}}}},

		{name: "ErrQuantityZero", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w"}}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrQuantityNegative", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: -1}}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrQuantityAboveCount", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 4}}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrQuantityAboveRemaining", prepare: func(s *refundry.Sale) { s.LineItems[0].RefundedQuantity = 2 },
			req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "g", Quantity: 1}, {LineItemID: "w", Quantity: 2}}}, code: refundry.EINVALID, param: "lines[1].quantity"},
		{name: "ErrOtherSale", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "other", Quantity: 1}}}, code: refundry.ENOTFOUND, param: "lines[0].line_item"},
		{name: "ErrTwice", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1}, {LineItemID: "w", Quantity: 1}}}, code: refundry.EINVALID, param: "lines[1].line_item"},
		{name: "ErrLineAmountAbove", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "g", Quantity: 1, Amount: amt(851)}}}, code: refundry.ETOOLARGE, param: "lines[0].amount"},
		{name: "ErrLineAmountZero", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "g", Amount: amt(0)}}}, code: refundry.EINVALID, param: "lines[0].amount"},
		{name: "ErrNoShipping", prepare: func(s *refundry.Sale) { s.LineItems[2].Kind = refundry.LineProduct },
			req: refundry.RefundRequest{Shipping: &refundry.ShippingRequest{All: true}}, code: refundry.EINVALID, param: "shipping"},
		{name: "ErrShippingAbove", req: refundry.RefundRequest{Shipping: &refundry.ShippingRequest{Amount: 501}}, code: refundry.ETOOLARGE, param: "shipping"},
		{name: "ErrShippingRefunded", prepare: func(s *refundry.Sale) {
			s.LineItems[2].RefundedAmount = 500
			s.RefundedAmount = 500
			s.Transactions[0].RefundedAmount = 500
		},
			req: refundry.RefundRequest{Shipping: &refundry.ShippingRequest{All: true}}, code: refundry.EREFUNDED, param: "shipping"},
		{name: "ErrShippingTwice", req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "ship", Quantity: 1}}, Shipping: &refundry.ShippingRequest{All: true}},
			code: refundry.EINVALID, param: "shipping"},
		{name: "ErrAmountAndLines", req: refundry.RefundRequest{Amount: amt(100), Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1}}}, code: refundry.EINVALID, param: "amount"},
		{name: "ErrLinesOfTransaction", req: refundry.RefundRequest{Target: refundry.RefundTarget{TransactionID: "t1"}, Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1}}},
			code: refundry.EINVALID, param: "lines"},
		{name: "ErrUnitsWithoutMoneyAlone", prepare: func(s *refundry.Sale) {
			s.LineItems[1].RefundedAmount = 850
			s.RefundedAmount = 850
			s.Transactions[0].RefundedAmount = 850
		},
			req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "g", Quantity: 1}}}, code: refundry.EREFUNDED, param: "lines"},
		{name: "ErrDisputed", prepare: func(s *refundry.Sale) { s.Transactions[0].DisputeStatus = refundry.DisputeNeedsResponse },
			req: refundry.RefundRequest{Lines: []refundry.LineRequest{{LineItemID: "w", Quantity: 1}}}, code: refundry.ECHARGEDISPUTED, param: "sale"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := linesSale()
			if tt.prepare != nil {
				tt.prepare(sale)
			}
			req := tt.req
			req.MerchantID = "m1"
			if req.Target == (refundry.RefundTarget{}) {
				req.Target.SaleID = "s1"
			}
			before := cloneForTest(sale)
			d, err := refundry.DecideRefund(sale, req, now)
			if !reflect.DeepEqual(sale, before) {
				t.Fatal("DecideRefund changed the sale it was given")
			}
			if tt.code != "" {
				checkValidate(t, err, tt.code, tt.param)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []refund
			for _, r := range d.Refunds {
				got = append(got, refund{r.TransactionID, r.Amount, r.Lines})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("refunds %+v, want %+v", got, tt.want)
			}
			checkLedger(t, d.Sale)
			// The moves hold each line's amount and units, once per row.
			byLine := map[string][2]int64{}
			for _, r := range d.Refunds {
				for _, l := range r.Lines {
					x := byLine[l.LineItemID]
					byLine[l.LineItemID] = [2]int64{x[0] + l.Amount, x[1] + l.Quantity}
				}
			}
			for _, m := range d.Moves {
				if m.Kind == refundry.OnLineItem && (byLine[m.ID] != [2]int64{m.Delta, m.Quantity}) {
					t.Fatalf("move %+v, want %v", m, byLine[m.ID])
				}
			}
			// Releasing every refund gives back exactly what it held.
			after := d.Sale
			for _, r := range d.Refunds {
				st, err := refundry.DecideSettlement(r, refundry.Settlement{Status: refundry.RefundFailed}, now)
				if err != nil {
					t.Fatal(err)
				}
				after = refundry.ApplyMovesForTest(after, st.Moves)
			}
			for i, li := range after.LineItems {
				if li.RefundedAmount != sale.LineItems[i].RefundedAmount || li.RefundedQuantity != sale.LineItems[i].RefundedQuantity {
					t.Fatalf("after release line %s = %+v, want %+v", li.ID, li, sale.LineItems[i])
				}
			}
			if after.RefundedAmount != sale.RefundedAmount {
				t.Fatalf("after release sale refunded %d, want %d", after.RefundedAmount, sale.RefundedAmount)
			}
		})
	}
}

// checkLedger asserts a sale's rows agree: no line above its total or its
// units, the sale's refunded amount the sum of its lines'.
func checkLedger(t *testing.T, s *refundry.Sale) {
	t.Helper()
	var lines, txns int64
	for _, li := range s.LineItems {
		if li.RefundedAmount < 0 || li.RefundedAmount > li.Amount || li.RefundedQuantity < 0 || li.RefundedQuantity > li.Quantity {
			t.Fatalf("line %+v out of bounds", li)
		}
		lines += li.RefundedAmount
	}
	for _, tx := range s.Transactions {
		if tx.RefundedAmount < 0 || tx.RefundedAmount > tx.Amount {
			t.Fatalf("transaction %+v out of bounds", tx)
		}
		txns += tx.RefundedAmount
	}
	if lines != s.RefundedAmount || txns != s.RefundedAmount {
		t.Fatalf("sale refunded %d, its lines %d, its transactions %d", s.RefundedAmount, lines, txns)
	}
}

func cloneForTest(s *refundry.Sale) *refundry.Sale {
	c := *s
	c.LineItems, c.Transactions = nil, nil
	for _, li := range s.LineItems {
		x := *li
		c.LineItems = append(c.LineItems, &x)
	}
	for _, tx := range s.Transactions {
		x := *tx
		c.Transactions = append(c.Transactions, &x)
	}
	return &c
}
