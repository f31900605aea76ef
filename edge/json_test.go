package edge

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// Decoders are kept between bodies; what one body left in a decoder (the
// names of its objects, a body cut off, an error half way) must not
// change the verdict on the next one.
func TestDecodeJSONAfterEarlierBodies(t *testing.T) {
	type target struct {
		Sale     string            `json:"sale"`
		Amount   json.Number       `json:"amount"`
		Metadata map[string]string `json:"metadata"`
	}
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	tests := []struct {
		name    string
		bodies  []string
		wantErr []string // "" when the body decodes
	}{
		{"SameNamesAgain", []string{`{"sale": "a", "amount": 1}`, `{"sale": "b", "amount": 2}`}, []string{"", ""}},
		{"DuplicateThenValid", []string{`{"sale": "a", "sale": "b"}`, `{"sale": "a", "amount": 1}`}, []string{`names the key "sale" twice`, ""}},
		{"CutOffThenValid", []string{`{"sale": "a", "metadata": {"x": "1"`, `{"sale": "a", "metadata": {"x": "1"}}`}, []string{"ends too soon", ""}},
		{"TooDeepThenValid", []string{`{"metadata": ` + deep + `}`, `{"metadata": {"x": "1"}}`}, []string{"deeper than", ""}},
		{"WrongCaseThenValid", []string{`{"SALE": "a"}`, `{"sale": "a"}`}, []string{"unknown parameter: SALE", ""}},
		{"ValidThenDuplicateNested", []string{`{"metadata": {"x": "1", "y": "2"}}`, `{"metadata": {"x": "1", "x": "2"}}`}, []string{"", `names the key "x" twice`}},
		{"TwoValuesThenOne", []string{`{"sale": "a"} {"sale": "b"}`, `{"sale": "a"}`}, []string{"exactly one JSON object", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, body := range tt.bodies {
				var v target
				err := DecodeJSON([]byte(body), &v)
				switch {
				case tt.wantErr[i] == "" && err != nil:
					t.Fatalf("body %d %s: %v", i, body, err)
				case tt.wantErr[i] != "" && (err == nil || !strings.Contains(refundry.ErrorMessage(err), tt.wantErr[i])):
					t.Fatalf("body %d %s: got %v, want an error saying %q", i, body, err, tt.wantErr[i])
				}
				if err == nil && v.Sale == "" && v.Metadata == nil {
					t.Fatalf("body %d %s decoded to nothing", i, body)
				}
			}
		})
	}
}

// A native refund's body is read on every request: its decoders are
// kept, not made afresh (58 allocations a body before, 22 after).
func TestDecodeJSONAllocs(t *testing.T) {
	body := []byte(`{"sale": "s_0123456789abcdefghij", "amount": 1000, "reason": "requested_by_customer", "metadata": {"order": "42"}}`)
	var v struct {
		Sale     string            `json:"sale"`
		Amount   json.Number       `json:"amount"`
		Reason   string            `json:"reason"`
		Metadata map[string]string `json:"metadata"`
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := DecodeJSON(body, &v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 30 {
		t.Errorf("DecodeJSON makes %.0f allocations a body, want at most 30", allocs)
	}
}
