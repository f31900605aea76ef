package refundry

import (
	"errors"
	"strconv"
	"strings"
)

// Invariant 1: money is never a float. Amounts are int64 counts of a
// currency's minor unit; decimal text is converted exactly, and a value that
// cannot be represented exactly is an error, never a rounding.

// Currency is an ISO 4217 currency and the number of decimals of its minor
// unit (0 for JPY, 2 for USD, 3 for KWD).
type Currency struct {
	Code     string
	Exponent int
}

// LookupCurrency returns the currency with the given ISO 4217 code (any
// case). Returns EINVALID for a code that is not in the table.
func LookupCurrency(code string) (Currency, error) {
	// ASCII only: strings.ToUpper would fold "uſd" into "USD".
	up := ""
	if len(code) == 3 && allLetters(code) {
		up = strings.ToUpper(code)
	}
	exp, ok := currencyExponents[up]
	if !ok {
		return Currency{}, ParamErrorf(EINVALID, "currency", "Unknown currency %q: expected an ISO 4217 code such as USD.", truncate(code, 16))
	}
	return Currency{Code: up, Exponent: exp}, nil
}

// MustCurrency is LookupCurrency for codes known at compile time.
func MustCurrency(code string) Currency {
	c, err := LookupCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

// maxAmountText bounds the text ParseMajor reads, so that a hostile number
// costs no more than a short one.
const maxAmountText = 64

// ParseMajor converts decimal text in major units ("12.50", "1.234",
// "1.5e1", as JSON writes numbers) into minor units of c. Trailing zeros
// beyond the currency's decimals are exact and accepted; any other digit
// there is an error. Negative values, NaN, infinities, exponents out of range
// and values beyond int64 are EINVALID errors.
func ParseMajor(s string, c Currency) (int64, error) {
	if len(s) > maxAmountText {
		return 0, Errorf(EINVALID, "Amount is too long to be a valid number.")
	}
	if strings.HasPrefix(s, "-") {
		return 0, Errorf(EINVALID, "Amount must not be negative.")
	}
	intPart, frac, exp, ok := splitDecimal(s)
	if !ok {
		return 0, Errorf(EINVALID, "Amount %q is not a decimal number.", truncate(s, 32))
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	shift := c.Exponent - len(frac) + exp
	if digits == "" {
		return 0, nil
	}
	if shift < 0 {
		cut := -shift
		if cut > len(digits) || strings.Trim(digits[len(digits)-cut:], "0") != "" {
			e := Errorf(EINVALID, "Amount %q has more than %d decimals, the most %s allows.", truncate(s, 32), c.Exponent, c.Code)
			if c.Exponent == 0 {
				e = Errorf(EINVALID, "Amount %q has decimals, but %s has none.", truncate(s, 32), c.Code)
			}
			e.Err = errTooManyDecimals
			return 0, e
		}
		digits = digits[:len(digits)-cut]
	} else if shift > 0 {
		if len(digits)+shift > 19 {
			return 0, Errorf(EINVALID, "Amount %q is too large.", truncate(s, 32))
		}
		digits += strings.Repeat("0", shift)
	}
	if len(digits) > 19 {
		return 0, Errorf(EINVALID, "Amount %q is too large.", truncate(s, 32))
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, Errorf(EINVALID, "Amount %q is too large.", truncate(s, 32))
	}
	return n, nil
}

// ParseMinor converts text that must be a whole number of minor units
// ("1250", or "1250.0", "1.25e3" as some JSON encoders write them).
func ParseMinor(s string) (int64, error) {
	n, err := ParseMajor(s, Currency{Code: "minor units", Exponent: 0})
	if errors.Is(err, errTooManyDecimals) {
		return 0, Errorf(EINVALID, "Amount %q must be a whole number of minor units (cents).", truncate(s, 32))
	}
	return n, err
}

// FormatMajor writes minor units as decimal text in major units: 1250 USD
// is "12.50", 500 JPY is "500", 1234 KWD is "1.234".
func FormatMajor(amount int64, c Currency) string {
	neg := amount < 0
	u := uint64(amount)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if c.Exponent > 0 {
		if len(s) <= c.Exponent {
			s = strings.Repeat("0", c.Exponent-len(s)+1) + s
		}
		s = s[:len(s)-c.Exponent] + "." + s[len(s)-c.Exponent:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// splitDecimal splits a JSON-style number into its integer digits, fraction
// digits and decimal exponent. The exponent is bounded so that no input can
// ask for a huge allocation.
func splitDecimal(s string) (intPart, frac string, exp int, ok bool) {
	mant := s
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e := s[i+1:]
		if e == "" || len(e) > 5 {
			return "", "", 0, false
		}
		n, err := strconv.Atoi(e)
		if err != nil || n > 400 || n < -400 {
			return "", "", 0, false
		}
		exp = n
	}
	intPart, frac, _ = strings.Cut(mant, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", "", 0, false
	}
	if strings.Contains(mant, ".") && frac == "" {
		return "", "", 0, false
	}
	return intPart, frac, exp, true
}

// errTooManyDecimals marks the errors of a number finer than its currency.
var errTooManyDecimals = errors.New("too many decimals")

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
