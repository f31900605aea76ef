package revcent_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// A merchant's refund policy, set through the engine, applies to
// RevCent's refund: a refusal is answered as APIStandardErrors with its
// own error_code and nothing changed, and a refund held for approval is
// answered 200 with the refund in pending_refund, sent to no gateway until
// someone approves it.
func TestRefundPolicy(t *testing.T) {
	refused := func(t *testing.T, res response, code, message string) {
		t.Helper()
		if res.status != http.StatusConflict || str(res.body["error_code"]) != code || str(res.body["message"]) != message ||
			str(res.body["code"]) != "0" || str(res.body["result"]) != "Product sale not refunded" {
			t.Fatalf("%d %s\nwant 409 %s: %s", res.status, res.raw, code, message)
		}
	}

	t.Run("WindowExpired", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxAgeDays: testenv.Rule(14)})
		sale := s.Sale(testenv.SaleSpec{})
		s.Later(15 * 24 * time.Hour)
		res := s.do(t, "POST", refundPath(sale.LineItems[0].ID), `{"amount": 2}`, "X-API-Key: "+s.KeyA)
		refused(t, res, "refund_window_expired", "The product sale's refund window has expired: the merchant's policy allows no refund so long after the sale.")
		s.Unchanged(sale, 0)
	})

	t.Run("TooManyRefunds", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{MaxRefundsPerSale: testenv.Rule(1)})
		sale := s.Sale(testenv.SaleSpec{})
		if res := s.do(t, "POST", refundPath(sale.LineItems[0].ID), `{"amount": 2}`, "X-API-Key: "+s.KeyA); res.status != http.StatusOK {
			t.Fatalf("first refund: %d %s", res.status, res.raw)
		}
		sale = s.Reload(sale)
		// The limit is the sale's: another product sale of it is refused
		// too.
		res := s.do(t, "POST", refundPath(sale.LineItems[1].ID), `{}`, "X-API-Key: "+s.KeyA)
		refused(t, res, "too_many_refunds", "The sale has as many refunds as the merchant's policy allows; no more can be made on any of its product sales.")
		s.Unchanged(sale, 1)
	})

	t.Run("RequiresApproval", func(t *testing.T) {
		s := newServer(t)
		s.Policy(s.A, refundry.PolicyChange{ApprovalThreshold: testenv.Threshold("USD", 1000)})
		sale := s.Sale(testenv.SaleSpec{})
		res := s.do(t, "POST", refundPath(sale.LineItems[0].ID), `{"amount": 10}`, "X-API-Key: "+s.KeyA)
		if res.status != http.StatusOK || str(res.body["amount"]) != "10.00" || str(res.body["result"]) != "Product sale refunded" {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		rs := s.refunds(t, sale)
		pr, _ := res.body["pending_refund"].([]any)
		if len(rs) != 1 || rs[0].Status != refundry.RefundRequiresApproval || len(pr) != 1 || pr[0] != rs[0].ID {
			t.Fatalf("pending_refund %v, refunds %+v", pr, rs)
		}
		if moved := s.Sim.Moved(rs[0].ID); moved != 0 {
			t.Fatalf("the gateway moved %d before approval", moved)
		}
		// Held: what remains of the product sale is 2.50, so 3 is too much.
		res = s.do(t, "POST", refundPath(sale.LineItems[0].ID), `{"amount": 3}`, "X-API-Key: "+s.KeyA)
		if res.status != http.StatusUnprocessableEntity || str(res.body["error_code"]) != "amount_exceeds_refundable" {
			t.Fatalf("over the held amount: %d %s", res.status, res.raw)
		}
		if got := s.Approve(rs[0]); got.Status != refundry.RefundSucceeded || s.Sim.Moved(rs[0].ID) != 1000 {
			t.Fatalf("approved refund is %s, the gateway moved %d", got.Status, s.Sim.Moved(rs[0].ID))
		}
	})
}
