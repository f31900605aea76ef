package payop

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// FuzzDecodeRequest: what a Create Refund body becomes, in a transaction
// of each currency exponent. An accepted request names a transaction,
// has refundType 1 or 2 and, for 2, an amount; its amount is exactly the
// number sent in minor units of the currency (1.234 is 1234 fils, 500 is
// 500 yen), never zero or negative, and with refundType 1 the whole
// remainder. Every refusal is a refundry error Payop answers 422; an
// amount any client would write (10.50 in USD) is never refused. An
// accepted request re-encoded, its amount written from minor units, is
// the same request.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 2, "amount": 10, "metadata": {"internal merchant id": "example"}}`,
		`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 1}`,
		`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 1, "amount": 25.5}`,
		`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 2, "amount": 1.234}`,
		`{"transactionIdentifier": "d839c714-7743-47cf-8f9d-73592597c6e1", "refundType": 2, "amount": "10.50"}`,
		`{"transactionIdentifier": 12345, "refundType": "2", "amount": 1.5e1, "metadata": null}`,
		`{"transactionIdentifier": "x", "refundType": 2, "amount": 0}`, `{"transactionIdentifier": "x", "refundType": 2, "amount": -1}`,
		`{"transactionIdentifier": "x", "refundType": 2, "amount": 0.001}`, `{"transactionIdentifier": "x", "refundType": 2, "amount": 1e400}`,
		`{"transactionIdentifier": "x", "refundType": 2, "amount": 92233720368547758.08}`, `{"transactionIdentifier": "x", "refundType": 2}`,
		`{"transactionIdentifier": "x", "refundType": 3}`, `{"transactionIdentifier": "x", "refundType": 1.5}`, `{"transactionIdentifier": "", "refundType": 1}`,
		`{"transactionIdentifier": ["x"], "refundType": 1}`, `{"transactionIdentifier": "x", "refundType": 1, "metadata": [1, {"a": "b"}, "c"]}`,
		`{"transactionIdentifier": "x", "refundType": 1, "bogus": 1}`, `{"TransactionIdentifier": "x", "refundType": 1}`, `[]`, ``, "\xff{",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeCreateRefund([]byte(body))
		if err != nil {
			refused(t, body, "", err)
			return
		}
		sent := objectOf(t, []byte(body))
		if req.identifier == "" || req.identifier != textOf(sent["transactionIdentifier"]) {
			t.Fatalf("body %q: transactionIdentifier read as %q", body, req.identifier)
		}
		if req.refundType != refundAll && req.refundType != refundPartial || req.refundType == refundPartial && req.amount == "" {
			t.Fatalf("body %q: refundType %d, amount %q accepted", body, req.refundType, req.amount)
		}
		if req.amount != textOf(sent["amount"]) {
			t.Fatalf("body %q: amount read as %q", body, req.amount)
		}
		if md, ok := sent["metadata"]; ok && md != nil && !sameJSON(t, req.metadata, md) {
			t.Fatalf("body %q: metadata read as %s", body, req.metadata)
		}
		for _, cur := range testenv.Currencies {
			want, exact := testenv.ExactMinor(req.amount, cur.Exponent)
			txn := &refundry.Transaction{Currency: cur.Code, Amount: 1 << 62}
			if req.refundType == refundAll && exact && want > 0 {
				txn.Amount = want // the whole remainder, which is what type 1 may name
			}
			amount, err := refundAmount(req, txn)
			if err != nil {
				if req.refundType == refundPartial && testenv.PlainAmount(req.amount, cur.Exponent) {
					t.Fatalf("body %q in %s: plain amount refused: %v", body, cur.Code, err)
				}
				refused(t, body, cur.Code, err)
				continue
			}
			switch {
			case amount == nil:
				if req.amount != "" {
					t.Fatalf("body %q in %s: amount %q read as everything", body, cur.Code, req.amount)
				}
			case !exact || *amount != want || *amount <= 0:
				t.Fatalf("body %q in %s: amount %q read as %d minor units; exact value %d (%v)", body, cur.Code, req.amount, *amount, want, exact)
			case req.refundType == refundAll && *amount != txn.Amount-txn.RefundedAmount:
				t.Fatalf("body %q in %s: refundType 1 with %d of %d remaining", body, cur.Code, *amount, txn.Amount)
			}
			roundTrip(t, body, req, txn, amount, cur)
		}
	})
}

// roundTrip writes an accepted request back as a client would, its
// amount as major units from the minor units read, and reads it again.
func roundTrip(t *testing.T, body string, req createRefund, txn *refundry.Transaction, amount *int64, cur refundry.Currency) {
	t.Helper()
	out := map[string]any{"transactionIdentifier": req.identifier, "refundType": req.refundType}
	if amount != nil {
		out["amount"] = json.Number(refundry.FormatMajor(*amount, cur))
	}
	if req.metadata != nil {
		out["metadata"] = req.metadata
	}
	again, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("body %q: re-encode: %v", body, err)
	}
	back, err := decodeCreateRefund(again)
	if err != nil {
		t.Fatalf("body %q re-encoded as %s is refused: %v", body, again, err)
	}
	n, err := refundAmount(back, txn)
	if err != nil || back.identifier != req.identifier || back.refundType != req.refundType ||
		!bytes.Equal(back.metadata, req.metadata) || (n == nil) != (amount == nil) || n != nil && *n != *amount {
		t.Fatalf("body %q in %s read as %+v, %v; re-encoded as %s: %+v, %v, %v", body, cur.Code, req, amount, again, back, n, err)
	}
}

// refused checks a refusal: a refundry error with a code, answered 422
// as every validation failure of the contract's table.
func refused(t *testing.T, body, currency string, err error) {
	t.Helper()
	code := refundry.ErrorCode(err)
	if code != refundry.EINVALID && code != refundry.ETOOLARGE {
		t.Fatalf("body %q %s: refused with code %q (%v)", body, currency, code, err)
	}
	if status := answerStatus(err); status != http.StatusUnprocessableEntity {
		t.Fatalf("body %q %s: refused with %d, want 422", body, currency, status)
	}
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

// textOf is a scalar as the seed's loosely typed clients mean it: a
// number's text, or a string.
func textOf(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	}
	return ""
}

// sameJSON reports whether raw, which must be compact, decodes to v.
func sameJSON(t *testing.T, raw json.RawMessage, v any) bool {
	t.Helper()
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil || !bytes.Equal(compact.Bytes(), raw) {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var got any
	return d.Decode(&got) == nil && reflect.DeepEqual(got, v)
}

// answerStatus is the status Payop's error table gives err.
func answerStatus(err error) int {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPost, "/v1/refunds/create", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}
