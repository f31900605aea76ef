package jetti

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// FuzzDecodeRequest: what the path's id and a Transaction body become, in
// a transaction of each currency exponent. An accepted id is the integer
// written, at least 1. An accepted body has only the model's fields, its
// createdSource is manual or catchup, and its refundAmount and
// processingFee are exactly the numbers sent, in minor units of the
// currency, never negative; a refundAmount of 0 or none asks for all that
// remains. Every refusal is answered 400, as the contract says of a bad
// id or body; an amount any client would write is never refused. An
// accepted body re-encoded from what was read is read the same.
func FuzzDecodeRequest(f *testing.F) {
	// The seed's whole sample Transaction is in the checked-in corpus.
	for _, s := range [][2]string{
		{"1", `{"refundAmount": 12.5}`}, {"7", `{"refundAmount": 0, "processingFee": 0.5, "name": "Refund", "externalId": "ext-1", "createdSource": "catchup"}`},
		{"007", `{"refundAmount": 1.234}`}, {"0", `{}`}, {"-1", `{"refundAmount": 1}`}, {"1.0", `{"refundAmount": 1.001}`}, {"+7", `{"refundAmount": -1}`},
		{"9223372036854775807", `{"refundAmount": 1e400}`}, {"x", `{"refundAmount": "1"}`}, {"1", `{"status": "done"}`}, {"1", `{"type": null, "source": "jetti", "stripeId": null}`},
		{"1", `{"refund_amount": 5}`}, {"1", `{"RefundAmount": 5}`}, {"1", `[]`}, {"1", ``}, {"1", `{"processingFee": 1e-400}`}, {"1", `{"refundAmount": 92233720368547758.07}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, id, body string) {
		if n, err := parseNumber(id); err != nil {
			if status := answerStatus(err); status != http.StatusBadRequest {
				t.Fatalf("id %q refused with %d, want 400", id, status)
			}
		} else if want, err := strconv.ParseInt(id, 10, 64); err != nil || n != want || n < 1 || strings.TrimLeft(id, "0123456789") != "" {
			t.Fatalf("id %q read as %d", id, n)
		}

		req, err := decodeRefund([]byte(body))
		if err != nil {
			refused(t, body, "", err)
			return
		}
		sent := objectOf(t, []byte(body))
		for k := range sent {
			if !slices.Contains(readOnly, k) && !slices.Contains([]string{"refundAmount", "processingFee", "name", "externalId", "createdSource", "status", "source", "type"}, k) {
				t.Fatalf("body %q accepted with %q, no field of Transaction", body, k)
			}
		}
		if req.refundAmount != numberOf(sent["refundAmount"]) || req.processingFee != numberOf(sent["processingFee"]) ||
			req.name != stringOf(sent["name"]) || req.externalID != stringOf(sent["externalId"]) {
			t.Fatalf("body %q read as %+v", body, req)
		}
		if cs := stringOf(sent["createdSource"]); req.createdSource != cs && !(cs == "" && req.createdSource == "manual") {
			t.Fatalf("body %q: createdSource read as %q", body, req.createdSource)
		}
		for _, cur := range testenv.Currencies {
			amount, fee, err := req.minorUnits(cur)
			if err != nil {
				if testenv.PlainAmount(string(req.refundAmount), cur.Exponent) && (req.processingFee == "" || req.processingFee == "0") {
					t.Fatalf("body %q in %s: plain refundAmount refused: %v", body, cur.Code, err)
				}
				refused(t, body, cur.Code, err)
				continue
			}
			wantAmount, okAmount := testenv.ExactMinor(string(req.refundAmount), cur.Exponent)
			wantFee, okFee := testenv.ExactMinor(string(req.processingFee), cur.Exponent)
			switch {
			case amount == nil && req.refundAmount != "" && (!okAmount || wantAmount != 0):
				t.Fatalf("body %q in %s: refundAmount %q read as everything", body, cur.Code, req.refundAmount)
			case amount != nil && (!okAmount || *amount != wantAmount || *amount <= 0):
				t.Fatalf("body %q in %s: refundAmount %q read as %d; exact value %d (%v)", body, cur.Code, req.refundAmount, *amount, wantAmount, okAmount)
			case req.processingFee == "" && fee != 0, req.processingFee != "" && (!okFee || fee != wantFee), fee < 0:
				t.Fatalf("body %q in %s: processingFee %q read as %d; exact value %d (%v)", body, cur.Code, req.processingFee, fee, wantFee, okFee)
			}
			roundTrip(t, body, req, cur, amount, fee)
		}
	})
}

// roundTrip writes an accepted request back as a client would, amounts
// in major units from the minor units read, and reads it again.
func roundTrip(t *testing.T, body string, req refundBody, cur refundry.Currency, amount *int64, fee int64) {
	t.Helper()
	out := map[string]any{"processingFee": json.Number(refundry.FormatMajor(fee, cur)), "name": req.name,
		"externalId": req.externalID, "createdSource": req.createdSource, "refundAmount": 0}
	if amount != nil {
		out["refundAmount"] = json.Number(refundry.FormatMajor(*amount, cur))
	}
	again, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("body %q: re-encode: %v", body, err)
	}
	back, err := decodeRefund(again)
	if err != nil {
		t.Fatalf("body %q re-encoded as %s is refused: %v", body, again, err)
	}
	a, f, err := back.minorUnits(cur)
	if err != nil || (a == nil) != (amount == nil) || a != nil && *a != *amount || f != fee ||
		back.name != req.name || back.externalID != req.externalID || back.createdSource != req.createdSource {
		t.Fatalf("body %q in %s read as %+v (%v, %d); re-encoded as %s: %+v (%v, %d), %v", body, cur.Code, req, amount, fee, again, back, a, f, err)
	}
}

// refused checks a refusal of the body: answered 400 in Jetti's shape,
// as a validation failure by field or a fault of the body's form.
func refused(t *testing.T, body, currency string, err error) {
	t.Helper()
	var ve *validationError
	var we *edge.WireError
	if !errors.As(err, &ve) && !errors.As(err, &we) && refundry.ErrorCode(err) != refundry.EINVALID {
		t.Fatalf("body %q %s: refused with %T %v", body, currency, err, err)
	}
	if status := answerStatus(err); status != http.StatusBadRequest {
		t.Fatalf("body %q %s: refused with %d, want 400", body, currency, status)
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

func numberOf(v any) json.Number { n, _ := v.(json.Number); return n }
func stringOf(v any) string      { s, _ := v.(string); return s }

// answerStatus is the status Jetti's error table gives err.
func answerStatus(err error) int {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPut, "/v1/transactions/1/refund.json", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}
