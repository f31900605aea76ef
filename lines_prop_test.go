package refundry_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// RandomLinesSale is a valid sale of 1-20 lines with random quantities,
// unit amounts, tax and kinds, paid by 1-3 payments.
func randomLinesSale(rng *rand.Rand, currency string) *refundry.Sale {
	s := &refundry.Sale{ID: "s", MerchantID: "m", Currency: currency}
	n := 1 + rng.IntN(20)
	for i := range n {
		li := &refundry.LineItem{
			ID: fmt.Sprintf("li%02d", i), SaleID: "s", Name: "x",
			Quantity: 1 + rng.Int64N(6), UnitAmount: rng.Int64N(5000),
		}
		if rng.IntN(3) > 0 {
			li.TaxAmount = rng.Int64N(700)
		}
		if rng.IntN(6) == 0 {
			li.Kind = refundry.LineShipping
		}
		s.LineItems = append(s.LineItems, li)
	}
	s.LineItems[0].UnitAmount++ // a sale's total is above zero
	var total int64
	for _, li := range s.LineItems {
		total += li.Quantity*li.UnitAmount + li.TaxAmount
	}
	parts := 1 + rng.IntN(3)
	left := total
	for i := range parts {
		a := left
		if i < parts-1 && left > 1 {
			a = 1 + rng.Int64N(left-1)
		}
		if a <= 0 {
			break
		}
		s.Transactions = append(s.Transactions, &refundry.Transaction{Amount: a})
		left -= a
	}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	for i, tx := range s.Transactions {
		tx.ID, tx.SaleID = fmt.Sprintf("t%d", i), "s"
		tx.Gateway = refundry.GatewayStripe
		tx.GatewayChargeID = "ch_" + tx.ID
	}
	return s
}

// randomRequest is one of the ways money goes back: units of lines, an
// amount of a line, shipping, an amount of a transaction or of the sale.
func randomRequest(rng *rand.Rand, s *refundry.Sale) refundry.RefundRequest {
	req := refundry.RefundRequest{MerchantID: "m", Target: refundry.RefundTarget{SaleID: s.ID}}
	amount := func(max int64) *int64 {
		if max <= 0 || rng.IntN(4) == 0 {
			return nil // everything that remains
		}
		a := 1 + rng.Int64N(max)
		return &a
	}
	li := s.LineItems[rng.IntN(len(s.LineItems))]
	switch rng.IntN(7) {
	case 0, 1:
		for _, l := range s.LineItems {
			if l.RemainingQuantity() > 0 && rng.IntN(3) == 0 {
				req.Lines = append(req.Lines, refundry.LineRequest{LineItemID: l.ID, Quantity: 1 + rng.Int64N(l.RemainingQuantity())})
			}
		}
		if len(req.Lines) == 0 {
			req.Lines = []refundry.LineRequest{{LineItemID: li.ID, Quantity: 1}}
		}
		rng.Shuffle(len(req.Lines), func(i, j int) { req.Lines[i], req.Lines[j] = req.Lines[j], req.Lines[i] })
	case 2:
		req.Lines = []refundry.LineRequest{{LineItemID: li.ID, Amount: amount(li.Remaining())}}
		if req.Lines[0].Amount == nil {
			req.Lines[0].Quantity = li.RemainingQuantity()
		}
	case 3:
		req.Target = refundry.RefundTarget{LineItemID: li.ID}
		req.Amount = amount(s.LineRefundable(li))
	case 4:
		req.Shipping = &refundry.ShippingRequest{All: true}
		if rng.IntN(2) == 0 {
			req.Shipping = &refundry.ShippingRequest{Amount: 1 + rng.Int64N(300)}
		}
	case 5:
		tx := s.Transactions[rng.IntN(len(s.Transactions))]
		req.Target = refundry.RefundTarget{TransactionID: tx.ID}
		req.Amount = amount(s.TransactionRefundable(tx))
	default:
		req.Amount = amount(s.Refundable())
	}
	return req
}

