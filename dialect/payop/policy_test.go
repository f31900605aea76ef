package payop_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// A merchant's refund policy, set through the engine, applies to Payop's
// Create Refund: a refusal is answered in Payop's {"message"} shape with
// nothing changed, and a refund held for approval is answered as the
// seed's success with its identifier, sent to no gateway until someone
// approves it.
func TestRefundPolicy(t *testing.T) {
	refused := func(t *testing.T, res response, want string) {
		t.Helper()
		if res.status != http.StatusUnprocessableEntity || res.body != want+"\n" && res.body != want {
			t.Fatalf("%d %s\nwant 422 %s", res.status, res.body, want)
		}
	}
	body := func(ref, amount string) string {
		return `{"transactionIdentifier": "` + ref + `", "refundType": 2, "amount": ` + amount + `}`
	}

	t.Run("WindowExpired", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxAgeDays: testenv.Rule(1)})
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"ord-1"}})
		s.Later(25 * time.Hour)
		res := s.post(t, body("ord-1", "10"), "Authorization: Bearer "+s.KeyA)
		refused(t, res, `{"message":"Refund window expired: the merchant's policy allows no refund of this transaction so long after it"}`)
		s.Unchanged(sale, 0)
	})

	t.Run("TooManyRefunds", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxRefundsPerSale: testenv.Rule(3)})
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"ord-2"}})
		for range 3 {
			s.ok(t, s.post(t, body("ord-2", "1"), "Authorization: Bearer "+s.KeyA))
		}
		sale = s.Reload(sale)
		res := s.post(t, body("ord-2", "1"), "Authorization: Bearer "+s.KeyA)
		refused(t, res, `{"message":"Too many refunds: the transaction's sale has as many refunds as the merchant's policy allows"}`)
		s.Unchanged(sale, 3)
	})

	t.Run("RequiresApproval", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 0)})
		sale := s.Sale(testenv.SaleSpec{PayRefs: []string{"ord-3"}})
		rf := s.ok(t, s.post(t, `{"transactionIdentifier": "ord-3", "refundType": 1}`, "Authorization: Bearer "+s.KeyA))
		if rf.Status != refundry.RefundRequiresApproval || rf.Amount != sale.Amount || rf.Source != refundry.SourcePayop {
			t.Fatalf("refund %+v", rf)
		}
		if moved := s.Sim.Moved(rf.ID); moved != 0 {
			t.Fatalf("the gateway moved %d before approval", moved)
		}
		// Held: nothing remains of the transaction.
		res := s.post(t, body("ord-3", "1"), "Authorization: Bearer "+s.KeyA)
		refused(t, res, `{"message":"Refund amount is bigger than transaction amount"}`)
		if got := s.Approve(rf); got.Status != refundry.RefundSucceeded || s.Sim.Moved(rf.ID) != sale.Amount {
			t.Fatalf("approved refund is %s, the gateway moved %d", got.Status, s.Sim.Moved(rf.ID))
		}
	})
}
