package api

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// Fuzz targets for the native API's request decoders and the JSON reader
// every edge shares. Each asserts properties of what it accepts, not only
// that nothing panics. Their corpora are in testdata/fuzz; .ci/fuzz runs
// each for a few seconds.

// FuzzCheckJSON: a body edge.CheckJSON passes is one valid JSON value in
// UTF-8, nested at most edge.MaxDepth deep, with no key twice in an object;
// it decodes, and re-encodes to a body that passes and decodes the same.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{"amount": 12.5}`, `{"a": 1, "a": 2}`, `{"a": {"b": [1, {"c": null}]}}`, "{\"a\": \"\xff\"}", `"\ud800"`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, `{} {}`, ``, `1e400`, `{"\u0061": 1, "a": 2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := edge.CheckJSON(body)
		if len(bytes.TrimSpace(body)) == 0 {
			if err != nil {
				t.Fatalf("blank body refused: %v", err)
			}
			return
		}
		if err != nil {
			if refundry.ErrorCode(err) != refundry.EINVALID {
				t.Fatalf("edge.CheckJSON(%q) = %v, want EINVALID", body, err)
			}
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("edge.CheckJSON passed %q, which is not valid JSON in UTF-8", body)
		}
		if d := depth(body); d > edge.MaxDepth {
			t.Fatalf("edge.CheckJSON passed %q, nested %d deep", body, d)
		}
		var v any
		if err := edge.DecodeJSON(body, &v); err != nil {
			t.Fatalf("edge.DecodeJSON(%q) = %v after edge.CheckJSON passed it", body, err)
		}
		// Every key in the text survives decoding: none was a duplicate
		// that the map swallowed.
		if got, sent := countKeys(v), namesIn(t, body); got != sent {
			t.Fatalf("edge.CheckJSON passed %q: %d keys sent, %d once decoded", body, sent, got)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode %q: %v", body, err)
		}
		var w any
		if err := edge.DecodeJSON(again, &w); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("%q re-encoded as %q decodes to %#v, %v; want %#v", body, again, w, err, v)
		}
	})
}

func depth(body []byte) int {
	d, max, inString, escaped := 0, 0, false, false
	for _, c := range body {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			d++
			max = maxInt(max, d)
		case !inString && (c == ']' || c == '}'):
			d--
		}
	}
	return max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// namesIn counts the object member names in body, duplicates included.
func namesIn(t *testing.T, body []byte) int {
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	n := 0
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return n
		}
		// A string read where an object expects a name is a name.
		if tok.Kind() == '"' {
			if kind, length := dec.StackIndex(dec.StackDepth()); kind == '{' && length%2 == 1 {
				n++
			}
		}
	}
}

// countKeys counts the object keys in a decoded value.
func countKeys(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := len(x)
		for _, e := range x {
			n += countKeys(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += countKeys(e)
		}
		return n
	}
	return 0
}

// exactMinor is the reference for an amount in minor units: the number
// JSON text means, when it is a whole number that fits in an int64.
func exactMinor(text string) (int64, bool) {
	r, ok := new(big.Rat).SetString(text)
	// A sign is refused even on zero ("-0"), as ParseMajor decides.
	if !ok || strings.ContainsAny(text, "xXpP_") || strings.HasPrefix(text, "-") || !r.IsInt() || !r.Num().IsInt64() || r.Sign() < 0 {
		return 0, false
	}
	return r.Num().Int64(), true
}

