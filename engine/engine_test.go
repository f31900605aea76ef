package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

func refund(t *testing.T, env *testenv.Env, target refundry.RefundTarget, amount int64) (*refundry.RefundResult, error) {
	t.Helper()
	req := refundry.RefundRequest{MerchantID: env.A.ID, Target: target, Source: refundry.SourceNative}
	if amount > 0 {
		req.Amount = &amount
	}
	return env.Engine.Refund(context.Background(), req)
}

// A gateway that does not answer in time leaves the refund pending, never
// failed by guess; once the gateway answers, recovery settles it
// (invariant 6).
func TestGatewayTimeoutLeavesPendingUntilRecovery(t *testing.T) {
	env := testenv.New(t)
	env.Engine.GatewayTimeout = 50 * time.Millisecond
	sale := env.Sale(testenv.SaleSpec{PayRefs: []string{"sim_hang"}})
	res, err := refund(t, env, refundry.RefundTarget{SaleID: sale.ID}, 700)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Refunds[0]
	if r.Status != refundry.RefundPending {
		t.Fatalf("status after a timeout = %s, want pending", r.Status)
	}
	if got := env.Reload(sale).RefundedAmount; got != 700 {
		t.Fatalf("a pending refund must keep its amount reserved: refunded %d", got)
	}
	// Recovery while the gateway still hangs settles nothing. (Recovery
	// looks an hour ahead: past any backoff set by an earlier question.)
	n, err := env.Engine.Recover(context.Background(), time.Now().Add(time.Hour), 10)
	if err != nil || n != 0 {
		t.Fatalf("Recover while hanging = %d, %v", n, err)
	}
	// Once the gateway answers, recovery settles it, moving the money once.
	env.Sim.Answer()
	if n, err := env.Engine.Recover(context.Background(), time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("Recover once answering = %d, %v", n, err)
	}
	got, err := env.Store.FindRefund(context.Background(), env.A.ID, r.ID)
	if err != nil || got.Status != refundry.RefundSucceeded || env.Sim.Moved(r.ID) != 700 {
		t.Fatalf("after recovery: %+v, %v, moved %d", got, err, env.Sim.Moved(r.ID))
	}
}

