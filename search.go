package refundry

import (
	"strings"
	"unicode/utf8"
)

// Searching for sales by what a person is told on the phone: an email, an
// order number, a name, typed in any case. Both stores compare text the
// same way, so the rule is here, once:
//
//   - Case is folded for the letters A to Z only. SQLite's lower() folds
//     ASCII alone, and PostgreSQL's lower() does the same on text with
//     collation "C"; folding exactly what both databases fold lets each
//     index a lower() expression and still agree with the other store on
//     every string. Other letters match as typed.
//   - A search matches from the start of a field (a prefix), which both
//     stores answer from an ordered index: the range from the folded text
//     up to, not including, its successor (see PrefixRange).

// MaxSearchLength bounds a search text; no email, name or order number a
// person types is longer.
const MaxSearchLength = 200

// FoldCase returns s with the letters A to Z lower-cased and every other
// byte unchanged: the case folding every search and the customer_email
// filter apply, on both sides of the comparison.
func FoldCase(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'A' && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// PrefixRange returns the bounds of the folded strings that start with
// FoldCase(q): lo <= x < hi in byte order, which is code point order for
// UTF-8 and the order of SQLite's BINARY and PostgreSQL's "C" collations.
// hi is lo with its last code point replaced by the next one; it is empty
// when there is no such string (only U+10FFFF), and then x >= lo alone is
// the range.
func PrefixRange(q string) (lo, hi string) {
	lo = FoldCase(q)
	rs := []rune(lo)
	for len(rs) > 0 {
		last := rs[len(rs)-1]
		if last < utf8.MaxRune {
			next := last + 1
			if next >= 0xD800 && next <= 0xDFFF { // surrogates are not text
				next = 0xE000
			}
			rs[len(rs)-1] = next
			return lo, string(rs)
		}
		// x starts with lo and so with lo less its last rune, and every
		// such x is below that shorter prefix's successor.
		rs = rs[:len(rs)-1]
	}
	return lo, ""
}

// checkText refuses what no stored text can equal and PostgreSQL cannot
// even receive as text: invalid UTF-8 and NUL bytes.
func checkText(param, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return ParamErrorf(EINVALID, param, "The %s must be UTF-8 text without NUL bytes.", param)
	}
	return nil
}
