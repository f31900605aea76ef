package payop_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/payop"
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
		{"OK", 200, `{"data": "", "status": 1}`, refundry.RefundSucceeded, ""},
		{"OKOtherBody", 200, `<html></html>`, "", refundry.EGATEWAY},
		{"OKStatusZero", 200, `{"data": "", "status": 0}`, "", refundry.EGATEWAY},
		{"TooLarge", 422, `{"message": "Refund amount is bigger than transaction amount"}`, refundry.RefundFailed, ""},
		{"NotFound422", 422, `{"message": "Transaction not found"}`, refundry.RefundFailed, ""},
		{"BadRequest", 400, `{"message": "bad"}`, refundry.RefundFailed, ""},
		{"GatewayRefused", 502, `{"message": "Card closed"}`, refundry.RefundFailed, ""},
		{"Proxy502", 502, `<html>Bad Gateway</html>`, "", refundry.EUNAVAILABLE},
		{"Unauthorized", 401, `{"message": "Full authentication is required to access this resource."}`, "", refundry.EGATEWAY},
		{"Forbidden", 403, `{"message": "no"}`, "", refundry.EGATEWAY},
		{"NotFound404", 404, `not found`, "", refundry.EGATEWAY},
		{"TooMany", 429, `{"message": "slow down"}`, "", refundry.EUNAVAILABLE},
		{"Internal", 500, `{"message": "oops"}`, "", refundry.EUNAVAILABLE},
		{"Unavailable", 503, ``, "", refundry.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			g, err := payop.New(payop.Config{BaseURL: srv.URL, Token: "t"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "re_1",
				Transaction: &refundry.Transaction{GatewayChargeID: "tx", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
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
