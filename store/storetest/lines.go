package storetest

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/refundry/refundry"
)

// ItemizedLines makes the sale's lines 3 widgets of 5.00 + 1.50 tax
// (16.50), a gadget of 8.50 and shipping of 5.00: 30.00 in all, paid by
// one payment unless Payments follows.
func ItemizedLines() SaleOption {
	return func(s *refundry.Sale) {
		s.LineItems = []*refundry.LineItem{
			{Name: "Widget", Quantity: 3, UnitAmount: 500, TaxAmount: 150},
			{Name: "Gadget", Quantity: 1, UnitAmount: 850},
			{Name: "Shipping", Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 500},
		}
		if len(s.Transactions) == 1 {
			s.Transactions[0].Amount = 0
		}
	}
}

// LinesRefund returns a request for units (or amounts) of a sale's lines.
func LinesRefund(merchantID, saleID string, lines ...refundry.LineRequest) refundry.RefundRequest {
	req := SaleRefund(merchantID, saleID, nil)
	req.Lines = lines
	return req
}

func testLines(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("SaleKeepsKindAndTax", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, ItemizedLines())
		got := MustFindSale(t, s, m.ID, sale.ID)
		sameJSON(t, "sale", got, sale)
		if li := got.LineItems[0]; li.Kind != refundry.LineProduct || li.TaxAmount != 150 || li.Amount != 1650 {
			t.Fatalf("line = %+v", li)
		}
		if got.LineItems[2].Kind != refundry.LineShipping || got.Amount != 3000 {
			t.Fatalf("sale = %+v", got)
		}
	})

	t.Run("Units", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, ItemizedLines(), Payments(1000, 2000))
		w, g, ship := sale.LineItems[0], sale.LineItems[1], sale.LineItems[2]

		res := MustRefund(t, s, LinesRefund(m.ID, sale.ID, refundry.LineRequest{LineItemID: w.ID, Quantity: 2}))
		res2, err := s.CreateRefunds(ctx, func() refundry.RefundRequest {
			req := LinesRefund(m.ID, sale.ID)
			req.Shipping = &refundry.ShippingRequest{All: true}
			return req
		}())
		if err != nil {
			t.Fatal(err)
		}
		rl := func(id string, q, a int64) refundry.RefundLine {
			return refundry.RefundLine{LineItemID: id, Quantity: q, Amount: a}
		}
		// 2 widgets are 11.00 with tax: t1 pays 10.00 of them, t2 the rest
		// and then the shipping.
		wantLines := [][]refundry.RefundLine{{rl(w.ID, 2, 1000)}, {rl(w.ID, 0, 100)}, {rl(ship.ID, 1, 500)}}
		all := append(res.Refunds, res2.Refunds...)
		if len(all) != 3 {
			t.Fatalf("refunds = %+v", all)
		}
		for i, r := range all {
			sameJSON(t, "lines", r.Lines, wantLines[i])
			got, err := s.FindRefund(ctx, m.ID, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "FindRefund", got, r)
		}
		page, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if len(r.Lines) == 0 {
				t.Fatalf("listed refund %s has no lines", r.ID)
			}
		}
		got := MustFindSale(t, s, m.ID, sale.ID)
		sameJSON(t, "result sale", res2.Sale, got)
		if li := got.LineItems[0]; li.RefundedQuantity != 2 || li.RefundedAmount != 1100 {
			t.Fatalf("widgets after = %+v", li)
		}
		if li := got.LineItems[2]; li.RefundedQuantity != 1 || li.RefundedAmount != 500 {
			t.Fatalf("shipping after = %+v", li)
		}

		// Refused, nothing changed: a unit too many, a line of another
		// sale, shipping twice.
		other := MustCreateSale(t, s, m.ID)
		for _, tt := range []struct {
			req         refundry.RefundRequest
			code, param string
		}{
			{LinesRefund(m.ID, sale.ID, refundry.LineRequest{LineItemID: w.ID, Quantity: 2}), refundry.EINVALID, "lines[0].quantity"},
			{LinesRefund(m.ID, sale.ID, refundry.LineRequest{LineItemID: other.LineItems[0].ID, Quantity: 1}), refundry.ENOTFOUND, "lines[0].line_item"},
			{func() refundry.RefundRequest {
				req := LinesRefund(m.ID, sale.ID)
				req.Shipping = &refundry.ShippingRequest{All: true}
				return req
			}(), refundry.EREFUNDED, "shipping"},
		} {
			_, err := s.CreateRefunds(ctx, tt.req)
			wantCode(t, err, tt.code)
			if p := refundry.ErrorParam(err); p != tt.param {
				t.Fatalf("param = %q, want %q", p, tt.param)
			}
		}
		sameJSON(t, "sale after refusals", MustFindSale(t, s, m.ID, sale.ID), got)

		// The first refund fails: its 2 units and 10.00 go back to the
		// widgets; the second's 1.00 stays.
		if _, err := s.SettleRefund(ctx, m.ID, all[0].ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
			t.Fatal(err)
		}
		got = MustFindSale(t, s, m.ID, sale.ID)
		if li := got.LineItems[0]; li.RefundedQuantity != 0 || li.RefundedAmount != 100 {
			t.Fatalf("widgets after the release = %+v", li)
		}
		// The last unit of the gadget, then every widget: the units sum
		// to the lines' totals, capped by what amount refunds took.
		MustRefund(t, s, LinesRefund(m.ID, sale.ID, refundry.LineRequest{LineItemID: g.ID, Quantity: 1}))
		for range 3 {
			MustRefund(t, s, LinesRefund(m.ID, sale.ID, refundry.LineRequest{LineItemID: w.ID, Quantity: 1}))
		}
		got = MustFindSale(t, s, m.ID, sale.ID)
		for _, li := range got.LineItems {
			if li.RefundedAmount != li.Amount || li.RefundedQuantity != li.Quantity {
				t.Fatalf("line after every unit = %+v", li)
			}
		}
		if got.RefundedAmount != got.Amount {
			t.Fatalf("sale after every unit = %+v", got)
		}
		CheckInvariants(t, s, m.ID)
	})

	// Invariant 2 extended to quantities: 64 clients refund one unit each
	// of a 10-unit line at once; exactly 10 succeed, the rest are told no
	// units remain, and the line shows 10 units and its total refunded.
	t.Run("ConcurrentUnits", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, func(s *refundry.Sale) {
			s.LineItems = []*refundry.LineItem{{Name: "Seat", Quantity: 10, UnitAmount: 999, TaxAmount: 7}}
			s.Transactions = []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}}
		})
		li := sale.LineItems[0]
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				_, err := s.CreateRefunds(ctx, LinesRefund(m.ID, sale.ID, refundry.LineRequest{LineItemID: li.ID, Quantity: 1}))
				switch refundry.ErrorCode(err) {
				case "":
					ok.Add(1)
				case refundry.EINVALID:
					refused.Add(1)
				default:
					t.Errorf("CreateRefunds: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != li.Quantity || refused.Load() != 64-li.Quantity {
			t.Fatalf("%d units refunded, %d refused; want %d and %d", ok.Load(), refused.Load(), li.Quantity, 64-li.Quantity)
		}
		got := MustFindSale(t, s, m.ID, sale.ID)
		if l := got.LineItems[0]; l.RefundedQuantity != l.Quantity || l.RefundedAmount != l.Amount || got.RefundedAmount != got.Amount {
			t.Fatalf("after the race: sale %+v, line %+v", got, l)
		}
		CheckInvariants(t, s, m.ID)
	})

	// Random sequences of every way money goes back, with releases, on
	// random sales: the stored ledger agrees with every decision and keeps
	// the invariants.
	t.Run("Random", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		for seed := range uint64(6) {
			rng := rand.New(rand.NewPCG(seed, 1812))
			sale := MustCreateSale(t, s, m.ID, randomLines(rng), Currency([]string{"JPY", "USD", "KWD"}[seed%3]))
			var pending []*refundry.Refund
			for range 25 {
				if len(pending) > 0 && rng.IntN(5) == 0 {
					i := rng.IntN(len(pending))
					st := []string{refundry.RefundFailed, refundry.RefundCanceled, refundry.RefundSucceeded}[rng.IntN(3)]
					if _, err := s.SettleRefund(ctx, m.ID, pending[i].ID, refundry.Settlement{Status: st}); err != nil {
						t.Fatal(err)
					}
					pending = append(pending[:i], pending[i+1:]...)
					continue
				}
				cur := MustFindSale(t, s, m.ID, sale.ID)
				req := randomLinesRequest(rng, m.ID, cur)
				res, err := s.CreateRefunds(ctx, req)
				switch refundry.ErrorCode(err) {
				case "":
				case refundry.EREFUNDED, refundry.ETOOLARGE, refundry.EINVALID:
					continue
				default:
					t.Fatalf("CreateRefunds(%+v): %v", req, err)
				}
				sameJSON(t, "result sale", res.Sale, MustFindSale(t, s, m.ID, sale.ID))
				for _, r := range res.Refunds {
					if r.Status == refundry.RefundPending {
						pending = append(pending, r)
					}
				}
			}
			CheckInvariants(t, s, m.ID)
		}
	})
}

