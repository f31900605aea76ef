package keepup_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// A merchant's refund policy, set through the engine, applies to KeepUp's
// Refund Sale: a refusal is answered in KeepUp's shape with nothing
// changed, and a refund held for approval is answered as pending, sent to
// no gateway until someone approves it.
func TestRefundPolicy(t *testing.T) {
	t.Run("WindowExpired", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxAgeDays: testenv.Rule(30)})
		sale := s.Sale(testenv.SaleSpec{})
		s.Later(31 * 24 * time.Hour)
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		sameJSON(t, res.body, `{"status": 422, "error": "Refund window expired: the merchant's policy allows no refund of this sale so long after it"}`)
		s.Unchanged(sale, 0)
	})

	t.Run("WithinWindow", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxAgeDays: testenv.Rule(30)})
		sale := s.Sale(testenv.SaleSpec{})
		s.Later(29 * 24 * time.Hour)
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		sameJSON(t, res.body, refunded)
	})

	t.Run("TooManyRefunds", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxRefundsPerSale: testenv.Rule(1)})
		sale := s.Sale(testenv.SaleSpec{})
		s.PartRefund(sale, 100)
		sale = s.Reload(sale)
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		sameJSON(t, res.body, `{"status": 422, "error": "Too many refunds: the sale has as many refunds as the merchant's policy allows"}`)
		s.Unchanged(sale, 1)
	})

	t.Run("RequiresApproval", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 1000)})
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"p1", "p2"}, PayAmounts: []int64{1000, 750}})
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		pending := `{"status": 200, "message": "sale refund pending", "data": {"status": "pending"}}`
		sameJSON(t, res.body, pending)
		rs := s.refunds(t, sale)
		if len(rs) != 2 {
			t.Fatalf("%d refunds, want one per payment", len(rs))
		}
		for _, rf := range rs {
			if rf.Status != refundry.RefundRequiresApproval || !strings.HasPrefix(rf.RequestedBy, "key:") {
				t.Fatalf("refund %s is %s, requested by %q", rf.ID, rf.Status, rf.RequestedBy)
			}
			if moved := s.Sim.Moved(rf.ID); moved != 0 {
				t.Fatalf("refund %s: the gateway moved %d before approval", rf.ID, moved)
			}
		}
		// Held: the sale's amount is reserved, so a repeat refunds nothing
		// more and is answered pending as well.
		if got := s.Reload(sale); got.RefundedAmount != sale.Amount {
			t.Fatalf("sale holds %d of %d", got.RefundedAmount, sale.Amount)
		}
		again := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		sameJSON(t, again.body, pending)
		if n := len(s.refunds(t, sale)); n != 2 {
			t.Fatalf("%d refunds after a repeat", n)
		}
		// Approved by someone else, they go to the gateway, and the sale
		// reads refunded.
		for _, rf := range rs {
			if got := s.Approve(rf); got.Status != refundry.RefundSucceeded || s.Sim.Moved(rf.ID) != rf.Amount {
				t.Fatalf("approved refund %s is %s, moved %d of %d", rf.ID, got.Status, s.Sim.Moved(rf.ID), rf.Amount)
			}
		}
		sameJSON(t, s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA).body, refunded)
	})

	// approval_for_sources "dialects" holds the refunds of the five
	// dialects, KeepUp's among them, and no other edge's.
	t.Run("ForDialects", func(t *testing.T) {
		s := newServer(t)
		sources := []string{refundry.SourceDialects}
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 0),
			ApprovalForSources: refundry.Change[[]string]{Set: true, Value: &sources}})
		native := s.Sale(testenv.SaleSpec{})
		if rf := s.PartRefund(native, 100); rf.Status != refundry.RefundSucceeded {
			t.Fatalf("native refund is %s", rf.Status)
		}
		sale := s.Sale(testenv.SaleSpec{})
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		sameJSON(t, res.body, `{"status": 200, "message": "sale refund pending", "data": {"status": "pending"}}`)
		if rs := s.refunds(t, sale); len(rs) != 1 || rs[0].Status != refundry.RefundRequiresApproval {
			t.Fatalf("refunds %+v", rs)
		}
	})

	t.Run("BelowThreshold", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 1751)})
		sale := s.Sale(testenv.SaleSpec{})
		res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
		sameJSON(t, res.body, refunded)
	})
}

// A refund in manual review (its gateway left it without an answer past
// the review limits) is still answered pending: its amount is held and
// the money has not gone back.
func TestRefundInReview(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_keepup_review"}})
	pending := `{"status": 200, "message": "sale refund pending", "data": {"status": "pending"}}`
	sameJSON(t, s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA).body, pending)
	rs := s.refunds(t, sale)
	if len(rs) != 1 {
		t.Fatalf("%d refunds", len(rs))
	}
	s.Review(rs[0])
	res := s.do(t, http.MethodPut, "/v2.0/sales/refund/"+sale.ID, "", "Authorization: Bearer "+s.KeyA)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	sameJSON(t, res.body, pending)
	if n := len(s.refunds(t, sale)); n != 1 {
		t.Fatalf("%d refunds after the repeat", n)
	}
}
