package testenv

import (
	"context"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/sqlite"
)

// Rule is a policy change that sets a rule to v.
func Rule(v int64) refundry.Change[int64] { return refundry.Change[int64]{Set: true, Value: &v} }

// Threshold is a policy change that sets the approval threshold of one
// currency to v minor units.
func Threshold(currency string, v int64) refundry.Change[map[string]*int64] {
	m := map[string]*int64{currency: &v}
	return refundry.Change[map[string]*int64]{Set: true, Value: &m}
}

// Policy sets merchant m's refund policy through the engine, as
// POST /v1/refund_policy does, and returns it as stored.
func (e *Env) Policy(m *refundry.Merchant, c refundry.PolicyChange) *refundry.RefundPolicy {
	e.T.Helper()
	p, err := e.Engine.SetRefundPolicy(context.Background(), m.ID, c)
	if err != nil {
		e.T.Fatalf("set refund policy: %v", err)
	}
	return p
}

// Later moves the clocks of the engine and the store d ahead of where
// they are, so that what was recorded before is d older. Call it between
// requests, never during one.
func (e *Env) Later(d time.Duration) {
	e.T.Helper()
	st, ok := e.Store.(*sqlite.Store)
	if !ok {
		e.T.Fatalf("Later needs the SQLite store, not %T", e.Store)
	}
	engineNow, storeNow := e.Engine.Now, st.Now
	if storeNow == nil {
		storeNow = time.Now
	}
	e.Engine.Now = func() time.Time { return engineNow().Add(d) }
	st.Now = func() time.Time { return storeNow().Add(d) }
}

// Refunds returns every refund of the sale, newest first.
func (e *Env) Refunds(s *refundry.Sale) []*refundry.Refund {
	e.T.Helper()
	rs, _, err := e.Engine.ListRefunds(context.Background(), s.MerchantID, refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}, SaleID: s.ID})
	if err != nil {
		e.T.Fatal(err)
	}
	return rs
}

// Unchanged fails unless the sale is as it was before a refused request:
// the same amount refunded and refundable, and refunds refunds stored.
func (e *Env) Unchanged(before *refundry.Sale, refunds int) {
	e.T.Helper()
	after := e.Reload(before)
	if after.RefundedAmount != before.RefundedAmount || after.Refundable() != before.Refundable() {
		e.T.Fatalf("sale %s refunded %d (refundable %d), was %d (%d)", before.ID,
			after.RefundedAmount, after.Refundable(), before.RefundedAmount, before.Refundable())
	}
	if rs := e.Refunds(before); len(rs) != refunds {
		e.T.Fatalf("sale %s has %d refunds, want %d", before.ID, len(rs), refunds)
	}
}

// PartRefund refunds amount of the sale through the engine, as the
// native API would, and fails unless it is recorded.
func (e *Env) PartRefund(s *refundry.Sale, amount int64) *refundry.Refund {
	e.T.Helper()
	res, err := e.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: s.MerchantID,
		Target: refundry.RefundTarget{SaleID: s.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		e.T.Fatalf("refund %d of sale %s: %v", amount, s.ID, err)
	}
	return res.Refunds[0]
}

// Approve approves a refund that requires approval as a key other than
// any a test signs requests with, and returns it as the engine left it.
func (e *Env) Approve(r *refundry.Refund) *refundry.Refund {
	e.T.Helper()
	ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "approver-of-tests"})
	out, err := e.Engine.Approve(ctx, r.MerchantID, r.ID, "approved by a test")
	if err != nil {
		e.T.Fatalf("approve %s: %v", r.ID, err)
	}
	return out
}

// Review sends the refund r, which its gateway holds pending (a payment
// reference of simulator.PrefixPending), to manual review as recovery
// does once the review limits are spent, and returns it in review.
func (e *Env) Review(r *refundry.Refund) *refundry.Refund {
	e.T.Helper()
	ctx := context.Background()
	rule := e.Engine.Review
	e.Engine.Review = refundry.ReviewRule{Attempts: 1}
	defer func() { e.Engine.Review = rule }()
	for range 5 {
		// An hour ahead: past any backoff.
		if _, err := e.Engine.Recover(ctx, e.Engine.Now().Add(time.Hour), 100); err != nil {
			e.T.Fatal(err)
		}
		got, err := e.Engine.FindRefund(ctx, r.MerchantID, r.ID)
		if err != nil {
			e.T.Fatal(err)
		}
		if got.Status == refundry.RefundRequiresAction {
			return got
		}
	}
	e.T.Fatalf("refund %s never reached manual review", r.ID)
	return nil
}
