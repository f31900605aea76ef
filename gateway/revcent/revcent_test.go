package revcent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/revcent"
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
		{"OK", 200, `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 1.00, "pending_refund": [], "result": "ok"}`, refundry.RefundSucceeded, ""},
		{"OKPending", 200, `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 1, "pending_refund": ["rrrrrrrrrrrrrrrrrrrr"], "result": "ok"}`, refundry.RefundPending, ""},
		{"OKOtherAmount", 200, `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 2, "pending_refund": [], "result": "ok"}`, "", refundry.EGATEWAY},
		{"OKOtherBody", 200, `<html></html>`, "", refundry.EGATEWAY},
		{"BadRequest", 400, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "invalid_request", "message": "m", "result": "Refund failed"}`, refundry.RefundFailed, ""},
		{"NotFound", 404, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "product_sale_not_found", "message": "m", "result": "Refund failed"}`, refundry.RefundFailed, ""},
		{"AlreadyRefunded", 409, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "product_sale_already_refunded", "message": "m", "result": "Refund failed"}`, refundry.RefundFailed, ""},
		{"Disputed", 409, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "charge_disputed", "message": "m", "result": "Refund failed"}`, refundry.RefundFailed, ""},
		{"Conflict", 409, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "conflict", "message": "m", "result": "Refund failed"}`, "", refundry.EUNAVAILABLE},
		{"TooLarge", 422, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "amount_exceeds_refundable", "message": "m", "result": "Refund failed"}`, refundry.RefundFailed, ""},
		{"GatewayRefused", 502, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "gateway_refused", "message": "m", "result": "Refund failed"}`, refundry.RefundFailed, ""},
		{"Proxy502", 502, `<html>Bad Gateway</html>`, "", refundry.EUNAVAILABLE},
		{"NotFoundNotRevCent", 404, `not found`, "", refundry.EGATEWAY},
		{"Unauthorized", 401, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "invalid_api_key", "message": "m", "result": "Refund failed"}`, "", refundry.EGATEWAY},
		{"TooMany", 429, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "rate_limited", "message": "m", "result": "Refund failed"}`, "", refundry.EUNAVAILABLE},
		{"Unavailable", 503, `{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1, "code": 0, "error_code": "service_unavailable", "message": "m", "result": "Refund failed"}`, "", refundry.EUNAVAILABLE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			g, err := revcent.New(revcent.Config{BaseURL: srv.URL, APIKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "re_1",
				Transaction: &refundry.Transaction{GatewayChargeID: "pppppppppppppppppppp", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
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
