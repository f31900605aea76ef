package talkable_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// A merchant's refund policy, set through the engine, applies to
// Talkable's origin refund: a refusal is answered in Talkable's
// {"ok": false} shape with the purchase and its referrals as they were,
// and a refund held for approval is answered as usual (the seed's answer
// shows the voided referral, no refund status), sent to no gateway until
// someone approves it.
func TestRefundPolicy(t *testing.T) {
	body := `{"site_slug":"store-a"}`
	refused := func(t *testing.T, res response, want string) {
		t.Helper()
		if res.status != http.StatusUnprocessableEntity || strings.TrimSpace(res.body) != want {
			t.Fatalf("%d %s\nwant 422 %s", res.status, res.body, want)
		}
	}
	referralStatus := func(t *testing.T, s *server, slug string) string {
		t.Helper()
		o, err := s.Store.FindOrigin(context.Background(), s.A.ID, slug)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := s.Store.ListReferrals(context.Background(), s.A.ID, o.ID)
		if err != nil || len(refs) != 1 {
			t.Fatalf("referrals %v, err %v", refs, err)
		}
		return refs[0].Status
	}

	t.Run("WindowExpired", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxAgeDays: testenv.Rule(60)})
		sale := s.Sale(testenv.SaleSpec{Reference: "OLD-1"})
		s.referral(t, s.A, "OLD-1", "USD", 1750)
		s.Later(61 * 24 * time.Hour)
		res := s.do(t, "/api/v2/origins/OLD-1/refund", s.KeyA, body)
		refused(t, res, `{"ok":false,"error_message":"Refund window expired: the merchant's policy allows no refund of this purchase so long after it"}`)
		s.Unchanged(sale, 0)
		if st := referralStatus(t, s, "OLD-1"); st == refundry.ReferralVoided {
			t.Fatalf("referral %s after a refused refund", st)
		}
	})

	t.Run("TooManyRefunds", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxRefundsPerSale: testenv.Rule(1)})
		sale := s.Sale(testenv.SaleSpec{Reference: "MANY-1"})
		s.referral(t, s.A, "MANY-1", "USD", 1750)
		s.PartRefund(sale, 500)
		sale = s.Reload(sale)
		res := s.do(t, "/api/v2/origins/MANY-1/refund", s.KeyA, body)
		refused(t, res, `{"ok":false,"error_message":"Too many refunds: the purchase has as many refunds as the merchant's policy allows"}`)
		s.Unchanged(sale, 1)
		if st := referralStatus(t, s, "MANY-1"); st == refundry.ReferralVoided {
			t.Fatalf("referral %s after a refused refund", st)
		}
	})

	t.Run("RequiresApproval", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 1750)})
		sale := s.Sale(testenv.SaleSpec{Reference: "BIG-1"})
		s.referral(t, s.A, "BIG-1", "USD", 1750)
		res := s.do(t, "/api/v2/origins/BIG-1/refund", s.KeyA, body)
		if res.status != http.StatusOK {
			t.Fatalf("%d %s", res.status, res.body)
		}
		if ref := referralOf(t, res.body); ref["status"] != refundry.ReferralVoided {
			t.Fatalf("referral %v", ref)
		}
		rs := s.Refunds(sale)
		if len(rs) != 1 || rs[0].Status != refundry.RefundRequiresApproval || rs[0].Amount != sale.Amount || rs[0].Source != refundry.SourceTalkable {
			t.Fatalf("refunds %+v", rs)
		}
		if moved := s.Sim.Moved(rs[0].ID); moved != 0 {
			t.Fatalf("the gateway moved %d before approval", moved)
		}
		// A repeat answers the same and makes no second refund.
		if again := s.do(t, "/api/v2/origins/BIG-1/refund", s.KeyA, body); again.status != res.status || again.body != res.body {
			t.Fatalf("repeat %d %s, first %d %s", again.status, again.body, res.status, res.body)
		}
		if n := len(s.Refunds(sale)); n != 1 {
			t.Fatalf("%d refunds after a repeat", n)
		}
		if got := s.Approve(rs[0]); got.Status != refundry.RefundSucceeded || s.Sim.Moved(rs[0].ID) != sale.Amount {
			t.Fatalf("approved refund is %s, the gateway moved %d", got.Status, s.Sim.Moved(rs[0].ID))
		}
	})
}