// FuzzDecodeRefund: POST /v1/refunds. An accepted amount is exactly the
// number sent, in minor units (invariant 1); an accepted request
// re-encodes to one that decodes to the same request.
func FuzzDecodeRefund(f *testing.F) {
	for _, s := range []string{
		`{"transaction": "dc1ij3bksdub4ah5uhr0", "amount": 1250, "reason": "damaged", "metadata": {"order": "A-1"}, "offsite": false, "notify_customer": true}`,
		`{"sale": "dc1ij3bksdub4ah5uhr0"}`, `{"line_item": "dc1ij3bksdub4ah5uhr0", "amount": 1.25e3}`, `{"amount": 12.5}`,
		`{"amount": -1}`, `{"amount": 1e400}`, `{"AMOUNT": 1, "amount": 2}`, `{"amount": 1, "amount": 2}`, `{"amount": "100"}`,
		`{"metadata": [1]}`, `{"bogus": 1}`, `{"reason": "\ud800"}`,
		`{"sale": "dc1ij3bksdub4ah5uhr0", "lines": [{"line_item": "dc1ij3bksdub4ah5uhr1", "quantity": 1}], "shipping": true}`,
		`{"lines": [{"line_item": "dc1ij3bksdub4ah5uhr1", "quantity": 2, "amount": 999}, {"line_item": "dc1ij3bksdub4ah5uhr2", "amount": 5}]}`,
		`{"sale": "dc1ij3bksdub4ah5uhr0", "shipping": 500}`, `{"shipping": false}`, `{"shipping": null}`,
		`{"shipping": "true"}`, `{"shipping": 1.5}`, `{"shipping": -1}`, `{"shipping": 0}`, `{"shipping": {}}`, `{"shipping": [true]}`, `{"shipping": 1e2}`,
		`{"lines": [{"line_item": "dc1ij3bksdub4ah5uhr1", "quantity": 0}]}`, `{"lines": [{"line_item": "dc1ij3bksdub4ah5uhr1", "quantity": -1}]}`,
		`{"lines": [{"line_item": "dc1ij3bksdub4ah5uhr1", "quantity": 1.5}]}`, `{"lines": [{"line_item": "dc1ij3bksdub4ah5uhr1", "quantity": "1"}]}`,
		`{"lines": [{"line_item": "dc1ij3bksdub4ah5uhr1"}]}`, `{"lines": [{"quantity": 1}]}`, `{"lines": [{"line_item": "x", "quantity": 1, "unit": 1}]}`, `{"lines": {}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req refundRequest
		if err := DecodeStrict(body, &req); err != nil {
			return
		}
		amount, err := edge.Amount(req.Amount, "amount")
		if err != nil {
			if _, ok := exactMinor(string(req.Amount)); ok && len(req.Amount) <= 64 {
				t.Fatalf("amount %q refused (%v), but it is a whole number of minor units", req.Amount, err)
			}
			return
		}
		if amount != nil {
			want, ok := exactMinor(string(req.Amount))
			if !ok || *amount != want {
				t.Fatalf("amount %q read as %d; exact value %d (%v)", req.Amount, *amount, want, ok)
			}
		}
		if lines, err := req.lineRequests(); err == nil {
			for i, l := range lines {
				in := req.Lines[i]
				if q, ok := exactMinor(string(in.Quantity)); in.Quantity != "" && (!ok || q < 1 || l.Quantity != q) {
					t.Fatalf("lines[%d].quantity %q accepted as %d", i, in.Quantity, l.Quantity)
				}
				if in.Quantity == "" && l.Amount == nil {
					t.Fatalf("lines[%d] accepted with neither quantity nor amount", i)
				}
				if l.Amount != nil {
					if a, ok := exactMinor(string(in.Amount)); !ok || a < 1 || *l.Amount != a {
						t.Fatalf("lines[%d].amount %q accepted as %d", i, in.Amount, *l.Amount)
					}
				}
			}
		}
		if sh, err := req.shippingRequest(); err == nil && sh != nil && !sh.All {
			if a, ok := exactMinor(string(bytes.TrimSpace(req.Shipping))); !ok || a < 1 || sh.Amount != a {
				t.Fatalf("shipping %q accepted as %d", req.Shipping, sh.Amount)
			}
		}
		roundTrip(t, body, &req, &refundRequest{})
	})
}

// FuzzDecodeSale: POST /v1/sales. Every amount of an accepted sale is a
// non-negative whole number, exactly the one sent.
func FuzzDecodeSale(f *testing.F) {
	for _, s := range []string{
		`{"reference": "B00K2EOONI", "currency": "USD", "customer": {"email": "customer@example.com", "first_name": "Ann", "last_name": "Lee"},
		  "campaign": {"id": "cmp_spring_2026_0001", "name": "Spring"},
		  "line_items": [{"name": "Widget", "quantity": 2, "unit_amount": 1250}, {"name": "Shipping", "quantity": 1, "unit_amount": 500}],
		  "payment": {"gateway": "simulator", "reference": "d839c714-7743-47cf-8f9d-73592597c6e1", "processing_fee": 30, "base_amount": 2760, "base_currency": "EUR"}}`,
		`{"currency": "JPY", "line_items": [{"name": "x", "unit_amount": 500}], "payments": [{"amount": 200}, {"amount": 300}]}`,
		`{"line_items": [{"quantity": 1.5, "unit_amount": 1}]}`, `{"line_items": [{"unit_amount": -1}]}`, `{"line_items": [{"unit_amount": 1e19}]}`,
		`{"payment": {"stripe_charge": "ch_1"}, "payments": []}`, `{"customer": {"Email": "x"}}`,
		`{"currency": "KWD", "line_items": [{"name": "Widget", "quantity": 2, "unit_amount": 1250, "tax_amount": 250}, {"name": "Shipping", "kind": "shipping", "unit_amount": 500}]}`,
		`{"line_items": [{"name": "x", "unit_amount": 1, "tax_amount": -1}]}`, `{"line_items": [{"name": "x", "unit_amount": 1, "tax_amount": 0.5}]}`,
		`{"line_items": [{"name": "x", "unit_amount": 1, "tax_amount": "1"}]}`, `{"line_items": [{"name": "x", "unit_amount": 1, "kind": 1}]}`,
		`{"line_items": [{"name": "x", "unit_amount": 1, "gateway_line_id": "dc1ij3bksdub4ah5uhr0"}], "payment": {"gateway": "revcent", "gateway_account": "dc1ij3bksdub4ah5uhrg"}}`,
		`{"line_items": [{"name": "x", "unit_amount": 1}], "payments": [{"gateway": "payop", "gateway_account": 5, "amount": 1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req saleRequest
		if err := DecodeStrict(body, &req); err != nil {
			return
		}
		s, err := req.sale("m")
		if err != nil {
			return
		}
		for i, li := range s.LineItems {
			if text := req.LineItems[i].UnitAmount; text != "" {
				if want, ok := exactMinor(string(text)); !ok || li.UnitAmount != want {
					t.Fatalf("unit_amount %q read as %d", text, li.UnitAmount)
				}
			}
			if text := req.LineItems[i].TaxAmount; text != "" {
				if want, ok := exactMinor(string(text)); !ok || li.TaxAmount != want {
					t.Fatalf("tax_amount %q read as %d", text, li.TaxAmount)
				}
			}
			if li.GatewayLineID != req.LineItems[i].GatewayLineID {
				t.Fatalf("gateway_line_id %q read as %q", req.LineItems[i].GatewayLineID, li.GatewayLineID)
			}
			if li.Quantity < 0 || li.UnitAmount < 0 || li.TaxAmount < 0 {
				t.Fatalf("negative line item accepted: %+v", li)
			}
		}
		for _, txn := range s.Transactions {
			if txn.Amount < 0 || txn.ProcessingFee < 0 || txn.BaseAmount < 0 {
				t.Fatalf("negative payment accepted: %+v", txn)
			}
		}
		for i, txn := range s.Transactions {
			sent := req.Payments
			if req.Payment != nil {
				sent = []paymentRequest{*req.Payment}
			}
			if txn.GatewayAccount != sent[i].GatewayAccount {
				t.Fatalf("gateway_account %q read as %q", sent[i].GatewayAccount, txn.GatewayAccount)
			}
			if len(req.Payments) > 0 && req.Payments[i].Amount != "" {
				if want, ok := exactMinor(string(req.Payments[i].Amount)); !ok || txn.Amount != want {
					t.Fatalf("payments[%d].amount %q read as %d", i, req.Payments[i].Amount, txn.Amount)
				}
			}
		}
	})
}

// FuzzDecodeBatch: POST /v1/refund_batches, as JSON ({"rows": [...]} or
// a bare array) or CSV. Each accepted row's amount is exactly the one
// sent; JSON rows re-encode to the same rows.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`{"rows": [{"target": "dc1ij3bksdub4ah5uhr0", "amount": 100, "reason": "late_delivery"}, {"target": "ORDER-7"}]}`,
		`[{"target": "dc1ij3bksdub4ah5uhr0", "amount": 1}]`, `[{"target": "x", "amount": 0.5}]`, `{"rows": [{"target": "x", "Target": "y"}]}`,
		`[{"target": "x", "amount": -1}]`, `{"rows": null}`, "target,amount,reason\nORDER-1,100,late\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if rows, err := refundry.ParseBatchCSV(bytes.NewReader(body)); err == nil {
			for _, r := range rows {
				if r.Amount != nil && *r.Amount < 0 {
					t.Fatalf("CSV row with a negative amount: %+v", r)
				}
			}
		}
		rows, err := decodeBatchJSON(body)
		if err != nil {
			if c := refundry.ErrorCode(err); c != refundry.EINVALID && c != refundry.EINTERNAL {
				t.Fatalf("code %q", c)
			}
			return
		}
		out := make([]map[string]any, len(rows))
		for i, r := range rows {
			out[i] = map[string]any{"target": r.Target, "reason": r.Reason}
			if r.Amount != nil {
				if *r.Amount < 0 {
					t.Fatalf("row %d: negative amount %d accepted", i, *r.Amount)
				}
				out[i]["amount"] = json.Number(refundry.FormatMajor(*r.Amount, refundry.Currency{Exponent: 0}))
			}
		}
		again, _ := json.Marshal(map[string]any{"rows": out})
		rows2, err := decodeBatchJSON(again)
		if err != nil || !reflect.DeepEqual(rows, rows2) {
			t.Fatalf("%q: rows %v; re-encoded as %s: %v (%v)", body, rows, again, rows2, err)
		}
	})
}