// TestLinesProperties runs random sequences of refunds of every kind,
// failures that release them and adopted gateway refunds against random
// sales in JPY, USD and KWD, keeping the ledger as a store would: the
// sums are exact, no line goes above its total or its units, and the
// same request on the same sale always lands on the same lines.
func TestLinesProperties(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// made counts what each kind of step did, so that the run is known to
	// have exercised all of them.
	made := map[string]int{}
	defer func() {
		for _, k := range []string{"units", "line amount", "line item", "shipping", "transaction", "sale", "release", "adopt"} {
			if made[k] < 20 {
				t.Errorf("only %d successful %s steps: %v", made[k], k, made)
			}
		}
	}()
	for seed := range uint64(300) {
		currency := []string{"JPY", "USD", "KWD"}[seed%3]
		t.Run(fmt.Sprintf("%s_%d", currency, seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 18))
			sale := randomLinesSale(rng, currency)
			var held []*refundry.Refund // refunds that reserve
			for step := range 60 {
				switch rng.IntN(10) {
				case 0: // a failure releases a refund
					if len(held) == 0 {
						continue
					}
					i := rng.IntN(len(held))
					r := held[i]
					st, err := refundry.DecideSettlement(r, refundry.Settlement{Status: refundry.RefundFailed, By: refundry.ByReport}, now)
					if err != nil {
						t.Fatalf("step %d: release: %v", step, err)
					}
					sale = refundry.ApplyMovesForTest(sale, st.Moves)
					held = slices.Delete(held, i, i+1)
					made["release"]++
				case 1: // a refund made at the gateway, within what remains
					if sale.Refundable() == 0 {
						continue
					}
					tx := sale.Transactions[rng.IntN(len(sale.Transactions))]
					if tx.Refundable() == 0 {
						continue
					}
					rep := refundry.RefundReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{tx.GatewayChargeID},
						GatewayRefundID: fmt.Sprint("re_", step), Amount: 1 + rng.Int64N(min(tx.Refundable(), sale.Refundable())),
						Currency: currency, Status: refundry.RefundSucceeded}
					d, err := refundry.DecideRefundReport(sale, nil, rep, now)
					if err != nil || d.Adopt == nil {
						t.Fatalf("step %d: adopt: %v %+v", step, err, d)
					}
					checkRefundLines(t, d.Adopt.Refunds)
					sale = refundry.ApplyMovesForTest(sale, d.Adopt.Moves)
					held = append(held, d.Adopt.Refunds...)
					made["adopt"]++
				default:
					req := randomRequest(rng, sale)
					d, err := refundry.DecideRefund(sale, req, now)
					if err != nil {
						switch refundry.ErrorCode(err) {
						case refundry.EREFUNDED, refundry.ETOOLARGE, refundry.EINVALID:
							continue // nothing (or not that much) remains: refused, nothing changed
						}
						t.Fatalf("step %d: %+v: %v", step, req, err)
					}
					again, err := refundry.DecideRefund(sale, req, now)
					if err != nil || !sameRefunds(d.Refunds, again.Refunds) || !reflect.DeepEqual(d.Moves, again.Moves) {
						t.Fatalf("step %d: the same request decided twice differs: %v", step, err)
					}
					checkRefundLines(t, d.Refunds)
					if after := refundry.ApplyMovesForTest(sale, d.Moves); !reflect.DeepEqual(after, d.Sale) {
						t.Fatalf("step %d: the decision's sale is not its moves made", step)
					}
					sale = d.Sale
					held = append(held, d.Refunds...)
					made[requestKind(req)]++
				}
				checkLedger(t, sale)
				// Each line holds exactly what the refunds still reserving
				// put on it.
				onLine := map[string][2]int64{}
				for _, r := range held {
					for _, l := range r.Lines {
						x := onLine[l.LineItemID]
						onLine[l.LineItemID] = [2]int64{x[0] + l.Amount, x[1] + l.Quantity}
					}
				}
				for _, li := range sale.LineItems {
					if onLine[li.ID] != [2]int64{li.RefundedAmount, li.RefundedQuantity} {
						t.Fatalf("step %d: line %+v, its refunds hold %v", step, li, onLine[li.ID])
					}
				}
			}
			// Whatever happened, every unit left refunded one at a time and
			// then the rest by amount brings every line to its total.
			for _, li := range sale.LineItems {
				for li.RemainingQuantity() > 0 {
					req := refundry.RefundRequest{MerchantID: "m", Target: refundry.RefundTarget{SaleID: "s"},
						Lines: []refundry.LineRequest{{LineItemID: li.ID, Quantity: 1}}}
					d, err := refundry.DecideRefund(sale, req, now)
					if refundry.ErrorCode(err) == refundry.EREFUNDED {
						// Its money went back by amount already; the unit
						// returns with no money only alongside other lines.
						break
					}
					if err != nil {
						t.Fatalf("unit of %+v: %v", li, err)
					}
					sale = d.Sale
					li = sale.LineItems[slices.IndexFunc(sale.LineItems, func(x *refundry.LineItem) bool { return x.ID == li.ID })]
				}
			}
			if sale.Refundable() > 0 {
				d, err := refundry.DecideRefund(sale, refundry.RefundRequest{MerchantID: "m", Target: refundry.RefundTarget{SaleID: "s"}}, now)
				if err != nil {
					t.Fatal(err)
				}
				sale = d.Sale
			}
			checkLedger(t, sale)
			for _, li := range sale.LineItems {
				if li.RefundedAmount != li.Amount {
					t.Fatalf("line %+v not refunded in full at the end", li)
				}
			}
		})
	}
}

// checkRefundLines asserts each refund's lines add up to its amount.
func checkRefundLines(t *testing.T, rs []*refundry.Refund) {
	t.Helper()
	for _, r := range rs {
		var sum int64
		for _, l := range r.Lines {
			if l.Amount < 0 || l.Quantity < 0 {
				t.Fatalf("refund %+v has a negative line", r)
			}
			sum += l.Amount
		}
		if sum != r.Amount || len(r.Lines) == 0 {
			t.Fatalf("refund of %d has lines %+v adding up to %d", r.Amount, r.Lines, sum)
		}
	}
}

func sameRefunds(a, b []*refundry.Refund) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].TransactionID != b[i].TransactionID || a[i].Amount != b[i].Amount || !reflect.DeepEqual(a[i].Lines, b[i].Lines) {
			return false
		}
	}
	return true
}

func requestKind(req refundry.RefundRequest) string {
	switch {
	case req.Shipping != nil:
		return "shipping"
	case len(req.Lines) > 0 && req.Lines[0].Quantity > 0:
		return "units"
	case len(req.Lines) > 0:
		return "line amount"
	case req.Target.LineItemID != "":
		return "line item"
	case req.Target.TransactionID != "":
		return "transaction"
	}
	return "sale"
}
