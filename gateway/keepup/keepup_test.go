package keepup_test

import (
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/answertest"
	"github.com/refundry/refundry/gateway/keepup"
)

// answers is docs/gateways.md's KeepUp table: each answer KeepUp may give,
// and the result or error it becomes.
var answers = []answertest.Case{
	{Name: "Refunded", Status: 200, Body: `{"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}`, Result: refundry.RefundSucceeded},
	{Name: "Pending", Status: 200, Body: `{"status": 200, "message": "sale refund pending", "data": {"status": "pending"}}`, Result: refundry.RefundPending},
	{Name: "OKOtherBody", Status: 200, Body: `{"status": 200}`, Code: refundry.EGATEWAY},
	{Name: "NotFound", Status: 404, Body: `{"status": 404, "error": "Sale not found"}`, Result: refundry.RefundFailed},
	{Name: "Invalid", Status: 422, Body: `{"status": 422, "error": "alert_customer must be yes or no"}`, Result: refundry.RefundFailed},
	{Name: "GatewayRefused", Status: 502, Body: `{"status": 502, "error": "Card closed"}`, Result: refundry.RefundFailed},
	{Name: "Proxy502", Status: 502, Body: `<html>Bad Gateway</html>`, Code: refundry.EUNAVAILABLE},
	{Name: "NotFoundNotKeepUp", Status: 404, Body: `not found`, Code: refundry.EGATEWAY},
	{Name: "Unauthorized", Status: 401, Body: `{"status": 401, "error": "Authentication invalid"}`, Code: refundry.EGATEWAY},
	{Name: "TooMany", Status: 429, Body: `{"status": 429, "error": "slow"}`, Code: refundry.EUNAVAILABLE},
	{Name: "Unavailable", Status: 503, Body: ``, Code: refundry.EUNAVAILABLE},
}

// TestAnswers sends one refund to each of answers.
func TestAnswers(t *testing.T) {
	answertest.Run(t, answers, func(u string) (refundry.Gateway, error) {
		return keepup.New(keepup.Config{BaseURL: u, APIKey: "k"})
	}, refundry.GatewayRefund{RefundID: "re_1",
		Transaction: &refundry.Transaction{GatewayChargeID: "sale-1", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
}
