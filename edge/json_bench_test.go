package edge

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecodeJSON is the body of a native refund as the hot path
// decodes it: go test -bench DecodeJSON -benchmem ./edge.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(`{"sale": "s_0123456789abcdefghij", "amount": 1000, "reason": "requested_by_customer", "metadata": {"order": "42"}}`)
	var v struct {
		Sale     string            `json:"sale"`
		Amount   json.Number       `json:"amount"`
		Reason   string            `json:"reason"`
		Metadata map[string]string `json:"metadata"`
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeJSON(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
