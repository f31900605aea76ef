package refundry_test

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

var (
	jpy = refundry.MustCurrency("JPY") // exponent 0
	usd = refundry.MustCurrency("USD") // exponent 2
	kwd = refundry.MustCurrency("KWD") // exponent 3
	clf = refundry.MustCurrency("CLF") // exponent 4
)

var allExponents = []refundry.Currency{jpy, usd, kwd, clf}

// Invariant 1: decimal text becomes exact minor units, or an error.
func TestParseMajor_Invariant1(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		cur  refundry.Currency
		want int64
	}{
		{"OK", "12.50", usd, 1250},
		{"OKOneDecimal", "12.5", usd, 1250},
		{"OKWhole", "12", usd, 1200},
		{"OKOneCent", "0.01", usd, 1},
		{"OKZero", "0", usd, 0},
		{"OKZeroDecimals", "0.00", usd, 0},
		{"OKLeadingZeros", "0012.50", usd, 1250},
		{"OKKWD", "1.234", kwd, 1234},
		{"OKKWDWhole", "7", kwd, 7000},
		{"OKCLF", "1.2345", clf, 12345},
		{"OKCLFSmallest", "0.0001", clf, 1},
		{"OKJPY", "500", jpy, 500},
		{"OKJPYTrailingZero", "500.0", jpy, 500},
		{"OKExponent", "1.5e1", usd, 1500},
		{"OKExponentUpperPlus", "1E+2", usd, 10000},
		{"OKExponentNegative", "1250e-2", usd, 1250},
		{"OKExponentToCents", "1e-2", usd, 1},
		{"OKExponentJPY", "1.5e1", jpy, 15},
		{"OKExponentZeroValueHuge", "0e-400", usd, 0},
		{"OKTrailingZeros", "12.500", usd, 1250},
		{"OKManyTrailingZeros", "12.50000000000000000000000000000", usd, 1250},
		{"OKTrailingZerosJPY", "12.000", jpy, 12},
		{"OKMaxInt64Minor", "9223372036854775807", jpy, math.MaxInt64},
		{"OKMaxInt64USD", "92233720368547758.07", usd, math.MaxInt64},
		{"OKMaxInt64Exponent", "9.223372036854775807e18", jpy, math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refundry.ParseMajor(tt.in, tt.cur)
			if err != nil {
				t.Fatalf("ParseMajor(%q, %s) = %v", tt.in, tt.cur.Code, err)
			}
			if got != tt.want {
				t.Fatalf("ParseMajor(%q, %s) = %d, want %d", tt.in, tt.cur.Code, got, tt.want)
			}
		})
	}
}