// randomLines makes the sale 1-20 lines of random quantities, amounts,
// tax and kinds, paid by one or two payments.
func randomLines(rng *rand.Rand) SaleOption {
	return func(s *refundry.Sale) {
		s.LineItems = nil
		var total int64
		for range 1 + rng.IntN(20) {
			li := &refundry.LineItem{Name: "x", Quantity: 1 + rng.Int64N(5), UnitAmount: 1 + rng.Int64N(3000), TaxAmount: rng.Int64N(400)}
			if rng.IntN(6) == 0 {
				li.Kind = refundry.LineShipping
			}
			total += li.Quantity*li.UnitAmount + li.TaxAmount
			s.LineItems = append(s.LineItems, li)
		}
		first := total / 3
		s.Transactions = []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Amount: first}, {Gateway: refundry.GatewayOffsite, Amount: total - first}}
	}
}

func randomLinesRequest(rng *rand.Rand, merchantID string, sale *refundry.Sale) refundry.RefundRequest {
	amount := func(max int64) *int64 {
		if max <= 0 || rng.IntN(4) == 0 {
			return nil
		}
		return Amount(1 + rng.Int64N(max))
	}
	li := sale.LineItems[rng.IntN(len(sale.LineItems))]
	switch rng.IntN(6) {
	case 0, 1:
		return LinesRefund(merchantID, sale.ID, refundry.LineRequest{LineItemID: li.ID, Quantity: 1 + rng.Int64N(max(li.RemainingQuantity(), 1))})
	case 2:
		req := LinesRefund(merchantID, sale.ID)
		req.Shipping = &refundry.ShippingRequest{All: rng.IntN(2) == 0, Amount: 1 + rng.Int64N(200)}
		return req
	case 3:
		return LineItemRefund(merchantID, li.ID, amount(sale.LineRefundable(li)))
	case 4:
		tx := sale.Transactions[rng.IntN(len(sale.Transactions))]
		return TransactionRefund(merchantID, tx.ID, amount(sale.TransactionRefundable(tx)))
	}
	return SaleRefund(merchantID, sale.ID, amount(sale.Refundable()))
}
