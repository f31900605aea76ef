package jetti_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// A merchant's refund policy, set through the engine, applies to Jetti's
// refund: a refusal is answered in Jetti's error shape with nothing
// changed, and a refund held for approval is answered as the transaction
// with status "pending", sent to no gateway until someone approves it.
func TestRefundPolicy(t *testing.T) {
	t.Run("WindowExpired", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxAgeDays: testenv.Rule(90)})
		sale := s.Sale(testenv.SaleSpec{})
		s.Later(90 * 24 * time.Hour)
		res := s.do(t, "PUT", refundPath(sale.Transactions[0].Number), `{"refundAmount": 5}`, "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		if want := `{"message":"Refund window expired: the merchant's policy allows no refund of this transaction so long after the sale."}`; strings.TrimSpace(res.raw) != want {
			t.Fatalf("body %s\nwant %s", res.raw, want)
		}
		s.Unchanged(sale, 0)
	})

	t.Run("TooManyRefunds", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxRefundsPerSale: testenv.Rule(2)})
		sale := s.Sale(testenv.SaleSpec{})
		path := refundPath(sale.Transactions[0].Number)
		for i := range 2 {
			if res := s.do(t, "PUT", path, `{"refundAmount": 1}`, "Authorization: Bearer "+s.KeyA); res.status != http.StatusOK {
				t.Fatalf("refund %d: %d %s", i+1, res.status, res.raw)
			}
		}
		sale = s.Reload(sale)
		res := s.do(t, "PUT", path, `{"refundAmount": 1}`, "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		if want := `{"message":"Too many refunds: the sale has as many refunds as the merchant's policy allows."}`; strings.TrimSpace(res.raw) != want {
			t.Fatalf("body %s\nwant %s", res.raw, want)
		}
		s.Unchanged(sale, 2)
	})

	t.Run("RequiresApproval", func(t *testing.T) {
		s := newServer(t)
		// The threshold is on the money that leaves: 10.00 less the 0.50
		// the merchant keeps is 9.50, at or above 5.00.
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 500)})
		sale := s.Sale(testenv.SaleSpec{})
		path := refundPath(sale.Transactions[0].Number)
		res := s.do(t, "PUT", path, `{"refundAmount": 10, "processingFee": 0.5, "externalId": "RMA-9"}`, "Authorization: Bearer "+s.KeyA)
		if res.status != http.StatusOK {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		expect(t, res, map[string]any{"status": "pending", "refundAmount": "10.00", "processingFee": "0.50", "externalId": "RMA-9"})
		rs := s.refunds(t, sale)
		if len(rs) != 1 || rs[0].Status != refundry.RefundRequiresApproval || rs[0].Amount != 1000 || rs[0].Fee != 50 {
			t.Fatalf("refunds %+v", rs)
		}
		if moved := s.Sim.Moved(rs[0].ID); moved != 0 {
			t.Fatalf("the gateway moved %d before approval", moved)
		}
		// Below the threshold, a refund goes to the gateway at once; the
		// transaction shows the latest refund's status.
		res = s.do(t, "PUT", path, `{"refundAmount": 4.99}`, "Authorization: Bearer "+s.KeyA)
		expect(t, res, map[string]any{"status": "complete", "refundAmount": "14.99", "processingFee": "0.50"})
		if got := s.Approve(rs[0]); got.Status != refundry.RefundSucceeded || s.Sim.Moved(rs[0].ID) != 950 {
			t.Fatalf("approved refund is %s, the gateway moved %d", got.Status, s.Sim.Moved(rs[0].ID))
		}
	})
}

// A refund in manual review (its gateway left it without an answer past
// the review limits) shows as "pending", its amount counted.
func TestRefundInReview(t *testing.T) {
	s := newServer(t)
	sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"sim_pending_jetti_review"}})
	path := refundPath(sale.Transactions[0].Number)
	res := s.do(t, "PUT", path, `{"refundAmount": 3}`, "Authorization: Bearer "+s.KeyA, "Idempotency-Key: r1")
	expect(t, res, map[string]any{"status": "pending", "refundAmount": "3.00"})
	rs := s.refunds(t, sale)
	if len(rs) != 1 {
		t.Fatalf("%d refunds", len(rs))
	}
	s.Review(rs[0])
	res = s.do(t, "PUT", path, `{"refundAmount": 3}`, "Authorization: Bearer "+s.KeyA, "Idempotency-Key: r1")
	expect(t, res, map[string]any{"status": "pending", "refundAmount": "3.00"})
	if got := s.refunds(t, sale); len(got) != 1 || got[0].Status != refundry.RefundRequiresAction {
		t.Fatalf("refunds %+v", got)
	}
}