func TestParseMajor_Errors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		cur  refundry.Currency
	}{
		{"ErrTooManyDecimals", "12.345", usd},
		{"ErrTooManyDecimalsTiny", "0.001", usd},
		{"ErrTooManyDecimalsKWD", "1.2345", kwd},
		{"ErrTooManyDecimalsCLF", "1.23456", clf},
		{"ErrTooManyDecimalsAfterZeros", "12.5000001", usd},
		{"ErrDecimalsJPY", "1.5", jpy},
		{"ErrExponentLeavesDecimals", "1e-3", usd},
		{"ErrExponentLeavesDecimalsJPY", "15e-1", jpy},
		{"ErrNegative", "-5", usd},
		{"ErrNegativeZero", "-0", usd},
		{"ErrNegativeExponent", "-1e2", usd},
		{"ErrNaN", "NaN", usd},
		{"ErrInfinity", "Infinity", usd},
		{"ErrInf", "+Inf", usd},
		{"ErrEmpty", "", usd},
		{"ErrDotOnly", ".", usd},
		{"ErrNoIntegerPart", ".5", usd},
		{"ErrNoFraction", "5.", usd},
		{"ErrTwoDots", "1.2.3", usd},
		{"ErrExponentMissing", "1e", usd},
		{"ErrExponentSignOnly", "1e+", usd},
		{"ErrExponentTwice", "1e2e3", usd},
		{"ErrExponentFraction", "1e1.5", usd},
		{"ErrExponentHuge", "1e999", usd},
		{"ErrExponentHugeNegative", "1e-999", usd},
		{"ErrExponentVeryLong", "1e0000000000002", usd},
		{"ErrTooLarge", "9223372036854775808", jpy},
		{"ErrTooLargeUSD", "92233720368547758.08", usd},
		{"ErrTooLargeTwentyDigits", "10000000000000000000", jpy},
		{"ErrTooLargeExponent", "1e19", jpy},
		{"ErrTooLargeScaled", "100000000000000000", usd},
		{"ErrPlusSign", "+5", usd},
		{"ErrLeadingSpace", " 5", usd},
		{"ErrTrailingSpace", "5 ", usd},
		{"ErrInnerSpace", "1 000", usd},
		{"ErrHex", "0x10", usd},
		{"ErrUnderscore", "1_000", usd},
		{"ErrComma", "12,50", usd},
		{"ErrFraction", "1/2", usd},
		{"ErrLetters", "abc", usd},
		{"ErrUnicodeDigits", "١٢", usd},
		{"ErrQuoted", `"12.50"`, usd},
		{"ErrVeryLong", "1." + strings.Repeat("0", 100), usd},
		{"ErrVeryLongDigits", strings.Repeat("9", 10000), jpy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refundry.ParseMajor(tt.in, tt.cur)
			if err == nil {
				t.Fatalf("ParseMajor(%q, %s) = %d, want an error", tt.in, tt.cur.Code, got)
			}
			if code := refundry.ErrorCode(err); code != refundry.EINVALID {
				t.Fatalf("ParseMajor(%q, %s) error code = %q, want %q (%v)", tt.in, tt.cur.Code, code, refundry.EINVALID, err)
			}
			if msg := refundry.ErrorMessage(err); len(msg) > 200 {
				t.Fatalf("error message is %d bytes: the input must be truncated in it", len(msg))
			}
		})
	}
}

func TestFormatMajor(t *testing.T) {
	for _, tt := range []struct {
		name   string
		amount int64
		cur    refundry.Currency
		want   string
	}{
		{"OKUSD", 1250, usd, "12.50"},
		{"OKUSDCent", 1, usd, "0.01"},
		{"OKUSDZero", 0, usd, "0.00"},
		{"OKUSDTen", 10, usd, "0.10"},
		{"OKUSDWhole", 100, usd, "1.00"},
		{"OKJPY", 500, jpy, "500"},
		{"OKJPYZero", 0, jpy, "0"},
		{"OKKWD", 1234, kwd, "1.234"},
		{"OKKWDFils", 5, kwd, "0.005"},
		{"OKCLF", 12345, clf, "1.2345"},
		{"OKCLFSmallest", 1, clf, "0.0001"},
		{"OKNegativeUSD", -1250, usd, "-12.50"},
		{"OKNegativeCent", -1, usd, "-0.01"},
		{"OKNegativeJPY", -500, jpy, "-500"},
		{"OKNegativeKWD", -5, kwd, "-0.005"},
		{"OKMaxInt64", math.MaxInt64, usd, "92233720368547758.07"},
		{"OKMinInt64", math.MinInt64, usd, "-92233720368547758.08"},
		{"OKMinInt64JPY", math.MinInt64, jpy, "-9223372036854775808"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := refundry.FormatMajor(tt.amount, tt.cur); got != tt.want {
				t.Fatalf("FormatMajor(%d, %s) = %q, want %q", tt.amount, tt.cur.Code, got, tt.want)
			}
		})
	}
}

func TestFormatMajor_RoundTrip(t *testing.T) {
	values := []int64{0, 1, 5, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 1250, 9999, 10000, 12345,
		1 << 31, 1 << 53, math.MaxInt64 - 1, math.MaxInt64}
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		values = append(values, p-1, p, p+1, 7*p)
	}
	for x := uint64(0x9E3779B97F4A7C15); len(values) < 2000; {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		values = append(values, int64(x>>1), int64(x>>(1+x%62)))
	}
	for _, c := range allExponents {
		t.Run(c.Code, func(t *testing.T) {
			for _, v := range values {
				s := refundry.FormatMajor(v, c)
				got, err := refundry.ParseMajor(s, c)
				if err != nil || got != v {
					t.Fatalf("ParseMajor(FormatMajor(%d) = %q) = %d, %v", v, s, got, err)
				}
				if neg := refundry.FormatMajor(-v, c); v != 0 && neg != "-"+s {
					t.Fatalf("FormatMajor(%d) = %q, want %q", -v, neg, "-"+s)
				}
			}
		})
	}
}

