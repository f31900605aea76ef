package talkable

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// A refund refused because its payment is disputed is answered in this
// dialect's own shape and status, with a fixed message whatever the
// engine's words (the README's errors table).
func TestChargeDisputedShape(t *testing.T) {
	rec := httptest.NewRecorder()
	err := refundry.ParamErrorf(refundry.ECHARGEDISPUTED, "transaction", "Transaction 7 is disputed (needs_response): no refund until the dispute closes.")
	writeError(rec, httptest.NewRequest("POST", "/", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), err)
	if rec.Code != 422 {
		t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
	}
	got := strings.TrimSpace(rec.Body.String())
	if want := `{"ok":false,"error_message":"Purchase is disputed: its payment has an open dispute (chargeback), and it cannot be refunded until the dispute is closed"}`; got != want {
		t.Fatalf("body %s\nwant %s", got, want)
	}
}
