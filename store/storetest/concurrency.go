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
// stored sums equal the refunds accepted and not released.
func testInvariant2(t *testing.T, open Opener) {
	const workers = 64

	t.Run("ConcurrentTransactionRefunds", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(10000), Payments(4000, 6000))
		tx := sale.Transactions[1]
		reserved := race(t, s, workers, false, func(rng *rand.Rand) refundry.RefundRequest {
			return TransactionRefund(m.ID, tx.ID, Amount(1+rng.Int64N(300)))
		})
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.Transactions[1].RefundedAmount != reserved || reserved > tx.Amount {
			t.Fatalf("transaction refunded %d, accepted %d, paid %d", got.Transactions[1].RefundedAmount, reserved, tx.Amount)
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
		// in the mix make the sale's cap bind before the line items' own;
		// settlements that release money race the reservations.
		sale := MustCreateSale(t, s, m.ID, Lines(1500, 2500, 1000, 3000), Payments(3000, 5000))
		reserved := race(t, s, workers, true, func(rng *rand.Rand) refundry.RefundRequest {
			amount := Amount(1 + rng.Int64N(400))
			switch n := rng.IntN(10); {
			case n == 0:
				return SaleRefund(m.ID, sale.ID, amount)
			case n == 1:
				return TransactionRefund(m.ID, sale.Transactions[rng.IntN(2)].ID, amount)
			default:
				req := LineItemRefund(m.ID, sale.LineItems[rng.IntN(len(sale.LineItems))].ID, amount)
				req.Offsite = rng.IntN(4) == 0
				return req
			}
		})
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.RefundedAmount != reserved || reserved > sale.Amount {
			t.Fatalf("sale refunded %d, accepted %d, paid %d", got.RefundedAmount, reserved, sale.Amount)
		}
		CheckInvariants(t, s, m.ID)
	})

	// Invariant 4 under concurrency: retries of one request racing each
	// other move the money once. A loser may be answered with the replay
	// or, while the first is in flight, with ECONFLICT; nothing else.
	t.Run("ConcurrentIdempotentRetries", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
		req := SaleRefund(m.ID, sale.ID, Amount(1200))
		req.Idempotency = idem("retry")
		var (
			mu    sync.Mutex
			fresh int
			ids   = map[string]bool{}
			wg    sync.WaitGroup
		)
		for range 16 {
			wg.Go(func() {
				res, err := s.CreateRefunds(context.Background(), req)
				if refundry.ErrorCode(err) == refundry.ECONFLICT {
					return
				}
				if err != nil {
					t.Errorf("CreateRefunds: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if !res.Replayed {
					fresh++
				}
				for _, r := range res.Refunds {
					ids[r.ID] = true
				}
			})
		}
		wg.Wait()
		if fresh != 1 || len(ids) != 2 {
			t.Fatalf("%d requests were not replays and %d refunds were seen; want 1 and 2", fresh, len(ids))
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 1200 {
			t.Fatalf("sale refunded %d, want 1200 once", got.RefundedAmount)
		}
		CheckInvariants(t, s, m.ID)
	})
}

// race runs n workers, each making a few CreateRefunds built by next, and
// returns the sum of the amounts accepted and still reserved. With settle,
// workers also settle some of their refunds, releasing the failed and the
// canceled. Refusals for lack of money are expected; any other error fails
// the test.
func race(t *testing.T, s refundry.Store, n int, settle bool, next func(*rand.Rand) refundry.RefundRequest) int64 {
	t.Helper()
	var (
		mu       sync.Mutex
		reserved int64
		wg       sync.WaitGroup
	)
	statuses := []string{refundry.RefundSucceeded, refundry.RefundFailed, refundry.RefundCanceled}
	for i := range n {
		wg.Go(func() {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for range 4 {
				res, err := s.CreateRefunds(ctx, next(rng))
				switch refundry.ErrorCode(err) {
				case "":
				case refundry.ETOOLARGE, refundry.EREFUNDED:
					continue
				default:
					t.Errorf("CreateRefunds: %v", err)
					return
				}
				var amount int64
				for _, r := range res.Refunds {
					amount += r.Amount
					if !settle || r.Status != refundry.RefundPending || rng.IntN(3) != 0 {
						continue
					}
					st := statuses[rng.IntN(len(statuses))]
					if _, err := s.SettleRefund(ctx, r.MerchantID, r.ID, refundry.Settlement{Status: st}); err != nil {
						t.Errorf("SettleRefund: %v", err)
						return
					}
					if st != refundry.RefundSucceeded {
						amount -= r.Amount
					}
				}
				mu.Lock()
				reserved += amount
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return reserved
}