func TestParseMinor(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want int64
	}{
		{"OK", "1250", 1250},
		{"OKZero", "0", 0},
		{"OKTrailingZeroDecimal", "1250.0", 1250},
		{"OKExponent", "1.25e3", 1250},
		{"OKMaxInt64", "9223372036854775807", math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refundry.ParseMinor(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseMinor(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		in   string
	}{
		{"ErrDecimals", "12.5"},
		{"ErrExponentDecimals", "125e-1"},
		{"ErrNegative", "-1"},
		{"ErrTooLarge", "9223372036854775808"},
		{"ErrNotANumber", "twelve"},
		{"ErrEmpty", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refundry.ParseMinor(tt.in)
			if err == nil {
				t.Fatalf("ParseMinor(%q) = %d, want an error", tt.in, got)
			}
			if code := refundry.ErrorCode(err); code != refundry.EINVALID {
				t.Fatalf("ParseMinor(%q) code = %q, want %q", tt.in, code, refundry.EINVALID)
			}
		})
	}
	t.Run("ErrDecimalsSaysWholeNumber", func(t *testing.T) {
		_, err := refundry.ParseMinor("12.5")
		if msg := refundry.ErrorMessage(err); !strings.Contains(msg, "whole number") {
			t.Fatalf("message = %q, want it to ask for a whole number", msg)
		}
	})
}

// plainDecimal is the number syntax both ParseMajor and the reference below
// accept: digits, an optional fraction, an optional exponent.
var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([eE]([+-]?[0-9]+))?$`)

// referenceParse computes ParseMajor's answer with math/big: the exact value
// of s times 10^exponent, if it is a whole number that fits in an int64. It
// applies the documented bounds of ParseMajor (64 bytes of text, a decimal
// exponent of at most 5 characters and ±400) before asking big.Rat, which
// would be slow on a huge exponent.
func referenceParse(t *testing.T, s string, c refundry.Currency) (int64, bool) {
	if len(s) > 64 {
		return 0, false
	}
	m := plainDecimal.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	if m[2] != "" {
		e, err := strconv.Atoi(m[3])
		if len(m[3]) > 5 || err != nil || e > 400 || e < -400 {
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat refused plain decimal %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Exponent)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// FuzzParseMajor checks invariant 1 against an exact reference: ParseMajor
// never panics, succeeds exactly when the text is a whole number of minor
// units that fits in an int64, and then gives that number, which formats
// back to the same value.
func FuzzParseMajor(f *testing.F) {
	for _, s := range []string{
		"12.50", "12.5", "12", "0.01", "1.234", "500", "1.5e1", "1E+2", "12.500",
		"12.345", "1.5", "-5", "NaN", "Infinity", "", ".5", "5.", "1e", "1e999",
		"1e-999", "9223372036854775808", "9223372036854775807", "+5", " 5", "0x10",
		"92233720368547758.07", "1e-2", "0e-400", "1e+0400", "00001.00000e00002",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range allExponents {
			got, err := refundry.ParseMajor(s, c)
			want, ok := referenceParse(t, s, c)
			if err != nil {
				if code := refundry.ErrorCode(err); code != refundry.EINVALID {
					t.Fatalf("ParseMajor(%q, %s): code %q, want %q", s, c.Code, code, refundry.EINVALID)
				}
				if ok {
					t.Fatalf("ParseMajor(%q, %s) = %v, want %d", s, c.Code, err, want)
				}
				continue
			}
			if !ok {
				t.Fatalf("ParseMajor(%q, %s) = %d, want an error", s, c.Code, got)
			}
			if got != want {
				t.Fatalf("ParseMajor(%q, %s) = %d, want %d", s, c.Code, got, want)
			}
			if got < 0 {
				t.Fatalf("ParseMajor(%q, %s) = %d, a negative amount", s, c.Code, got)
			}
			text := refundry.FormatMajor(got, c)
			if back, err := refundry.ParseMajor(text, c); err != nil || back != got {
				t.Fatalf("ParseMajor(FormatMajor(%d) = %q, %s) = %d, %v", got, text, c.Code, back, err)
			}
		}
	})
}
