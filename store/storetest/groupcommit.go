package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/refundry/refundry"
)

// GroupCommit checks a store's group commit: requests forced into one batch
// (gather(n) must make the store's next batch wait for n writes) each get
// their own answer, the failures among them (an over-refund, a missing
// sale, a reused Idempotency-Key, a settlement of a final refund) change
// nothing and fail no neighbour, and the store ends exact (invariant 2).
// Requests of one batch see each other's writes: two refunds that together
// exceed a sale are one accepted and one refused, whatever their order.
// Each write carries an actor: the ones that succeed leave their audit rows,
// the refused ones none, whatever their neighbours did.
func GroupCommit(t *testing.T, s refundry.Store, gather func(n int)) {
	ctx := context.Background()
	m := MustCreateMerchant(t, s)
	exact := MustCreateSale(t, s, m.ID, Lines(1000))     // 400 + 600 pass
	over := MustCreateSale(t, s, m.ID, Lines(1000))      // 1001 is refused
	contested := MustCreateSale(t, s, m.ID, Lines(1000)) // 600 + 600: one passes
	keyed := MustCreateSale(t, s, m.ID, Lines(1000))     // one key, two bodies
	settled := MustCreateSale(t, s, m.ID, Lines(1000))
	toSettle := MustRefund(t, s, SaleRefund(m.ID, settled.ID, Amount(100))).Refunds[0]
	final := MustRefund(t, s, SaleRefund(m.ID, settled.ID, Amount(100))).Refunds[0]
	if _, err := s.SettleRefund(ctx, m.ID, final.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
		t.Fatal(err)
	}

	key := "key-" + refundry.NewID()
	keyedA := SaleRefund(m.ID, keyed.ID, Amount(100))
	keyedA.Idempotency = &refundry.Idempotency{Key: key, Hash: "a"}
	keyedB := SaleRefund(m.ID, keyed.ID, Amount(200))
	keyedB.Idempotency = &refundry.Idempotency{Key: key, Hash: "b"}

	type outcome struct {
		res *refundry.RefundResult
		r   *refundry.Refund
		err error
	}
	var writes []func() outcome
	keyID := refundry.NewID()
	// write i runs as request w<i>, so its audit rows can be told apart.
	actor := func() context.Context {
		return refundry.WithActor(ctx, refundry.Actor{KeyID: keyID, RequestID: fmt.Sprintf("w%d", len(writes))})
	}
	refund := func(req refundry.RefundRequest) {
		actx := actor()
		writes = append(writes, func() outcome {
			res, err := s.CreateRefunds(actx, req)
			return outcome{res: res, err: err}
		})
	}
	settle := func(id, status string) {
		actx := actor()
		writes = append(writes, func() outcome {
			r, err := s.SettleRefund(actx, m.ID, id, refundry.Settlement{Status: status})
			return outcome{r: r, err: err}
		})
	}
	refund(SaleRefund(m.ID, exact.ID, Amount(400)))     // 0
	refund(SaleRefund(m.ID, exact.ID, Amount(600)))     // 1
	refund(SaleRefund(m.ID, over.ID, Amount(1001)))     // 2
	refund(SaleRefund(m.ID, contested.ID, Amount(600))) // 3
	refund(SaleRefund(m.ID, contested.ID, Amount(600))) // 4
	refund(SaleRefund(m.ID, "sale_missing", Amount(1))) // 5
	refund(keyedA)                                      // 6
	refund(keyedB)                                      // 7
	settle(toSettle.ID, refundry.RefundSucceeded)       // 8
	settle(final.ID, refundry.RefundSucceeded)          // 9
	refund(SaleRefund(m.ID, over.ID, Amount(1)))        // 10

	gather(len(writes))
	got := make([]outcome, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() { got[i] = w() })
	}
	wg.Wait()

	for _, i := range []int{0, 1, 10} {
		if got[i].err != nil {
			t.Errorf("write %d: %v, want success", i, got[i].err)
		}
	}
	wantCode(t, got[2].err, refundry.ETOOLARGE)
	wantCode(t, got[5].err, refundry.ENOTFOUND)
	if got[8].err != nil || got[8].r.Status != refundry.RefundSucceeded {
		t.Errorf("settling a pending refund in a batch: %+v, %v", got[8].r, got[8].err)
	}
	wantCode(t, got[9].err, refundry.ECONFLICT)
	if (got[3].err == nil) == (got[4].err == nil) {
		t.Errorf("two refunds of 600 on a sale of 1000 in one batch: errors %v and %v, want exactly one refused", got[3].err, got[4].err)
	}
	for _, i := range []int{3, 4} {
		if c := refundry.ErrorCode(got[i].err); got[i].err != nil && c != refundry.ETOOLARGE {
			t.Errorf("contested refund %d: %v, want ETOOLARGE", i, got[i].err)
		}
	}
	if (got[6].err == nil) == (got[7].err == nil) {
		t.Errorf("one key with two bodies in one batch: errors %v and %v, want exactly one refused", got[6].err, got[7].err)
	}
	for _, i := range []int{6, 7} {
		if c := refundry.ErrorCode(got[i].err); got[i].err != nil && c != refundry.EIDEMPOTENCY {
			t.Errorf("keyed refund %d: %v, want EIDEMPOTENCY", i, got[i].err)
		}
	}
	// Every answered refund is stored; every refused one left nothing.
	for i, o := range got {
		if o.res == nil {
			continue
		}
		for _, r := range o.res.Refunds {
			if _, err := s.FindRefund(ctx, m.ID, r.ID); err != nil {
				t.Errorf("write %d: refund %s was answered but is not stored: %v", i, r.ID, err)
			}
		}
	}
	want := map[string]int64{
		exact.ID:     1000,
		over.ID:      1,
		contested.ID: 600,
		keyed.ID:     map[bool]int64{true: 100, false: 200}[got[6].err == nil],
		settled.ID:   100, // toSettle succeeded; final failed and released
	}
	for id, amount := range want {
		if sale := MustFindSale(t, s, m.ID, id); sale.RefundedAmount != amount {
			t.Errorf("sale %s refunded %d, want %d", id, sale.RefundedAmount, amount)
		}
	}
	CheckInvariants(t, s, m.ID)

	entries := ListAllAudit(t, s, m.ID, refundry.AuditFilter{KeyID: keyID})
	byRequest := map[string][]*refundry.AuditEntry{}
	for _, e := range entries {
		byRequest[e.Actor.RequestID] = append(byRequest[e.Actor.RequestID], e)
	}
	for i, o := range got {
		rows := byRequest[fmt.Sprintf("w%d", i)]
		switch {
		case o.err != nil:
			if len(rows) != 0 {
				t.Errorf("write %d was refused (%v) but left audit rows %+v", i, o.err, rows)
			}
		case o.res != nil:
			if len(rows) != len(o.res.Refunds) {
				t.Fatalf("write %d made %d refunds and %d audit rows", i, len(o.res.Refunds), len(rows))
			}
			for _, e := range rows {
				if e.Action != refundry.AuditRefundCreate || e.Result != refundry.AuditSucceeded || e.ObjectID == "" {
					t.Errorf("write %d: audit row %+v", i, e)
				}
			}
		default:
			if len(rows) != 1 || rows[0].Action != refundry.AuditRefundSettle || rows[0].ObjectID != o.r.ID {
				t.Errorf("settlement %d: audit rows %+v", i, rows)
			}
		}
	}
}
