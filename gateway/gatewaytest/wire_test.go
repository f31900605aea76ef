package gatewaytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/jetti"
	"github.com/refundry/refundry/gateway/keepup"
	"github.com/refundry/refundry/gateway/payop"
	"github.com/refundry/refundry/gateway/revcent"
)

// sent is one request as a provider received it.
type sent struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// recording is a provider that keeps what it receives and answers status
// with body.
func recording(t *testing.T, status int, header map[string]string, body string) (string, func() []sent) {
	var (
		mu   sync.Mutex
		reqs []sent
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, sent{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(b)})
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []sent {
		mu.Lock()
		defer mu.Unlock()
		return append([]sent(nil), reqs...)
	}
}

// sameJSON reports whether two JSON texts hold the same value, numbers
// compared as written.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	norm := func(s string) string {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("not JSON: %q: %v", s, err)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	return norm(got) == norm(want)
}

// TestWire checks that each connector sends exactly what its provider's
// document describes: method, path, credentials and body, with amounts in
// the currency's major units.
func TestWire(t *testing.T) {
	txn := func(id, cur string, amount int64) *refundry.Transaction {
		return &refundry.Transaction{ID: "t1", GatewayChargeID: id, Currency: cur, Amount: amount}
	}
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		answer  string
		gateway func(base string) (refundry.Gateway, error)
		refund  refundry.GatewayRefund
		method  string
		path    string
		auth    [2]string // header, value
		body    string
		want    refundry.GatewayResult
	}{
		{
			name: "payop/partial", status: 200, header: map[string]string{"identifier": "81962ed0"}, answer: `{"data": "", "status": 1}`,
			gateway: func(base string) (refundry.Gateway, error) {
				return payop.New(payop.Config{BaseURL: base, Token: "jwt-1"})
			},
			refund: refundry.GatewayRefund{RefundID: "re_1", Transaction: txn("d839c714", "KWD", 12345), Amount: 1001, Currency: "KWD"},
			method: "POST", path: "/v1/refunds/create", auth: [2]string{"Authorization", "Bearer jwt-1"},
			body: `{"transactionIdentifier": "d839c714", "refundType": 2, "amount": 1.001, "metadata": {"refundry_refund_id": "re_1"}}`,
			want: refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: "81962ed0"},
		},
		{
			name: "payop/remainder", status: 200, header: map[string]string{"identifier": "x2"}, answer: `{"data": "", "status": 1}`,
			gateway: func(base string) (refundry.Gateway, error) {
				return payop.New(payop.Config{BaseURL: base, Token: "jwt-1"})
			},
			refund: refundry.GatewayRefund{RefundID: "re_2", Transaction: txn("d839c714", "JPY", 5000), Amount: 5000, Currency: "JPY", Remainder: true},
			method: "POST", path: "/v1/refunds/create", auth: [2]string{"Authorization", "Bearer jwt-1"},
			body: `{"transactionIdentifier": "d839c714", "refundType": 1, "amount": 5000, "metadata": {"refundry_refund_id": "re_2"}}`,
			want: refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: "x2"},
		},
		{
			name: "revcent/line offsite", status: 200,
			answer: `{"api_call_id": "cccccccccccccccccccc", "api_call_unix": 1, "code": 1, "amount": 12.5, "product_sale_id": "pppppppppppppppppppp", "pending_refund": [], "result": "ok"}`,
			gateway: func(base string) (refundry.Gateway, error) {
				return revcent.New(revcent.Config{BaseURL: base, APIKey: "key-1"})
			},
			refund: refundry.GatewayRefund{RefundID: "re_3", Transaction: txn("ssssssssssssssssssss", "USD", 5000), Amount: 1250, Currency: "USD",
				GatewayLineID: "pppppppppppppppppppp", Offsite: true},
			method: "POST", path: "/v2/product_sales/pppppppppppppppppppp/refund", auth: [2]string{"X-API-Key", "key-1"},
			body: `{"amount": 12.50, "refunded_offsite": true}`,
			want: refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: "cccccccccccccccccccc"},
		},
		{
			name: "revcent/pending", status: 200,
			answer: `{"api_call_id": "cccccccccccccccccccc", "code": 1, "amount": 500, "pending_refund": ["rrrrrrrrrrrrrrrrrrrr"], "result": "ok"}`,
			gateway: func(base string) (refundry.Gateway, error) {
				return revcent.New(revcent.Config{BaseURL: base, APIKey: "key-1"})
			},
			refund: refundry.GatewayRefund{RefundID: "re_4", Transaction: txn("ssssssssssssssssssss", "JPY", 5000), Amount: 500, Currency: "JPY"},
			method: "POST", path: "/v2/product_sales/ssssssssssssssssssss/refund", auth: [2]string{"X-API-Key", "key-1"},
			body: `{"amount": 500}`,
			want: refundry.GatewayResult{Status: refundry.RefundPending, GatewayRefundID: "rrrrrrrrrrrrrrrrrrrr"},
		},
		{
			name: "jetti/partial", status: 200, answer: `{"id": 42, "amount": 12.345, "refundAmount": 1.001, "status": "complete", "stripeRefundId": null}`,
			gateway: func(base string) (refundry.Gateway, error) {
				return jetti.New(jetti.Config{BaseURL: base, Token: "tok-1"})
			},
			refund: refundry.GatewayRefund{RefundID: "re_5", Transaction: txn("42", "KWD", 12345), Amount: 1001, Currency: "KWD"},
			method: "PUT", path: "/v1/transactions/42/refund.json", auth: [2]string{"Authorization", "Bearer tok-1"},
			body: `{"refundAmount": 1.001}`,
			want: refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: "42:re_5"},
		},
		{
			name: "keepup/whole", status: 200, answer: `{"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}`,
			gateway: func(base string) (refundry.Gateway, error) {
				return keepup.New(keepup.Config{BaseURL: base, APIKey: "key-2"})
			},
			refund: refundry.GatewayRefund{RefundID: "re_6", Transaction: txn("sale-9", "USD", 1250), Amount: 1250, Currency: "USD"},
			method: "PUT", path: "/v2.0/sales/refund/sale-9", auth: [2]string{"Authorization", "Bearer key-2"},
			body: `{"alert_customer": "no"}`,
			want: refundry.GatewayResult{Status: refundry.RefundSucceeded},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, reqs := recording(t, tc.status, tc.header, tc.answer)
			g, err := tc.gateway(base)
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Refund(context.Background(), tc.refund)
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want {
				t.Errorf("result = %+v, want %+v", res, tc.want)
			}
			all := reqs()
			if len(all) != 1 {
				t.Fatalf("%d requests, want 1", len(all))
			}
			r := all[0]
			if r.Method != tc.method || r.Path != tc.path {
				t.Errorf("sent %s %s, want %s %s", r.Method, r.Path, tc.method, tc.path)
			}
			if got := r.Header.Get(tc.auth[0]); got != tc.auth[1] {
				t.Errorf("%s = %q, want %q", tc.auth[0], got, tc.auth[1])
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !sameJSON(t, r.Body, tc.body) {
				t.Errorf("body = %s, want %s", r.Body, tc.body)
			}
			if _, err := g.Cancel(context.Background(), tc.refund); refundry.ErrorCode(err) != refundry.ECONFLICT {
				t.Errorf("Cancel: %v, want ECONFLICT", err)
			}
		})
	}
}

