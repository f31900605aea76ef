package refundry_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/refundry/refundry"
)

func TestErrorModel(t *testing.T) {
	domain := refundry.ParamErrorf(refundry.ETOOLARGE, "amount", "Too much: %d.", 5)
	wrapped := fmt.Errorf("planning: %w", domain)
	withCause := &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "Try again.", Err: io.ErrUnexpectedEOF}
	for _, tt := range []struct {
		name                 string
		err                  error
		code, message, param string
	}{
		{"OKNil", nil, "", "An internal error occurred.", ""},
		{"OKDomain", domain, refundry.ETOOLARGE, "Too much: 5.", "amount"},
		{"OKWrapped", wrapped, refundry.ETOOLARGE, "Too much: 5.", "amount"},
		{"OKErrorf", refundry.Errorf(refundry.ENOTFOUND, "No such sale: %s", "s1"), refundry.ENOTFOUND, "No such sale: s1", ""},
		{"OKForeignIsInternal", io.EOF, refundry.EINTERNAL, "An internal error occurred.", ""},
		{"OKCause", withCause, refundry.EUNAVAILABLE, "Try again.", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := refundry.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := refundry.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
			if got := refundry.ErrorParam(tt.err); got != tt.param {
				t.Errorf("ErrorParam = %q, want %q", got, tt.param)
			}
		})
	}
	t.Run("OKUnwrap", func(t *testing.T) {
		if !errors.Is(withCause, io.ErrUnexpectedEOF) {
			t.Fatal("errors.Is does not reach the cause")
		}
		if got, want := withCause.Error(), "unavailable: Try again.: unexpected EOF"; got != want {
			t.Fatalf("Error() = %q, want %q", got, want)
		}
	})
}