// roundTrip re-encodes an accepted request and decodes it strictly again:
// what was accepted must be expressible, and mean the same once more.
func roundTrip(t *testing.T, body []byte, v, fresh any) {
	t.Helper()
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%q accepted but does not re-encode: %v", body, err)
	}
	if err := DecodeStrict(again, fresh); err != nil {
		t.Fatalf("%q accepted; re-encoded as %s it is refused: %v", body, again, err)
	}
	if !reflect.DeepEqual(normalize(t, v), normalize(t, fresh)) {
		t.Fatalf("%q: decoded %+v; re-encoded and decoded again %+v", body, v, fresh)
	}
}

// normalize compares two requests by their JSON, so that a RawMessage
// that was compacted on the way compares equal.
func normalize(t *testing.T, v any) any {
	b, _ := json.Marshal(v)
	var out any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzDecodeDispute: POST /v1/disputes. An accepted amount is exactly the
// number sent; an accepted status is one a dispute can have; an accepted
// request re-encodes to one that decodes to the same request.
func FuzzDecodeDispute(f *testing.F) {
	for _, s := range []string{
		`{"transaction": "dc1ij3bksdub4ah5uhr0", "amount": 1250, "status": "needs_response", "reason": "fraudulent"}`,
		`{"transaction": "dc1ij3bksdub4ah5uhr0"}`, `{"status": "won"}`, `{"status": "open"}`, `{"amount": 12.5}`,
		`{"amount": -1}`, `{"amount": "100"}`, `{"amount": 1e400}`, `{"Status": "lost", "status": "won"}`, `{"reason": "\ud800"}`, `{"bogus": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req disputeRequest
		if err := DecodeStrict(body, &req); err != nil {
			return
		}
		if checkDisputeStatus(req.Status) == nil && !strings.Contains(" warning_needs_response warning_under_review warning_closed needs_response under_review won lost prevented ", " "+req.Status+" ") {
			t.Fatalf("status %q accepted", req.Status)
		}
		amount, err := edge.Amount(req.Amount, "amount")
		if err != nil {
			return
		}
		if amount != nil {
			want, ok := exactMinor(string(req.Amount))
			if !ok || *amount != want {
				t.Fatalf("amount %q read as %d; exact value %d (%v)", req.Amount, *amount, want, ok)
			}
		}
		roundTrip(t, body, &req, &disputeRequest{})
	})
}