// TestOneShotAskedAgain: a one-shot connector asked about a refund its
// provider already acknowledged sends nothing.
func TestOneShotAskedAgain(t *testing.T) {
	base, reqs := recording(t, 500, nil, "")
	p, _ := payop.New(payop.Config{BaseURL: base, Token: "t"})
	r, _ := revcent.New(revcent.Config{BaseURL: base, APIKey: "k"})
	j, _ := jetti.New(jetti.Config{BaseURL: base, Token: "t"})
	for _, g := range []refundry.Gateway{p, r, j} {
		if !g.(refundry.OneShot).OneShot() {
			t.Errorf("%s is not OneShot", g.Name())
		}
		res, err := g.Refund(context.Background(), refundry.GatewayRefund{RefundID: "re_1", GatewayRefundID: "gw_1",
			Transaction: &refundry.Transaction{GatewayChargeID: "42", Currency: "USD", Amount: 100}, Amount: 100, Currency: "USD"})
		if err != nil || res.GatewayRefundID != "gw_1" || res.Status == refundry.RefundFailed {
			t.Errorf("%s asked again: %+v, %v", g.Name(), res, err)
		}
	}
	k, _ := keepup.New(keepup.Config{BaseURL: base, APIKey: "k"})
	if k.OneShot() {
		t.Error("keepup is OneShot; a whole-sale refund may be sent again")
	}
	if n := len(reqs()); n != 0 {
		t.Errorf("%d requests sent; want none", n)
	}
}

