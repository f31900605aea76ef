package revcent_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry/dialect/revcent"
	"github.com/refundry/refundry/internal/testenv"
)

// FuzzRefundBody: invariant 7. Whatever the body, the answer is never a
// 5xx nor a panic, and it always fits the seed's schemas.
func FuzzRefundBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `1`, `{"amount": 12.5}`, `{"amount": 12.5, "refunded_offsite": false}`,
		`{"amount": 1.001}`, `{"amount": -0}`, `{"amount": 0.0}`, `{"amount": 1e400}`, `{"amount": 1E-400}`,
		`{"amount": 99999999999999999999999999}`, `{"amount": "1"}`, `{"refunded_offsite": true}`,
		`{"refunded_offsite": 1}`, `{"AMOUNT": 1}`, `{"amount": 1, "amount": 2}`, `{"amount": 1}{}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`, "{\"amount\": 1\x00}", `{"\u0061mount": 0.01}`,
	} {
		f.Add(seed)
	}
	env := testenv.New(f)
	// A sale far larger than any fuzzing run can refund.
	sale := env.Sale(testenv.SaleSpec{Units: []int64{1 << 50}})
	h := revcent.NewHandler(env.Engine, env.Logger)
	path := "/v2/product_sales/" + sale.LineItems[0].ID + "/refund"
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("X-API-Key", env.KeyA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		res := checkAnswer(t, rec.Code, rec.Header(), rec.Body.Bytes())
		if res.status == http.StatusOK && !requestValid(t, body) {
			t.Fatalf("body %q breaks the seed's request schema but was refunded", body)
		}
	})
}
