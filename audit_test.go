package refundry_test

import (
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/refundry/refundry"
)

func TestAuditText(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"OKPlain", "/v1/refunds/re_1/cancel", "/v1/refunds/re_1/cancel"},
		{"OKUnicode", "/api/v2/origins/caf\u00e9:42/refund", "/api/v2/origins/caf\u00e9:42/refund"},
		{"OKBackslashKept", `a\x00b`, `a\x00b`},
		{"NUL", "/v1/refunds/\x00/cancel", `/v1/refunds/\x00/cancel`},
		{"NULs", "\x00\x00", `\x00\x00`},
		{"InvalidBytes", "/v1/refunds/\xff\xfe", `/v1/refunds/\xff\xfe`},
		{"Overlong", "a\xc0\xafb", `a\xc0\xafb`},
		{"Surrogate", "a\xed\xa0\x80", `a\xed\xa0\x80`},
		{"Truncated", "\xf0\x9f\x92", `\xf0\x9f\x92`},
		{"Mixed", "\u00e9\x00\xff\u00e9", `é\x00\xffé`},
		{"OKEmpty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := refundry.AuditText(tt.in)
			if got != tt.want {
				t.Errorf("AuditText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("AuditText(%q) = %q is not valid UTF-8", tt.in, got)
			}
			for i := 0; i < len(got); i++ {
				if got[i] == 0 {
					t.Errorf("AuditText(%q) = %q holds a NUL", tt.in, got)
				}
			}
		})
	}
}

// Every text field, found by reflection so that a field added to the
// entry or its actor later is held to the same rule.
func TestAuditEntryStorable(t *testing.T) {
	const odd, clean = "x\x00\xff", `x\x00\xff`
	var e refundry.AuditEntry
	n := setStrings(reflect.ValueOf(&e).Elem(), odd)
	if n < 10 {
		t.Fatalf("found %d text fields, want the entry's and its actor's", n)
	}
	got := e.Storable()
	var want refundry.AuditEntry
	setStrings(reflect.ValueOf(&want).Elem(), clean)
	if got != want {
		t.Errorf("Storable() = %+v, want every text field escaped: %+v", got, want)
	}
	if e.Actor.Path != odd {
		t.Error("Storable changed the entry it was called on")
	}
}

// setStrings sets every string field of the struct v, nested structs
// included, to s, and returns how many it set.
func setStrings(v reflect.Value, s string) int {
	n := 0
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(s)
			n++
		case reflect.Struct:
			n += setStrings(f, s)
		}
	}
	return n
}
