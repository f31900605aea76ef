package talkable

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// The merchant's policy refusals are answered in this dialect's own shape
// and status, with fixed messages whatever the engine's words (the
// README's errors table).
func TestPolicyRefusalShape(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{refundry.Errorf(refundry.EWINDOW, "The refund window of this sale closed on 2026-01-31: the merchant's policy allows refunds for 30 days after a sale."),
			`{"ok":false,"error_message":"Refund window expired: the merchant's policy allows no refund of this purchase so long after it"}`},
		{refundry.Errorf(refundry.ETOOMANY, "This sale has 3 refunds already; the merchant's policy allows at most 3 per sale."),
			`{"ok":false,"error_message":"Too many refunds: the purchase has as many refunds as the merchant's policy allows"}`},
	} {
		t.Run(refundry.ErrorCode(tc.err), func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("POST", "/", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			if rec.Code != 422 {
				t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tc.want {
				t.Fatalf("body %s\nwant %s", got, tc.want)
			}
		})
	}
}
