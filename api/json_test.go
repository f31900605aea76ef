package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
)

// Invariant 7: a body every edge reads the same way, or a 4xx. edge.CheckJSON
// is where ambiguity is refused for all of them.
func TestCheckJSON(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name, body string
		want       string // "" when the body passes; else a part of the message
	}{
		{"OK", `{"amount": 12.5, "metadata": {"a": [1, {"b": null}]}}`, ""},
		{"Empty", ``, ""},
		{"Blank", " \n\t", ""},
		{"HugeNumberIsTextToCheck", `{"amount": 1e99999}`, ""},
		{"DepthAtLimit", nest(edge.MaxDepth), ""},
		{"DepthOverLimit", nest(edge.MaxDepth + 1), "deeper than 32"},
		{"DeepObjects", strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), "deeper than 32"},
		{"DuplicateKey", `{"amount": 1, "amount": 1000}`, `key "amount" twice`},
		{"DuplicateNested", `{"metadata": {"x": 1, "x": 2}}`, `key "x" twice`},
		{"DuplicateEscaped", `{"amount": 1, "\u0061mount": 2}`, `key "amount" twice`},
		{"DuplicateInArrayOfObjects", `{"rows": [{"target": "a"}, {"target": "b", "target": "c"}]}`, `key "target" twice`},
		{"SameKeyInSiblingObjects", `{"rows": [{"target": "a"}, {"target": "b"}]}`, ""},
		{"InvalidUTF8", "{\"reason\": \"\xff\xfe\"}", "UTF-8"},
		{"InvalidUTF8InKey", "{\"\xc0\": 1}", "UTF-8"},
		{"LoneSurrogate", `{"reason": "\ud800"}`, "not valid JSON"},
		{"Trailing", `{} {}`, "exactly one"},
		{"TrailingGarbage", `{"a": 1} x`, "not valid JSON"},
		{"Truncated", `{"amount": `, "ends too soon"},
		{"Syntax", `{"amount" 1}`, "not valid JSON"},
		{"SingleQuotes", `{'amount': 1}`, "not valid JSON"},
		{"NaN", `{"amount": NaN}`, "not valid JSON"},
		{"NUL", "{\"a\": 1\x00}", "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := edge.CheckJSON([]byte(tc.body))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("edge.CheckJSON(%.60q) = %v, want nil", tc.body, err)
				}
				return
			}
			if refundry.ErrorCode(err) != refundry.EINVALID || !strings.Contains(refundry.ErrorMessage(err), tc.want) {
				t.Fatalf("edge.CheckJSON(%.60q) = %v, want EINVALID with %q", tc.body, err, tc.want)
			}
			// Every decoder built on it refuses the same body.
			var v any
			if err := edge.DecodeJSON([]byte(tc.body), &v); refundry.ErrorCode(err) != refundry.EINVALID {
				t.Fatalf("edge.DecodeJSON(%.60q) = %v, want EINVALID", tc.body, err)
			}
			if err := api.DecodeStrict([]byte(tc.body), &v); err == nil {
				t.Fatalf("DecodeStrict(%.60q) accepted it", tc.body)
			}
		})
	}
}

func TestDecodeJSONKeepsNumbersExact(t *testing.T) {
	var v struct {
		Amount json.Number `json:"amount"`
		Other  any         `json:"other"`
	}
	body := `{"amount": 92233720368547758.07, "other": 0.1, "ignored": true}`
	if err := edge.DecodeJSON([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.Amount != "92233720368547758.07" || v.Other != json.Number("0.1") {
		t.Fatalf("decoded %q and %#v: numbers must stay decimal text", v.Amount, v.Other)
	}
	if err := api.DecodeStrict([]byte(body), &v); err == nil || !strings.Contains(err.Error(), "ignored") {
		t.Fatalf("DecodeStrict with an unknown field: %v, want it named", err)
	}
}

// A key that is no field's exact name never fills a field: encoding/json
// alone would read "AMOUNT" as amount, and a later "amount" would win.
func TestDecodeFieldNames(t *testing.T) {
	type inner struct {
		Email string `json:"email"`
	}
	type req struct {
		Amount   json.Number     `json:"amount"`
		Customer *inner          `json:"customer"`
		Rows     []inner         `json:"rows"`
		Metadata json.RawMessage `json:"metadata"`
		Any      any             `json:"any"`
	}
	for _, tc := range []struct {
		name, body      string
		lenient, strict string // "" accepted; else the parameter refused
	}{
		{"OK", `{"amount": 1, "customer": {"email": "a"}, "rows": [{"email": "b"}], "metadata": {"AMOUNT": 1}, "any": {"x": 1}}`, "", ""},
		{"FoldedTop", `{"AMOUNT": 5, "amount": 1}`, "AMOUNT", "AMOUNT"},
		{"FoldedAlone", `{"Amount": 5}`, "Amount", "Amount"},
		{"FoldedNested", `{"customer": {"EMAIL": "x"}}`, "customer.EMAIL", "customer.EMAIL"},
		{"FoldedInArray", `{"rows": [{"email": "b"}, {"Email": "c"}]}`, "rows[1].Email", "rows[1].Email"},
		{"Unknown", `{"amount": 1, "bogus": 2}`, "", "bogus"},
		{"UnknownNested", `{"customer": {"phone": "x"}}`, "", "customer.phone"},
		{"FreeFormMetadata", `{"metadata": {"anything": {"Amount": 1}}}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []struct {
				decode func([]byte, any) error
				want   string
			}{{edge.DecodeJSON, tc.lenient}, {edge.DecodeFields, tc.strict}} {
				var v req
				err := mode.decode([]byte(tc.body), &v)
				if mode.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", tc.body, err)
					}
					continue
				}
				if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != mode.want {
					t.Fatalf("%s: %v (param %q), want EINVALID on %q", tc.body, err, refundry.ErrorParam(err), mode.want)
				}
			}
		})
	}
}
