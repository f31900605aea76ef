package refundry_test

import (
	"testing"

	"github.com/refundry/refundry"
)

func TestPageNormalize(t *testing.T) {
	for _, tt := range []struct {
		name      string
		page      refundry.Page
		wantLimit int
		param     string // "" when valid
	}{
		{"OKDefaultLimit", refundry.Page{}, 10, ""},
		{"OKSmallest", refundry.Page{Limit: 1}, 1, ""},
		{"OKLargest", refundry.Page{Limit: refundry.MaxPageLimit}, 100, ""},
		{"OKStartingAfter", refundry.Page{Limit: 5, StartingAfter: "x"}, 5, ""},
		{"OKEndingBefore", refundry.Page{EndingBefore: "x"}, 10, ""},
		{"ErrLimitNegative", refundry.Page{Limit: -1}, 0, "limit"},
		{"ErrLimitTooLarge", refundry.Page{Limit: 101}, 0, "limit"},
		{"ErrBothCursors", refundry.Page{StartingAfter: "a", EndingBefore: "b"}, 0, "ending_before"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.page
			err := p.Normalize()
			checkValidate(t, err, refundry.EINVALID, tt.param)
			if err == nil && p.Limit != tt.wantLimit {
				t.Fatalf("Limit = %d, want %d", p.Limit, tt.wantLimit)
			}
		})
	}
}
