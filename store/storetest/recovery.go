package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// RunRecovery runs the tests of recovery's schedule (ClaimRefunds,
// DeferRefunds). Recovery reads the pending refunds of every merchant, so
// open must return a database of the test's own, empty, not one shared
// with other tests as Run allows.
func RunRecovery(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("Schedule", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		fresh := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		asked := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		settled := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		if _, err := s.SettleRefund(ctx, m.ID, settled.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.DeferRefunds(ctx, m.ID, []string{asked.ID, settled.ID}, now); err != nil {
			t.Fatal(err)
		}
		claim := func(due, at time.Time) []string {
			t.Helper()
			rs, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: due, Now: at, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Status != refundry.RefundPending {
					t.Fatalf("claimed a %s refund", r.Status)
				}
			}
			// Refunds due at one instant come in id order, and ids made in
			// one millisecond need not be in the order they were made.
			ids := refundIDs(rs)
			slices.Sort(ids)
			return ids
		}
		pair := []string{fresh.ID, asked.ID}
		slices.Sort(pair)
		// Never asked: due from its creation. Asked and still pending: due
		// after its backoff. Settled: never.
		checkIDs(t, claim(now, now), []string{fresh.ID})
		sameJSON(t, "claimed refund", mustFindRefund(t, s, m.ID, fresh.ID), fresh)
		checkIDs(t, claim(now, now), nil)
		b := refundry.RecoveryBackoffBase
		checkIDs(t, claim(now.Add(b-time.Millisecond), now), nil)
		// Both asked once at now: due together, then backed off twice as long.
		checkIDs(t, claim(now.Add(b), now.Add(b)), pair)
		checkIDs(t, claim(now.Add(b+2*b-time.Millisecond), now.Add(b)), nil)
		checkIDs(t, claim(now.Add(b+2*b), now.Add(b)), pair)
		// Another merchant's refund cannot be deferred through this one.
		other := MustCreateMerchant(t, s)
		theirs := MustRefund(t, s, SaleRefund(other.ID, MustCreateSale(t, s, other.ID).ID, Amount(100))).Refunds[0]
		if err := s.DeferRefunds(ctx, m.ID, []string{theirs.ID}, time.Now()); err != nil {
			t.Fatal(err)
		}
		checkIDs(t, claim(time.Now(), time.Now()), []string{theirs.ID})
	})

	// A claim counts the attempt it records; a refund waiting for a person
	// is never claimed; one sent back to recovery from review (or approved)
	// is due at once, its count started afresh.
	t.Run("AttemptsAndReview", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
		waiting := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 100)
		claim := func(at time.Time) []*refundry.Refund {
			t.Helper()
			rs, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: at, Now: at, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		now := time.Now()
		rs := claim(now)
		if len(rs) != 1 || rs[0].ID != r.ID || rs[0].Attempts != 1 {
			t.Fatalf("first claim = %v, want %s at attempt 1", rs, r.ID)
		}
		later := now.Add(refundry.RecoveryBackoffBase)
		if rs := claim(later); len(rs) != 1 || rs[0].Attempts != 2 {
			t.Fatalf("second claim = %v, want attempt 2", rs)
		}
		if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery,
			Note: "no answer"}); err != nil {
			t.Fatal(err)
		}
		far := now.Add(24 * time.Hour)
		if rs := claim(far); len(rs) != 0 {
			t.Fatalf("claimed refunds waiting for a person: %v", refundIDs(rs))
		}
		if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover,
			Actor: "user:someone", Note: "ask again"}); err != nil {
			t.Fatal(err)
		}
		// Due before the backoff its last claim set: the schedule restarted.
		if rs := claim(later); len(rs) != 1 || rs[0].ID != r.ID || rs[0].Attempts != 1 {
			t.Fatalf("claim after the retry = %v, want %s at attempt 1", rs, r.ID)
		}
		if _, err := s.SettleRefund(ctx, m.ID, waiting.ID, approve("user:someone")); err != nil {
			t.Fatal(err)
		}
		if rs := claim(later); len(rs) != 1 || rs[0].ID != waiting.ID || rs[0].Attempts != 1 {
			t.Fatalf("claim after the approval = %v, want %s at attempt 1", rs, waiting.ID)
		}
	})

	// A merchant with many due refunds takes an equal share of a pass, and
	// repeated passes walk past what they claimed: every due refund is
	// claimed once before any is claimed again.
	t.Run("FairAndExhaustive", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		big, small := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		bigIDs := pendingRefunds(t, s, big.ID, 30)
		smallIDs := pendingRefunds(t, s, small.ID, 2)
		now := time.Now()
		rs, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: now, Now: now, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, r := range rs {
			count[r.MerchantID]++
		}
		if count[small.ID] != 2 || count[big.ID] != 5 {
			t.Fatalf("first pass claimed %v of big %s, small %s; want 5 and 2", count, big.ID, small.ID)
		}
		if rs[0].MerchantID == rs[1].MerchantID {
			t.Fatalf("a pass's order is not round robin: %s then %s", rs[0].MerchantID, rs[1].MerchantID)
		}
		seen := map[string]int{}
		for _, r := range rs {
			seen[r.ID]++
		}
		for pass := 0; ; pass++ {
			rs, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: now, Now: now, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 0 {
				break
			}
			if pass > 10 {
				t.Fatal("claims never end")
			}
			for _, r := range rs {
				seen[r.ID]++
			}
		}
		for _, id := range append(bigIDs, smallIDs...) {
			if seen[id] != 1 {
				t.Errorf("refund %s claimed %d times, want once", id, seen[id])
			}
		}
	})

	// More merchants than a pass's limit: the longest waiting go first,
	// the others in the next pass.
	t.Run("ManyMerchants", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var ids []string
		for range 3 {
			ids = append(ids, pendingRefunds(t, s, MustCreateMerchant(t, s).ID, 1)...)
			time.Sleep(2 * time.Millisecond)
		}
		now := time.Now()
		first, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: now, Now: now, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, refundIDs(first), ids[:2])
		second, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: now, Now: now, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, refundIDs(second), ids[2:])
	})

	// Invariant 6: refunds a gateway holds pending, asked about already,
	// do not hide a refund a crash left unasked, however many there are.
	t.Run("UnaskedBehindLongPending", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		old := pendingRefunds(t, s, m.ID, 600)
		crashed := pendingRefunds(t, s, m.ID, 1)
		// Asked at the very time of the pass, so that however slowly the
		// refunds above were made, their backoff has not run out.
		now := time.Now()
		if err := s.DeferRefunds(ctx, m.ID, old, now); err != nil {
			t.Fatal(err)
		}
		rs, err := s.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: now, Now: now, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, refundIDs(rs), crashed)
	})
}

// pendingRefunds makes n pending refunds of 1 for the merchant, a few at a
// time so that a store's group commit takes them in batches, and returns
// their ids.
func pendingRefunds(t *testing.T, s refundry.Store, merchantID string, n int) []string {
	t.Helper()
	sale := MustCreateSale(t, s, merchantID, Lines(int64(n)+1000))
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				res, err := s.CreateRefunds(context.Background(), SaleRefund(merchantID, sale.ID, Amount(1)))
				if err != nil {
					errs <- err
					return
				}
				ids[i] = res.Refunds[0].ID
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

func mustFindRefund(t *testing.T, s refundry.Store, merchantID, id string) *refundry.Refund {
	t.Helper()
	r, err := s.FindRefund(context.Background(), merchantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
