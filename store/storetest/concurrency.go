package storetest

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/refundry/refundry"
)

// testInvariant2 races many refunds at the store itself: whatever the
// interleaving, the sums reserved never exceed what was paid, and the
// stored sums equal the refunds accepted.
func testInvariant2(t *testing.T, open Opener) {
	const workers = 64

	t.Run("ConcurrentTransactionRefunds", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(10000), Payments(4000, 6000))
		tx := sale.Transactions[1]
		accepted := race(t, workers, func(rng *rand.Rand) refundry.RefundRequest {
			return TransactionRefund(m.ID, tx.ID, Amount(1+rng.Int64N(300)))
		}, s)
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.Transactions[1].RefundedAmount != accepted || accepted > tx.Amount {
			t.Fatalf("transaction refunded %d, accepted %d, paid %d", got.Transactions[1].RefundedAmount, accepted, tx.Amount)
		}
		if got.Transactions[0].RefundedAmount != 0 {
			t.Fatal("the other transaction was charged")
		}
		CheckInvariants(t, s, m.ID)
	})

	t.Run("ConcurrentLineItemRefunds", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		// Line items add up to the sale, so sale and transaction refunds
		// in the mix make the sale's cap bind before the line items' own.
		sale := MustCreateSale(t, s, m.ID, Lines(1500, 2500, 1000, 3000), Payments(3000, 5000))
		accepted := race(t, workers, func(rng *rand.Rand) refundry.RefundRequest {
			amount := Amount(1 + rng.Int64N(400))
			switch n := rng.IntN(10); {
			case n == 0:
				return SaleRefund(m.ID, sale.ID, amount)
			case n == 1:
				return TransactionRefund(m.ID, sale.Transactions[rng.IntN(2)].ID, amount)
			default:
				req := LineItemRefund(m.ID, sale.LineItems[rng.IntN(len(sale.LineItems))].ID, amount)
				req.Offsite = rng.IntN(2) == 0
				return req
			}
		}, s)
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.RefundedAmount != accepted || accepted > sale.Amount {
			t.Fatalf("sale refunded %d, accepted %d, paid %d", got.RefundedAmount, accepted, sale.Amount)
		}
		CheckInvariants(t, s, m.ID)
	})
}

// race runs n concurrent CreateRefunds built by next and returns the sum of
// the amounts accepted. Refusals for lack of money are expected; any other
// error fails the test.
func race(t *testing.T, n int, next func(*rand.Rand) refundry.RefundRequest, s refundry.Store) int64 {
	t.Helper()
	var (
		mu       sync.Mutex
		accepted int64
		wg       sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for range 4 {
				res, err := s.CreateRefunds(context.Background(), next(rng))
				switch refundry.ErrorCode(err) {
				case "":
					mu.Lock()
					for _, r := range res.Refunds {
						accepted += r.Amount
					}
					mu.Unlock()
				case refundry.ETOOLARGE, refundry.EREFUNDED:
				default:
					t.Errorf("CreateRefunds: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	return accepted
}