// TestKeepUpPartial: KeepUp refunds whole sales only; a partial refund is
// refused before any call, as a failed result from Refund and EINVALID
// from CheckRefund.
func TestKeepUpPartial(t *testing.T) {
	base, reqs := recording(t, 200, nil, `{"status": 200, "message": "sale refunded", "data": {"status": "refunded"}}`)
	g, err := keepup.New(keepup.Config{BaseURL: base, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	r := refundry.GatewayRefund{RefundID: "re_1", Transaction: &refundry.Transaction{GatewayChargeID: "s1", Currency: "USD", Amount: 1250}, Amount: 1249, Currency: "USD"}
	if err := g.CheckRefund(r); refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "amount" {
		t.Errorf("CheckRefund = %v, want EINVALID on amount", err)
	}
	res, err := g.Refund(context.Background(), r)
	if err != nil || res.Status != refundry.RefundFailed || !strings.Contains(res.FailureReason, "whole") {
		t.Errorf("Refund = %+v, %v; want failed, naming whole sales", res, err)
	}
	if n := len(reqs()); n != 0 {
		t.Errorf("%d requests sent; want none", n)
	}
	r.Amount = 1250
	if err := g.CheckRefund(r); err != nil {
		t.Errorf("CheckRefund of the whole payment = %v", err)
	}
}

// TestNew: each connector refuses a configuration it cannot work with.
func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		make  func() error
		param string
	}{
		{"payop/no token", func() error { _, err := payop.New(payop.Config{}); return err }, "credentials.token"},
		{"payop/ftp", func() error { _, err := payop.New(payop.Config{Token: "t", BaseURL: "ftp://x"}); return err }, "base_url"},
		{"revcent/no key", func() error { _, err := revcent.New(revcent.Config{}); return err }, "credentials.api_key"},
		{"revcent/relative", func() error { _, err := revcent.New(revcent.Config{APIKey: "k", BaseURL: "/v2"}); return err }, "base_url"},
		{"jetti/no token", func() error { _, err := jetti.New(jetti.Config{BaseURL: "https://x"}); return err }, "credentials.token"},
		{"jetti/no base", func() error { _, err := jetti.New(jetti.Config{Token: "t"}); return err }, "base_url"},
		{"keepup/no key", func() error { _, err := keepup.New(keepup.Config{}); return err }, "credentials.api_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make()
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != tc.param {
				t.Errorf("err = %v, want EINVALID on %s", err, tc.param)
			}
		})
	}
	// The documented defaults.
	for _, c := range []struct{ got, want string }{
		{payop.DefaultBaseURL, "https://api.payop.com"},
		{revcent.DefaultBaseURL, "https://api.revcent.com"},
		{keepup.DefaultBaseURL, "https://api.keepup.store"},
	} {
		if c.got != c.want {
			t.Errorf("default base %q, want %q", c.got, c.want)
		}
	}
}
