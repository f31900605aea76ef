package revcent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/internal/answertest"
	"github.com/refundry/refundry/gateway/revcent"
)

// answers is docs/gateways.md's RevCent table: each answer RevCent may give,
// and the result or error it becomes.
var answers = []answertest.Case{
	{Name: "OK", Status: 200, Body: `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 1.00, "pending_refund": [], "result": "ok"}`, Result: refundry.RefundSucceeded},
	{Name: "OKPending", Status: 200, Body: `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 1, "pending_refund": ["rrrrrrrrrrrrrrrrrrrr"], "result": "ok"}`, Result: refundry.RefundPending},
	{Name: "OKOtherAmount", Status: 200, Body: `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 2, "pending_refund": [], "result": "ok"}`, Code: refundry.EGATEWAY},
	{Name: "OKOtherBody", Status: 200, Body: `<html></html>`, Code: refundry.EGATEWAY},
	{Name: "BadRequest", Status: 400, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "invalid_request", "message": "m", "result": "Refund failed"}`, Result: refundry.RefundFailed},
	{Name: "NotFound", Status: 404, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "product_sale_not_found", "message": "m", "result": "Refund failed"}`, Result: refundry.RefundFailed},
	{Name: "AlreadyRefunded", Status: 409, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "product_sale_already_refunded", "message": "m", "result": "Refund failed"}`, Result: refundry.RefundFailed},
	{Name: "Disputed", Status: 409, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "charge_disputed", "message": "m", "result": "Refund failed"}`, Result: refundry.RefundFailed},
	{Name: "Conflict", Status: 409, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "conflict", "message": "m", "result": "Refund failed"}`, Code: refundry.EUNAVAILABLE},
	{Name: "TooLarge", Status: 422, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "amount_exceeds_refundable", "message": "m", "result": "Refund failed"}`, Result: refundry.RefundFailed},
	{Name: "GatewayRefused", Status: 502, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "gateway_refused", "message": "m", "result": "Refund failed"}`, Result: refundry.RefundFailed},
	{Name: "Proxy502", Status: 502, Body: `<html>Bad Gateway</html>`, Code: refundry.EUNAVAILABLE},
	{Name: "NotFoundNotRevCent", Status: 404, Body: `not found`, Code: refundry.EGATEWAY},
	{Name: "Unauthorized", Status: 401, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "invalid_api_key", "message": "m", "result": "Refund failed"}`, Code: refundry.EGATEWAY},
	{Name: "TooMany", Status: 429, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "rate_limited", "message": "m", "result": "Refund failed"}`, Code: refundry.EUNAVAILABLE},
	{Name: "Unavailable", Status: 503, Body: `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "service_unavailable", "message": "m", "result": "Refund failed"}`, Code: refundry.EUNAVAILABLE},
}

// TestAnswers sends one refund to each of answers.
func TestAnswers(t *testing.T) {
	answertest.Run(t, answers, func(u string) (refundry.Gateway, error) {
		return revcent.New(revcent.Config{BaseURL: u, APIKey: "k"})
	}, refundry.GatewayRefund{RefundID: "re_1",
		Transaction: &refundry.Transaction{GatewayChargeID: "pppppppppppppppppppp", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
}

// TestLineWithoutPayment: a refund naming only the product sale (no
// payment) is sent, in its own currency.
func TestLineWithoutPayment(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		io.WriteString(w, `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 5, "pending_refund": [], "result": "ok"}`)
	}))
	defer srv.Close()
	g, err := revcent.New(revcent.Config{BaseURL: srv.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "re_1", GatewayLineID: "pppppppppppppppppppp", Amount: 5, Currency: "JPY"})
	if err != nil || res.Status != refundry.RefundSucceeded || path != "/v2/product_sales/pppppppppppppppppppp/refund" {
		t.Fatalf("Refund = %+v, %v (path %s)", res, err, path)
	}
}
