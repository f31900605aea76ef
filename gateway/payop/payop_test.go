package payop_test

import (
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/answertest"
	"github.com/refundry/refundry/gateway/payop"
)

// answers is docs/gateways.md's Payop table: each answer Payop may give,
// and the result or error it becomes.
var answers = []answertest.Case{
	{Name: "OK", Status: 200, Body: `{"data": "", "status": 1}`, Result: refundry.RefundSucceeded},
	{Name: "OKOtherBody", Status: 200, Body: `<html></html>`, Code: refundry.EGATEWAY},
	{Name: "OKStatusZero", Status: 200, Body: `{"data": "", "status": 0}`, Code: refundry.EGATEWAY},
	{Name: "TooLarge", Status: 422, Body: `{"message": "Refund amount is bigger than transaction amount"}`, Result: refundry.RefundFailed},
	{Name: "NotFound422", Status: 422, Body: `{"message": "Transaction not found"}`, Result: refundry.RefundFailed},
	{Name: "BadRequest", Status: 400, Body: `{"message": "bad"}`, Result: refundry.RefundFailed},
	{Name: "GatewayRefused", Status: 502, Body: `{"message": "Card closed"}`, Result: refundry.RefundFailed},
	{Name: "Proxy502", Status: 502, Body: `<html>Bad Gateway</html>`, Code: refundry.EUNAVAILABLE},
	{Name: "Unauthorized", Status: 401, Body: `{"message": "Full authentication is required to access this resource."}`, Code: refundry.EGATEWAY},
	{Name: "Forbidden", Status: 403, Body: `{"message": "no"}`, Code: refundry.EGATEWAY},
	{Name: "NotFound404", Status: 404, Body: `not found`, Code: refundry.EGATEWAY},
	{Name: "TooMany", Status: 429, Body: `{"message": "slow down"}`, Code: refundry.EUNAVAILABLE},
	{Name: "Internal", Status: 500, Body: `{"message": "oops"}`, Code: refundry.EUNAVAILABLE},
	{Name: "Unavailable", Status: 503, Body: ``, Code: refundry.EUNAVAILABLE},
}

// TestAnswers sends one refund to each of answers.
func TestAnswers(t *testing.T) {
	answertest.Run(t, answers, func(u string) (refundry.Gateway, error) {
		return payop.New(payop.Config{BaseURL: u, Token: "t"})
	}, refundry.GatewayRefund{RefundID: "re_1",
		Transaction: &refundry.Transaction{GatewayChargeID: "tx", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
}
