package testenv

import (
	"math/big"
	"regexp"

	"github.com/refundry/refundry"
)

// jsonDecimal is a JSON number whose exponent, if any, is short enough
// for math/big to expand cheaply.
var jsonDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,4})?$`)

// ExactMinor is the fuzz targets' reference for an amount in major units:
// the number of minor units (10^-exponent) that decimal text means, when
// it is a JSON number, not negative, a whole number of minor units and
// within int64. It is computed with math/big, apart from
// refundry.ParseMajor, so that a decoder's answer can be checked against
// it rather than against itself.
func ExactMinor(text string, exponent int) (int64, bool) {
	if !jsonDecimal.MatchString(text) {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok || r.Sign() < 0 {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exponent)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// plainAmount is an amount as any client writes one: a few digits and at
// most a few decimals, no exponent.
var plainAmount = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,3})?$`)

// PlainAmount reports whether text is an amount no decoder may refuse in
// a currency of that exponent: plain digits, positive, with no more
// decimals than the currency has.
func PlainAmount(text string, exponent int) bool {
	v, ok := ExactMinor(text, exponent)
	return ok && v > 0 && v < 1e15 && plainAmount.MatchString(text)
}

// Currencies has one currency of each minor-unit exponent a decoder must
// handle: none (JPY), two (USD) and three (KWD) decimals.
var Currencies = []refundry.Currency{refundry.MustCurrency("JPY"), refundry.MustCurrency("USD"), refundry.MustCurrency("KWD")}
