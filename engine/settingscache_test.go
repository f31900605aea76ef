package engine_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/store/storetest"
)

// policyReads is a policy store that counts the reads refunds make.
type policyReads struct {
	refundry.PolicyStore
	reads atomic.Int64
}

func (p *policyReads) FindRefundPolicy(ctx context.Context, merchantID string) (*refundry.RefundPolicy, error) {
	p.reads.Add(1)
	return p.PolicyStore.FindRefundPolicy(ctx, merchantID)
}

// A refund reads its merchant's policy once per second per process, not
// on every request; a change applies from the next refund in the process
// that made it and within 1 s in another process on the same database
// (two engines, two stores, one SQLite file or one PostgreSQL database,
// one clock the test moves).
func TestRefundPolicyCache(t *testing.T) {
	for _, st := range openTwice {
		t.Run(st.name, func(t *testing.T) {
			ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "keysettings000000001", Method: "test"})
			sa, sb := st.open(t)
			c := &clock{now: time.Now()}
			open := func(s refundry.Store) (*engine.Engine, *policyReads) {
				stores := refundry.StoresOf(s)
				reads := &policyReads{PolicyStore: stores.Policies}
				stores.Policies = reads
				e := engine.NewStores(stores, slog.New(slog.NewTextHandler(io.Discard, nil)), simulator.New())
				e.Now = c.Now
				return e, reads
			}
			a, readsA := open(sa)
			b, readsB := open(sb)
			m := storetest.NewMerchant()
			if _, err := a.CreateMerchant(ctx, m); err != nil {
				t.Fatal(err)
			}
			sale := storetest.MustCreateSale(t, sa, m.ID)
			refund := func(e *engine.Engine, who, want string) {
				t.Helper()
				amount := int64(5)
				res, err := e.Refund(ctx, refundry.RefundRequest{MerchantID: m.ID,
					Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative})
				if err != nil {
					t.Fatalf("%s: Refund: %v", who, err)
				}
				if got := res.Refunds[0].Status; got != want {
					t.Fatalf("%s: refund is %s, want %s", who, got, want)
				}
			}
			for range 20 {
				refund(a, "A", refundry.RefundSucceeded)
				refund(b, "B", refundry.RefundSucceeded)
			}
			if ra, rb := readsA.reads.Load(), readsB.reads.Load(); ra != 1 || rb != 1 {
				t.Fatalf("20 refunds read the policy %d times in A, %d in B; want 1 each", ra, rb)
			}

			one := int64(1)
			if _, err := a.SetRefundPolicy(ctx, m.ID, refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{
				Set: true, Value: &map[string]*int64{sale.Currency: &one}}}); err != nil {
				t.Fatal(err)
			}
			refund(a, "A, which set the threshold", refundry.RefundRequiresApproval)
			c.add(time.Second - time.Nanosecond)
			refund(b, "B within the second (may still hold the old policy)", refundry.RefundSucceeded)
			c.add(time.Nanosecond)
			refund(b, "B a second later", refundry.RefundRequiresApproval)
		})
	}
}
