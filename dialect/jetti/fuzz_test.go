package jetti_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry/dialect/jetti"
	"github.com/refundry/refundry/internal/testenv"
)

// FuzzRefundBody: invariant 7. Whatever the body, the answer is never a
// 5xx nor a panic, and it is always a Transaction or the error shape.
func FuzzRefundBody(f *testing.F) {
	sd, err := loadSeed()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		sd.body, ``, `{}`, `null`, `[]`, `1`, `{"refundAmount": 1.5}`, `{"refundAmount": 0}`,
		`{"refundAmount": 1, "processingFee": 0.5}`, `{"refundAmount": 1.001}`, `{"refundAmount": -0}`,
		`{"refundAmount": 1e400}`, `{"processingFee": 1e-400}`, `{"refundAmount": "1"}`, `{"status": "done"}`,
		`{"type": null, "source": "jetti", "createdSource": "catchup"}`, `{"name": "\u0000"}`, `{"bogus": []}`,
		`{"refundAmount": 1}{}`, `{"a":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`, `{"id": 42, "refundAmount": 0.01}`,
	} {
		f.Add(seed)
	}
	env := testenv.New(f)
	// A sale far larger than any fuzzing run can refund.
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1 << 50}})
	h := jetti.NewHandler(env.Engine, env.Logger)
	path := refundPath(sale.Transactions[0].Number)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("PUT", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+env.KeyA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		checkAnswer(t, rec.Code, rec.Header(), rec.Body.Bytes())
	})
}
