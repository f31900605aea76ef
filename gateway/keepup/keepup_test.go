package keepup_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/keepup"
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
		{"Refunded", 200, `{"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}`, refundry.RefundSucceeded, ""},
		{"Pending", 200, `{"status": 200, "message": "sale refund pending", "data": {"status": "pending"}}`, refundry.RefundPending, ""},
		{"OKOtherBody", 200, `{"status": 200}`, "", refundry.EGATEWAY},
		{"NotFound", 404, `{"status": 404, "error": "Sale not found"}`, refundry.RefundFailed, ""},
		{"Invalid", 422, `{"status": 422, "error": "alert_customer must be yes or no"}`, refundry.RefundFailed, ""},
		{"GatewayRefused", 502, `{"status": 502, "error": "Card closed"}`, refundry.RefundFailed, ""},
		{"Proxy502", 502, `<html>Bad Gateway</html>`, "", refundry.EUNAVAILABLE},
		{"NotFoundNotKeepUp", 404, `not found`, "", refundry.EGATEWAY},
		{"Unauthorized", 401, `{"status": 401, "error": "Authentication invalid"}`, "", refundry.EGATEWAY},
		{"TooMany", 429, `{"status": 429, "error": "slow"}`, "", refundry.EUNAVAILABLE},
		{"Unavailable", 503, ``, "", refundry.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			g, err := keepup.New(keepup.Config{BaseURL: srv.URL, APIKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "re_1",
				Transaction: &refundry.Transaction{GatewayChargeID: "sale-1", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
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
