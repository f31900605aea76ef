package api

import (
	"testing"
)

// FuzzDecodeReturn: POST /v1/returns. Every accepted line names a line
// item and exactly the whole number of units sent, at least 1; an
// accepted request re-encodes to one that decodes to the same request.
func FuzzDecodeReturn(f *testing.F) {
	for _, s := range []string{
		`{"sale": "dc1ij3bksdub4ah5uhr0", "lines": [{"line_item": "dc1ij3bksdub4ah5uhrg", "quantity": 2}], "reason": "damaged"}`,
		`{"lines": [{"line_item": "x", "quantity": 0}]}`, `{"lines": [{"line_item": "x", "quantity": 1.5}]}`,
		`{"lines": [{"line_item": "x", "quantity": "1"}]}`, `{"lines": [{"line_item": "x", "quantity": 1e400}]}`,
		`{"lines": [{"line_item": "x", "quantity": -3}]}`, `{"lines": [{"line_item": "x"}]}`, `{"lines": {}}`,
		`{"description": "\ud800"}`, `{"bogus": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req returnRequest
		if err := DecodeStrict(body, &req); err != nil {
			return
		}
		lines, err := req.returnLines()
		if err != nil {
			return
		}
		if len(lines) != len(req.Lines) {
			t.Fatalf("%d lines sent, %d read", len(req.Lines), len(lines))
		}
		for i, l := range lines {
			want, ok := exactMinor(string(req.Lines[i].Quantity))
			if !ok || l.Quantity != want || l.Quantity < 1 || l.LineItemID == "" {
				t.Fatalf("line %d: %+v from %q", i, l, req.Lines[i].Quantity)
			}
		}
		roundTrip(t, body, &req, &returnRequest{})
	})
}

// FuzzDecodeReturnRefund: POST /v1/returns/{id}/refund reads a restocking
// fee as exactly the whole number of minor units sent.
func FuzzDecodeReturnRefund(f *testing.F) {
	for _, s := range []string{`{"restocking_fee": 300}`, `{}`, `{"restocking_fee": 1.5}`, `{"restocking_fee": "3"}`, `{"restocking_fee": -1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req returnRefundRequest
		if err := DecodeStrict(body, &req); err != nil || req.RestockingFee == "" {
			return
		}
		fee, err := restockingFee(req.RestockingFee)
		if err != nil {
			return
		}
		if want, ok := exactMinor(string(req.RestockingFee)); !ok || fee != want {
			t.Fatalf("fee %q read as %d", req.RestockingFee, fee)
		}
	})
}
