package revcent

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// FuzzDecodeRequest: what the path's product_sale_id and the body
// become, in a sale of each currency exponent. An accepted id is 20
// characters; an accepted body has at most amount, a number, and
// refunded_offsite, a boolean, each read as sent, and its amount is
// exactly that number in minor units of the currency, above zero; none
// asks for the whole remainder. A bad id or body is answered 400 and a
// bad amount 422, each with its error_code; an amount any client would
// write is never refused. An accepted body re-encoded from what was read
// is read the same.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range [][2]string{
		{"dc1ij3bksdub4ah5uhr0", `{"amount": 12.5}`}, {"dc1ij3bksdub4ah5uhr0", `{"amount": 12.5, "refunded_offsite": false}`},
		{"dc1ij3bksdub4ah5uhr0", `{"refunded_offsite": true}`}, {"dc1ij3bksdub4ah5uhr0", `{}`}, {"dc1ij3bksdub4ah5uhr0", `{"amount": 1.234}`},
		{"dc1ij3bksdub4ah5uhr", `{"amount": 0}`}, {"dc1ij3bksdub4ah5uhr0x", `{"amount": -1}`}, {"ééééééééééééééééééé1", `{"amount": 1.001}`},
		{"", `{"amount": 1e400}`}, {"../../../../etc/pass", `{"amount": "1"}`}, {"dc1ij3bksdub4ah5uhr0", `{"refunded_offsite": 1}`},
		{"dc1ij3bksdub4ah5uhr0", `{"AMOUNT": 1}`}, {"dc1ij3bksdub4ah5uhr0", `{"amount": 1, "note": "x"}`}, {"dc1ij3bksdub4ah5uhr0", ``},
		{"dc1ij3bksdub4ah5uhr0", `null`}, {"dc1ij3bksdub4ah5uhr0", `{"amount": 92233720368547758.07}`}, {"dc1ij3bksdub4ah5uhr0", `{"amount": 1E-400}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, id, body string) {
		if err := checkProductSaleID(id); err != nil {
			if status := answerStatus(err); status != http.StatusBadRequest {
				t.Fatalf("id %q refused with %d, want 400", id, status)
			}
		} else if utf8.RuneCountInString(id) != refundry.IDLength {
			t.Fatalf("id %q of %d characters accepted", id, utf8.RuneCountInString(id))
		}

		req, err := decodeRefund([]byte(body))
		if err != nil {
			var we *edge.WireError
			if !errors.As(err, &we) || answerStatus(err) != http.StatusBadRequest {
				t.Fatalf("body %q refused with %d: %v", body, answerStatus(err), err)
			}
			return
		}
		sent := objectOf(t, []byte(body))
		for k := range sent {
			if k != "amount" && k != "refunded_offsite" {
				t.Fatalf("body %q accepted with %q", body, k)
			}
		}
		if n, _ := sent["amount"].(json.Number); req.amount != n {
			t.Fatalf("body %q: amount read as %q", body, req.amount)
		}
		if o, _ := sent["refunded_offsite"].(bool); req.refundedOffsite != o {
			t.Fatalf("body %q: refunded_offsite read as %v", body, req.refundedOffsite)
		}
		for _, cur := range testenv.Currencies {
			amount, err := parseAmount(req.amount, cur)
			if err != nil {
				if testenv.PlainAmount(string(req.amount), cur.Exponent) {
					t.Fatalf("body %q in %s: plain amount refused: %v", body, cur.Code, err)
				}
				if refundry.ErrorCode(err) != refundry.EINVALID || answerStatus(err) != http.StatusUnprocessableEntity {
					t.Fatalf("body %q in %s: amount refused with %q, %d", body, cur.Code, refundry.ErrorCode(err), answerStatus(err))
				}
				continue
			}
			want, exact := testenv.ExactMinor(string(req.amount), cur.Exponent)
			switch {
			case amount == nil && req.amount != "":
				t.Fatalf("body %q in %s: amount %q read as everything", body, cur.Code, req.amount)
			case amount != nil && (!exact || *amount != want || *amount <= 0):
				t.Fatalf("body %q in %s: amount %q read as %d; exact value %d (%v)", body, cur.Code, req.amount, *amount, want, exact)
			}
			out := map[string]any{"refunded_offsite": req.refundedOffsite}
			if amount != nil {
				out["amount"] = json.Number(refundry.FormatMajor(*amount, cur))
			}
			again, _ := json.Marshal(out)
			back, err := decodeRefund(again)
			if err != nil {
				t.Fatalf("body %q re-encoded as %s is refused: %v", body, again, err)
			}
			a, err := parseAmount(back.amount, cur)
			if err != nil || back.refundedOffsite != req.refundedOffsite || (a == nil) != (amount == nil) || a != nil && *a != *amount {
				t.Fatalf("body %q in %s read as %v; re-encoded as %s: %v, %v", body, cur.Code, amount, again, a, err)
			}
		}
	})
}

// objectOf reads an accepted body with encoding/json alone.
func objectOf(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("body %q accepted, but it is no JSON object: %v", body, err)
	}
	return m
}

// answerStatus is the status RevCent's error table gives err.
func answerStatus(err error) int {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPost, "/v2/product_sales/x/refund", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}
