package refundry_test

import (
	"testing"

	"github.com/refundry/refundry"
)

func TestLookupCurrency(t *testing.T) {
	for _, tt := range []struct {
		name string
		code string
		want refundry.Currency
	}{
		{"OK", "USD", refundry.Currency{Code: "USD", Exponent: 2}},
		{"OKLowerCase", "usd", refundry.Currency{Code: "USD", Exponent: 2}},
		{"OKMixedCase", "uSd", refundry.Currency{Code: "USD", Exponent: 2}},
		{"OKJPY", "JPY", refundry.Currency{Code: "JPY", Exponent: 0}},
		{"OKKRW", "krw", refundry.Currency{Code: "KRW", Exponent: 0}},
		{"OKKWD", "KWD", refundry.Currency{Code: "KWD", Exponent: 3}},
		{"OKBHD", "bhd", refundry.Currency{Code: "BHD", Exponent: 3}},
		{"OKCLF", "CLF", refundry.Currency{Code: "CLF", Exponent: 4}},
		{"OKEUR", "eur", refundry.Currency{Code: "EUR", Exponent: 2}},
		{"OKGBP", "GBP", refundry.Currency{Code: "GBP", Exponent: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refundry.LookupCurrency(tt.code)
			if err != nil {
				t.Fatalf("LookupCurrency(%q) = %v", tt.code, err)
			}
			if got != tt.want {
				t.Fatalf("LookupCurrency(%q) = %+v, want %+v", tt.code, got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		code string
	}{
		{"ErrUnknown", "XYZ"},
		{"ErrEmpty", ""},
		{"ErrTooShort", "US"},
		{"ErrTooLong", "USDD"},
		{"ErrSpace", " USD"},
		{"ErrSymbol", "$"},
		{"ErrNumericCode", "840"},
		{"ErrVeryLong", string(make([]byte, 10000))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := refundry.LookupCurrency(tt.code)
			if code := refundry.ErrorCode(err); code != refundry.EINVALID {
				t.Fatalf("LookupCurrency(%q) code = %q, want %q (%v)", tt.code, code, refundry.EINVALID, err)
			}
			if p := refundry.ErrorParam(err); p != "currency" {
				t.Fatalf("param = %q, want currency", p)
			}
			if msg := refundry.ErrorMessage(err); len(msg) > 200 {
				t.Fatalf("message is %d bytes: the code must be truncated in it", len(msg))
			}
		})
	}
}

func TestMustCurrency(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if c := refundry.MustCurrency("kwd"); c.Code != "KWD" || c.Exponent != 3 {
			t.Fatalf("MustCurrency(kwd) = %+v", c)
		}
	})
	t.Run("ErrPanicsOnUnknown", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("MustCurrency(XXX) did not panic")
			}
		}()
		refundry.MustCurrency("XXX")
	})
}
