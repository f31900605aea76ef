package jetti_test

import (
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/answertest"
	"github.com/refundry/refundry/gateway/jetti"
)

// answers is docs/gateways.md's Jetti table: each answer Jetti may give,
// and the result or error it becomes.
var answers = []answertest.Case{
	{Name: "Complete", Status: 200, Body: `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "complete", "stripeRefundId": null}`, Result: refundry.RefundSucceeded},
	{Name: "Pending", Status: 200, Body: `{"id": 42, "amount": 5, "refundAmount": 3, "status": "pending", "stripeRefundId": null}`, Result: refundry.RefundPending},
	{Name: "Error", Status: 200, Body: `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "error", "stripeRefundId": null}`, Result: refundry.RefundFailed},
	{Name: "Cancelled", Status: 200, Body: `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "cancelled", "stripeRefundId": null}`, Result: refundry.RefundCanceled},
	{Name: "UnknownStatus", Status: 200, Body: `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "weird", "stripeRefundId": null}`, Code: refundry.EGATEWAY},
	{Name: "LessRefunded", Status: 200, Body: `{"id": 42, "amount": 5, "refundAmount": 0.99, "status": "complete", "stripeRefundId": null}`, Code: refundry.EGATEWAY},
	{Name: "OtherTransaction", Status: 200, Body: `{"id": 43, "amount": 5, "refundAmount": 1, "status": "complete", "stripeRefundId": null}`, Code: refundry.EGATEWAY},
	{Name: "BadRequest", Status: 400, Body: `{"message": "bad", "errors": {"refundAmount": ["bad"]}}`, Result: refundry.RefundFailed},
	{Name: "NotFound", Status: 404, Body: `{"message": "Transaction not found."}`, Result: refundry.RefundFailed},
	{Name: "TooLarge", Status: 422, Body: `{"message": "too large"}`, Result: refundry.RefundFailed},
	{Name: "GatewayRefused", Status: 502, Body: `{"message": "Card closed"}`, Result: refundry.RefundFailed},
	{Name: "Proxy502", Status: 502, Body: `<html>Bad Gateway</html>`, Code: refundry.EUNAVAILABLE},
	{Name: "NotFoundNotJetti", Status: 404, Body: `not found`, Code: refundry.EGATEWAY},
	{Name: "Unauthorized", Status: 401, Body: `{"message": "no token"}`, Code: refundry.EGATEWAY},
	{Name: "Conflict", Status: 409, Body: `{"message": "busy"}`, Code: refundry.EUNAVAILABLE},
	{Name: "TooMany", Status: 429, Body: `{"message": "slow"}`, Code: refundry.EUNAVAILABLE},
	{Name: "Internal", Status: 500, Body: ``, Code: refundry.EUNAVAILABLE},
}

// TestAnswers sends one refund to each of answers.
func TestAnswers(t *testing.T) {
	answertest.Run(t, answers, func(u string) (refundry.Gateway, error) {
		return jetti.New(jetti.Config{BaseURL: u, Token: "t"})
	}, refundry.GatewayRefund{RefundID: "re_1",
		Transaction: &refundry.Transaction{GatewayChargeID: "42", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
}
