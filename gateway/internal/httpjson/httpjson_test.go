package httpjson

import (
	"encoding/json"
	"testing"

	"github.com/refundry/refundry"
)

// TestMajorMinor: amounts cross the wire exactly, with each currency's
// exponent, both ways.
func TestMajorMinor(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		text     string
	}{
		{500, "JPY", "500"},
		{1, "USD", "0.01"},
		{1250, "USD", "12.50"},
		{1001, "KWD", "1.001"},
		{12345, "KWD", "12.345"},
		{9007199254740993, "USD", "90071992547409.93"}, // beyond a float64's integers
	}
	for _, tc := range tests {
		got, err := Major(tc.amount, tc.currency)
		if err != nil || got.String() != tc.text {
			t.Errorf("Major(%d, %s) = %q, %v; want %q", tc.amount, tc.currency, got, err, tc.text)
		}
		back, err := Minor(got, tc.currency)
		if err != nil || back != tc.amount {
			t.Errorf("Minor(%q, %s) = %d, %v; want %d", got, tc.currency, back, err, tc.amount)
		}
	}
	// An answer with more decimals than the currency has is not an amount.
	if _, err := Minor(json.Number("1.5"), "JPY"); refundry.ErrorCode(err) != refundry.EINVALID {
		t.Errorf("Minor(1.5 JPY) = %v, want EINVALID", err)
	}
	if _, err := Major(100, "XXX"); err == nil {
		t.Error("Major of an unknown currency succeeded")
	}
}

func TestNewBase(t *testing.T) {
	tests := []struct {
		base, def, want string
		ok              bool
	}{
		{"", "https://api.example.com", "https://api.example.com", true},
		{"http://127.0.0.1:8080/", "", "http://127.0.0.1:8080", true},
		{"https://host/prefix", "", "https://host/prefix", true},
		{"ftp://host", "", "", false},
		{"host:8080", "", "", false},
		{"https://host?x=1", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		c, err := New("P", tc.base, tc.def, nil)
		if !tc.ok {
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "base_url" {
				t.Errorf("New(%q) = %v, want EINVALID on base_url", tc.base, err)
			}
			continue
		}
		if err != nil || c.Base != tc.want || c.Client == nil || c.Client.Timeout != DefaultTimeout {
			t.Errorf("New(%q) = %+v, %v; want base %q with the default client", tc.base, c, err, tc.want)
		}
	}
}