func TestRecoverySettlesTimedPending(t *testing.T) {
	env := testenv.New(t)
	// The simulator's clock, not the wall's, decides when the delay has
	// passed, so a slow machine cannot settle the refund early.
	var simNow atomic.Int64
	simNow.Store(time.Now().Add(-time.Hour).UnixNano())
	env.Sim.Now = func() time.Time { return time.Unix(0, simNow.Load()) }
	sale := env.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_500ms"}})
	res, err := refund(t, env, refundry.RefundTarget{SaleID: sale.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Refunds[0].ID
	if res.Refunds[0].Status != refundry.RefundPending {
		t.Fatalf("status before the delay = %s", res.Refunds[0].Status)
	}
	// Recovery looks an hour ahead: past the backoff the gateway's pending
	// answers set.
	if n, err := env.Engine.Recover(context.Background(), time.Now().Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("Recover before the delay = %d, %v", n, err)
	}
	simNow.Store(time.Now().Add(time.Second).UnixNano())
	n, err := env.Engine.Recover(context.Background(), time.Now().Add(time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	got, err := env.Store.FindRefund(context.Background(), env.A.ID, id)
	if err != nil || got.Status != refundry.RefundSucceeded {
		t.Fatalf("refund after recovery: %+v, %v", got, err)
	}
	// Asked again, the gateway moves the money once.
	if n, _ := env.Engine.Recover(context.Background(), time.Now().Add(time.Hour), 10); n != 0 {
		t.Fatalf("second recovery settled %d", n)
	}
	if moved := env.Sim.Moved(id); moved != sale.Amount {
		t.Fatalf("simulator moved %d, want %d", moved, sale.Amount)
	}
}

func TestRefundOrigin(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := env.Sale(testenv.SaleSpec{Reference: "ORDER-7"})
	ref := &refundry.Referral{MerchantID: env.A.ID, OriginSlug: "ORDER-7", Currency: "USD",
		Advocate: refundry.Person{Email: "a@example.com"}, Friend: refundry.Person{Email: "f@example.com"}}
	if _, err := env.Engine.CreateReferral(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	t.Run("Purchase", func(t *testing.T) {
		got, err := env.Engine.RefundOrigin(ctx, env.A.ID, "ORDER-7", refundry.SourceTalkable, time.Now(), nil)
		if err != nil || got == nil || got.Status != refundry.ReferralVoided {
			t.Fatalf("RefundOrigin = %+v, %v", got, err)
		}
		if s := env.Reload(sale); s.Status != refundry.PaymentRefunded {
			t.Fatalf("sale status %s", s.Status)
		}
		again, err := env.Engine.RefundOrigin(ctx, env.A.ID, "ORDER-7", refundry.SourceTalkable, time.Now(), nil)
		if err != nil || again.ID != got.ID || again.Status != refundry.ReferralVoided {
			t.Fatalf("repeat = %+v, %v", again, err)
		}
	})
	t.Run("RefundedElsewhereFirst", func(t *testing.T) {
		s := env.Sale(testenv.SaleSpec{Reference: "ORDER-8"})
		r := &refundry.Referral{MerchantID: env.A.ID, OriginSlug: "ORDER-8", Currency: "USD",
			Advocate: refundry.Person{Email: "a@example.com"}, Friend: refundry.Person{Email: "f@example.com"}}
		if _, err := env.Engine.CreateReferral(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := refund(t, env, refundry.RefundTarget{SaleID: s.ID}, 0); err != nil {
			t.Fatal(err)
		}
		got, err := env.Engine.RefundOrigin(ctx, env.A.ID, "ORDER-8", refundry.SourceTalkable, time.Now(), nil)
		if err != nil || got.Status != refundry.ReferralVoided {
			t.Fatalf("RefundOrigin = %+v, %v", got, err)
		}
	})
	t.Run("Event", func(t *testing.T) {
		r := &refundry.Referral{MerchantID: env.A.ID, OriginSlug: "newsletter_subscription:42", Currency: "USD",
			Advocate: refundry.Person{Email: "a@example.com"}, Friend: refundry.Person{Email: "f@example.com"}}
		if _, err := env.Engine.CreateReferral(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		got, err := env.Engine.RefundOrigin(ctx, env.A.ID, "newsletter_subscription:42", refundry.SourceTalkable, time.Now(), nil)
		if err != nil || got.Status != refundry.ReferralVoided {
			t.Fatalf("RefundOrigin = %+v, %v", got, err)
		}
	})
	t.Run("PurchaseWithoutReferral", func(t *testing.T) {
		s := env.Sale(testenv.SaleSpec{Reference: "ORDER-9"})
		got, err := env.Engine.RefundOrigin(ctx, env.A.ID, "ORDER-9", refundry.SourceTalkable, time.Now(), nil)
		if err != nil || got != nil {
			t.Fatalf("RefundOrigin = %+v, %v", got, err)
		}
		if env.Reload(s).Status != refundry.PaymentRefunded {
			t.Fatal("purchase not refunded")
		}
	})
	t.Run("ErrDeclined", func(t *testing.T) {
		env.Sale(testenv.SaleSpec{Reference: "ORDER-10", PayRefs: []string{"sim_fail-origin"}})
		_, err := env.Engine.RefundOrigin(ctx, env.A.ID, "ORDER-10", refundry.SourceTalkable, time.Now(), nil)
		if refundry.ErrorCode(err) != refundry.EGATEWAY || !strings.Contains(refundry.ErrorMessage(err), "declined") {
			t.Fatalf("RefundOrigin of a declined purchase: %v", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for _, slug := range []string{"NO-SUCH", "newsletter_subscription:999"} {
			if _, err := env.Engine.RefundOrigin(ctx, env.A.ID, slug, refundry.SourceTalkable, time.Now(), nil); refundry.ErrorCode(err) != refundry.ENOTFOUND {
				t.Fatalf("%s: %v", slug, err)
			}
		}
		// Another merchant's origin is missing for B.
		if _, err := env.Engine.RefundOrigin(ctx, env.B.ID, "ORDER-7", refundry.SourceTalkable, time.Now(), nil); refundry.ErrorCode(err) != refundry.ENOTFOUND {
			t.Fatalf("B refunding A's origin: %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	m, key, err := env.Engine.Authenticate(ctx, env.KeyA)
	if err != nil || m.ID != env.A.ID || key.Scope != refundry.ScopeWrite {
		t.Fatalf("Authenticate(A) = %v, %v, %v", m, key, err)
	}
	id, _, _ := refundry.ParseAPIKey(env.KeyA)
	// Each way to fail says which: no key, or a key that matches none.
	// An id that exists with a wrong secret reads like one that does not
	// (invariant 5: no one learns another merchant's key ids).
	if _, _, err := env.Engine.Authenticate(ctx, ""); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED || refundry.ErrorMessage(err) != refundry.MsgNoAPIKey {
		t.Errorf("Authenticate(no key) = %v, want %q", err, refundry.MsgNoAPIKey)
	}
	for _, bad := range []string{"Bearer x", env.KeyA + "x", "rfk_" + id + "_" + "AAAA", "rfk_" + refundry.NewID() + "_AAAA", env.KeyA[:len(env.KeyA)-1]} {
		if _, _, err := env.Engine.Authenticate(ctx, bad); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED || refundry.ErrorMessage(err) != refundry.MsgUnknownAPIKey {
			t.Errorf("Authenticate(%q) = %v, want EUNAUTHORIZED %q", bad, err, refundry.MsgUnknownAPIKey)
		}
	}
	second, text, err := env.Engine.CreateAPIKey(ctx, env.A.ID, engine.KeySpec{Name: "ci", Scope: refundry.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if m, k, err := env.Engine.Authenticate(ctx, text); err != nil || m.ID != env.A.ID || k.Scope != refundry.ScopeRead || k.Name != "ci" {
		t.Fatalf("second key: %v, %+v, %v", m, k, err)
	}
	if _, err := env.Engine.RevokeAPIKey(ctx, env.A.ID, second.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Engine.Authenticate(ctx, text); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED || !strings.Contains(refundry.ErrorMessage(err), "revoked") {
		t.Fatalf("revoked key: %v, want EUNAUTHORIZED saying it was revoked", err)
	}
	// Revoked is told only to the holder of the secret.
	if _, _, err := env.Engine.Authenticate(ctx, wrongSecret(text)); refundry.ErrorMessage(err) != refundry.MsgUnknownAPIKey {
		t.Fatalf("revoked key with a wrong secret: %v, want %q", err, refundry.MsgUnknownAPIKey)
	}
	_, text, err = env.Engine.CreateAPIKey(ctx, env.A.ID, engine.KeySpec{Name: "brief", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	env.Engine.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if _, _, err := env.Engine.Authenticate(ctx, text); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED || !strings.Contains(refundry.ErrorMessage(err), "expired") {
		t.Fatalf("expired key: %v, want EUNAUTHORIZED saying it expired", err)
	}
	for _, spec := range []engine.KeySpec{{Scope: "admin"}, {Name: "x", Expires: time.Now().Add(-time.Hour)}, {Name: "\x00"}} {
		if _, _, err := env.Engine.CreateAPIKey(ctx, env.A.ID, spec); refundry.ErrorCode(err) != refundry.EINVALID {
			t.Errorf("CreateAPIKey(%+v) = %v, want EINVALID", spec, err)
		}
	}
}

// wrongSecret is key text with its last character changed.
func wrongSecret(text string) string {
	last := "A"
	if strings.HasSuffix(text, "A") {
		last = "B"
	}
	return text[:len(text)-1] + last
}

// countingObserver counts gateway calls by operation.
type countingObserver struct {
	calls map[string]int
}

func (o *countingObserver) RefundCreated(*refundry.Refund)                {}
func (o *countingObserver) RefundSettled(*refundry.Refund)                {}
func (o *countingObserver) RecoveryPass(int, error)                       {}
func (o *countingObserver) RefundReviewed(*refundry.Refund)               {}
func (o *countingObserver) GatewayReport(string, string)                  {}
func (o *countingObserver) ReconciliationRun(*refundry.ReconciliationRun) {}
func (o *countingObserver) GatewayCall(_, op string, _ time.Duration, _ error) {
	o.calls[op]++
}

// A refund's fee is what the merchant keeps of the whole refund: a
// refund it covers whole moves no money, so no gateway is asked to refund
// 0; the next refund goes to its gateway for what is left of it.
func TestRefundFeeCoveredCallsNoGateway(t *testing.T) {
	env := testenv.New(t)
	obs := &countingObserver{calls: map[string]int{}}
	env.Engine.Observer = obs
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1000}, PayRefs: []string{"fee-a", "fee-b"}, PayAmounts: []int64{300, 700}})
	amount := int64(1000)
	res, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{
		MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Fee: 500, Source: refundry.SourceNative,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refunds) != 2 {
		t.Fatalf("%d refunds, want 2", len(res.Refunds))
	}
	covered, rest := res.Refunds[0], res.Refunds[1]
	if covered.Status != refundry.RefundSucceeded || covered.Fee != 300 || env.Sim.Moved(covered.ID) != 0 {
		t.Fatalf("covered refund = %+v, moved %d; want succeeded, fee 300, nothing moved", covered, env.Sim.Moved(covered.ID))
	}
	if rest.Status != refundry.RefundSucceeded || rest.Fee != 200 || env.Sim.Moved(rest.ID) != 500 {
		t.Fatalf("second refund = %+v, moved %d; want succeeded, fee 200, 500 moved", rest, env.Sim.Moved(rest.ID))
	}
	if obs.calls["refund"] != 1 {
		t.Fatalf("%d gateway refund calls, want 1", obs.calls["refund"])
	}
	if got := env.Reload(sale).RefundedAmount; got != 1000 {
		t.Fatalf("sale refunded %d, want 1000", got)
	}
}
