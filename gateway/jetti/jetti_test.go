package jetti_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/jetti"
)

// TestAnswers is docs/gateways.md's Payop table: each answer Payop may
// give, and the result or error it becomes.
func TestAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus string // a result; "" means an error of wantCode
		wantCode   string
	}{
		{"Complete", 200, `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "complete", "stripeRefundId": null}`, refundry.RefundSucceeded, ""},
		{"Pending", 200, `{"id": 42, "amount": 5, "refundAmount": 3, "status": "pending", "stripeRefundId": null}`, refundry.RefundPending, ""},
		{"Error", 200, `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "error", "stripeRefundId": null}`, refundry.RefundFailed, ""},
		{"Cancelled", 200, `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "cancelled", "stripeRefundId": null}`, refundry.RefundCanceled, ""},
		{"UnknownStatus", 200, `{"id": 42, "amount": 5, "refundAmount": 1.00, "status": "weird", "stripeRefundId": null}`, "", refundry.EGATEWAY},
		{"LessRefunded", 200, `{"id": 42, "amount": 5, "refundAmount": 0.99, "status": "complete", "stripeRefundId": null}`, "", refundry.EGATEWAY},
		{"OtherTransaction", 200, `{"id": 43, "amount": 5, "refundAmount": 1, "status": "complete", "stripeRefundId": null}`, "", refundry.EGATEWAY},
		{"BadRequest", 400, `{"message": "bad", "errors": {"refundAmount": ["bad"]}}`, refundry.RefundFailed, ""},
		{"NotFound", 404, `{"message": "Transaction not found."}`, refundry.RefundFailed, ""},
		{"TooLarge", 422, `{"message": "too large"}`, refundry.RefundFailed, ""},
		{"GatewayRefused", 502, `{"message": "Card closed"}`, refundry.RefundFailed, ""},
		{"Proxy502", 502, `<html>Bad Gateway</html>`, "", refundry.EUNAVAILABLE},
		{"NotFoundNotJetti", 404, `not found`, "", refundry.EGATEWAY},
		{"Unauthorized", 401, `{"message": "no token"}`, "", refundry.EGATEWAY},
		{"Conflict", 409, `{"message": "busy"}`, "", refundry.EUNAVAILABLE},
		{"TooMany", 429, `{"message": "slow"}`, "", refundry.EUNAVAILABLE},
		{"Internal", 500, ``, "", refundry.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			g, err := jetti.New(jetti.Config{BaseURL: srv.URL, Token: "t"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "re_1",
				Transaction: &refundry.Transaction{GatewayChargeID: "42", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
			if tc.wantStatus != "" {
				if err != nil || res.Status != tc.wantStatus {
					t.Fatalf("Refund = %+v, %v; want %s", res, err, tc.wantStatus)
				}
				if res.Status == refundry.RefundFailed && res.FailureReason == "" {
					t.Error("no failure reason")
				}
				return
			}
			if refundry.ErrorCode(err) != tc.wantCode {
				t.Fatalf("Refund = %+v, %v; want %s", res, err, tc.wantCode)
			}
		})
	}
}
