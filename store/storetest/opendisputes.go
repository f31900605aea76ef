package storetest

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
)

// testOpenDisputes checks CountOpenDisputes counts every merchant's open
// disputes. The database may be shared with other tests, so it checks
// what this test adds to the count: two open disputes add at least two;
// where no other test writes at the same time, the won and the lost one
// add nothing, and closing an open one takes one off.
func testOpenDisputes(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	count := func() int64 {
		t.Helper()
		n, err := s.CountOpenDisputes(ctx)
		if err != nil {
			t.Fatalf("CountOpenDisputes: %v", err)
		}
		return n
	}
	before := count()
	type dispute struct{ charge, id string }
	var opened []dispute
	for _, st := range []string{refundry.DisputeNeedsResponse, refundry.DisputeWarningUnderReview, refundry.DisputeWon, refundry.DisputeLost} {
		m := MustCreateMerchant(t, s)
		_, charge := stripeSale(t, s, m.ID)
		id := "dp_" + refundry.NewID()
		mustApplyDispute(t, s, disputeReport(charge, id, st, 1000), refundry.OutcomeDispute)
		if refundry.DisputeOpen(st) {
			opened = append(opened, dispute{charge, id})
		}
	}
	after := count()
	if after < before+2 {
		t.Fatalf("CountOpenDisputes = %d after two open disputes, was %d", after, before)
	}
	if shared := after != before+2; shared {
		t.Logf("CountOpenDisputes moved by %d with other tests writing; the won and lost ones are not checked", after-before)
		return
	}
	mustApplyDispute(t, s, disputeReport(opened[0].charge, opened[0].id, refundry.DisputeWon, 1000), refundry.OutcomeDispute)
	if got := count(); got >= after {
		t.Fatalf("CountOpenDisputes = %d after an open dispute was won, was %d", got, after)
	}
}
