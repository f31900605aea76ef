package refundry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

func TestFoldCase(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"Ann@Example.COM", "ann@example.com"},
		{"order-1003", "order-1003"},
		// Only A to Z: what SQLite's lower() and PostgreSQL's lower() on
		// "C" text fold, so that both stores agree.
		{"ÉMILE Ölander", "Émile Ölander"},
		{"[\\]^_`@", "[\\]^_`@"},
	} {
		if got := refundry.FoldCase(tt.in); got != tt.want {
			t.Errorf("FoldCase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrefixRange(t *testing.T) {
	for _, tt := range []struct{ q, lo, hi string }{
		{"Ann", "ann", "ano"},
		{"ORDER-1003", "order-1003", "order-1004"},
		{"a\u00ff", "a\u00ff", "a\u0100"},
		{"a\ud7ff", "a\ud7ff", "a\ue000"},
		{"ab\U0010FFFF", "ab\U0010FFFF", "ac"},
		{"\U0010FFFF", "\U0010FFFF", ""},
	} {
		lo, hi := refundry.PrefixRange(tt.q)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("PrefixRange(%q) = %q, %q; want %q, %q", tt.q, lo, hi, tt.lo, tt.hi)
		}
	}
	// Every string that starts with the folded prefix is inside the range,
	// and the neighbours that do not are outside it.
	lo, hi := refundry.PrefixRange("Ann")
	for _, s := range []string{"ann", "ann@example.com", "anna smith", "ann\U0010FFFF"} {
		if s < lo || s >= hi {
			t.Errorf("%q is outside [%q, %q)", s, lo, hi)
		}
	}
	for _, s := range []string{"an", "anm", "ano", "b", "Ann"} {
		if s >= lo && s < hi {
			t.Errorf("%q is inside [%q, %q)", s, lo, hi)
		}
	}
}

func TestSaleFilterNormalize(t *testing.T) {
	for _, tt := range []struct {
		name  string
		f     refundry.SaleFilter
		param string
	}{
		{"OK", refundry.SaleFilter{Search: "ann", CustomerEmail: "Ann@Example.com"}, ""},
		{"ErrSearchNUL", refundry.SaleFilter{Search: "a\x00"}, "search"},
		{"ErrEmailNotUTF8", refundry.SaleFilter{CustomerEmail: "\xff@example.com"}, "customer_email"},
		{"ErrReferenceNotUTF8", refundry.SaleFilter{Reference: "\xc3"}, "reference"},
		{"ErrSearchTooLong", refundry.SaleFilter{Search: strings.Repeat("a", refundry.MaxSearchLength+1)}, "search"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Normalize()
			if tt.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *refundry.Error
			if refundry.ErrorCode(err) != refundry.EINVALID || !errors.As(err, &e) || e.Param != tt.param {
				t.Fatalf("err = %v, want EINVALID on %s", err, tt.param)
			}
		})
	}
}
