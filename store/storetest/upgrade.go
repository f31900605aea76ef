package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// CheckUpgrade0012 asserts the upgrade to 0012 of the database both
// stores' migration tests make before it (merchant m1, sale s1 of lines
// l1-l3, refunds r1-r5): 1301 of sale and transaction refunds over lines
// remaining 600, 1500 and 500 is 300.23, 750.58 and 250.19, so 300, 751
// (the largest remainder) and 250; laid end to end, r2's 1001 takes l1's
// 300 and 701 of l2, r3's 300 the other 50 of l2 and l3's 250.
func CheckUpgrade0012(t testing.TB, s refundry.Store) {
	t.Helper()
	ctx := context.Background()
	sale, err := s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{700, 751, 250} {
		li := sale.LineItems[i]
		if li.RefundedAmount != want || li.Kind != refundry.LineProduct || li.TaxAmount != 0 || li.RefundedQuantity != 0 {
			t.Fatalf("line %s after 0012 = %+v, want %d refunded", li.ID, li, want)
		}
	}
	rl := func(id string, a int64) refundry.RefundLine { return refundry.RefundLine{LineItemID: id, Amount: a} }
	for id, want := range map[string][]refundry.RefundLine{
		"r1": {rl("l1", 400)},
		"r2": {rl("l1", 300), rl("l2", 701)},
		"r3": {rl("l2", 50), rl("l3", 250)},
		"r4": {},
		"r5": {rl("l2", 200)},
	} {
		r, err := s.FindRefund(ctx, "m1", id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Lines, want) {
			t.Fatalf("refund %s lines = %+v, want %+v", id, r.Lines, want)
		}
	}
	CheckInvariants(t, s, "m1")
	// The pending sale refund fails: exactly its backfilled lines go back.
	if _, err := s.SettleRefund(ctx, "m1", "r2", refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
		t.Fatal(err)
	}
	sale, err = s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if a, b, c := sale.LineItems[0].RefundedAmount, sale.LineItems[1].RefundedAmount, sale.LineItems[2].RefundedAmount; a != 400 || b != 50 || c != 250 {
		t.Fatalf("after r2 failed, lines refunded %d, %d, %d; want 400, 50, 250", a, b, c)
	}
	CheckInvariants(t, s, "m1")
	// Units refund after the upgrade: one widget of 5.00 with 6.00 left on its line.
	res, err := s.CreateRefunds(ctx, refundry.RefundRequest{MerchantID: "m1", Target: refundry.RefundTarget{SaleID: "s1"},
		Lines: []refundry.LineRequest{{LineItemID: "l1", Quantity: 1}}, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	if li := res.Sale.LineItems[0]; li.RefundedAmount != 900 || li.RefundedQuantity != 1 {
		t.Fatalf("after one unit: %+v", li)
	}
	CheckInvariants(t, s, "m1")
}

// CheckUpgrade0015 asserts the upgrade to 0015 of the database both
// stores' migration tests make before it: merchant m1, sale s1 of 1000
// (line l1, payment t1) with 400 refunded, refunds r1 (300, pending, on
// l1), r2 (100, succeeded, on l1) and r3 (200, failed), API keys k1, k2
// and k3 scoped read, refund and write, and audit entry a1. Every row is
// kept as it was, the new columns are empty, and the new statuses and
// scope are accepted.
func CheckUpgrade0015(t testing.TB, s refundry.Store) {
	t.Helper()
	ctx := context.Background()
	for id, want := range map[string]struct {
		status string
		amount int64
		lines  []refundry.RefundLine
	}{
		"r1": {refundry.RefundPending, 300, []refundry.RefundLine{{LineItemID: "l1", Amount: 300}}},
		"r2": {refundry.RefundSucceeded, 100, []refundry.RefundLine{{LineItemID: "l1", Amount: 100}}},
		"r3": {refundry.RefundFailed, 200, []refundry.RefundLine{}},
	} {
		r, err := s.FindRefund(ctx, "m1", id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != want.status || r.Amount != want.amount || !reflect.DeepEqual(r.Lines, want.lines) ||
			r.SaleID != "s1" || r.TransactionID != "t1" || r.Gateway != "simulator" || r.Description != "kept" {
			t.Fatalf("refund %s after 0015 = %+v", id, r)
		}
		if r.RequestedBy != "" || r.DecidedBy != "" || r.DecisionNote != "" || r.ReviewReason != "" || !r.ApprovalExpires.IsZero() {
			t.Fatalf("refund %s after 0015 has controls it never had: %+v", id, r)
		}
	}
	for id, scope := range map[string]refundry.Scope{"k1": refundry.ScopeRead, "k2": refundry.ScopeRefund, "k3": refundry.ScopeWrite} {
		k, err := s.FindAPIKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Scope != scope || k.MerchantID != "m1" || string(k.Hash) != "hash-"+id || k.Name != "key "+id {
			t.Fatalf("key %s after 0015 = %+v", id, k)
		}
	}
	entries := ListAllAudit(t, s, "m1", refundry.AuditFilter{})
	if len(entries) != 1 || entries[0].ID != "a1" || entries[0].Actor.KeyID != "k3" || entries[0].Actor.UserID != "" || entries[0].Note != "" {
		t.Fatalf("audit log after 0015 = %+v", entries)
	}
	CheckInvariants(t, s, "m1")

	// What 0015 lets in: a key scoped approve, a policy, a user, and a
	// refund awaiting approval, approved.
	key, _ := refundry.NewAPIKey("m1", time.Now())
	key.Scope = refundry.ScopeApprove
	if err := s.CreateAPIKey(ctx, key); err != nil {
		t.Fatalf("a key scoped approve: %v", err)
	}
	if k, err := s.FindAPIKey(ctx, key.ID); err != nil || k.Scope != refundry.ScopeApprove {
		t.Fatalf("key scoped approve = %+v, %v", k, err)
	}
	if err := s.PutRefundPolicy(ctx, &refundry.RefundPolicy{MerchantID: "m1", ApprovalThreshold: map[string]int64{"USD": 0}}); err != nil {
		t.Fatal(err)
	}
	u := &refundry.User{MerchantID: "m1", Name: "Ana", Email: "ana@example.com", Role: refundry.RoleApprover, PasswordHash: []byte("h")}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	r := MustRefundAwaitingApproval(t, s, "m1", "s1", 100)
	if _, err := s.SettleRefund(ctx, "m1", r.ID, approve("user:"+u.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SettleRefund(ctx, "m1", "r1", refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
		t.Fatal(err)
	}
	if sale, err := s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"}); err != nil || sale.RefundedAmount != 200 {
		t.Fatalf("sale after 0015, an approval and a failure = %+v, %v; want 200 refunded", sale, err)
	}
	CheckInvariants(t, s, "m1")
}

// CheckUpgrade0016 checks a store opened on a database migrated before
// 0016 whose merchant m1 has sale s1 (line l1, payment t1) and webhook
// endpoint w1: the payment names no account, the line no gateway id, the
// endpoint is still the merchant's webhook, and accounts can be made.
func CheckUpgrade0016(t testing.TB, s refundry.Store) {
	t.Helper()
	ctx := context.Background()
	sale, err := s.FindSale(ctx, "m1", refundry.SaleLookup{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if sale.Transactions[0].GatewayAccount != "" || sale.LineItems[0].GatewayLineID != "" {
		t.Fatalf("sale after 0016 = payment %+v, line %+v", sale.Transactions[0], sale.LineItems[0])
	}
	es, _, err := s.ListWebhookEndpoints(ctx, "m1", refundry.Page{})
	if err != nil || len(es) != 1 || es[0].ID != "w1" || es[0].GatewayAccount != "" {
		t.Fatalf("webhook endpoints after 0016 = %+v, %v", es, err)
	}
	a := NewAccount("m1", refundry.KindPayop)
	if err := s.CreateGatewayAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if as, err := s.ListGatewayAccounts(ctx, "m1"); err != nil || len(as) != 1 || as[0].ID != a.ID {
		t.Fatalf("accounts after 0016 = %+v, %v", as, err)
	}
}
