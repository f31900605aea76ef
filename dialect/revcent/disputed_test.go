package revcent

import (
	"encoding/json"
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
	if rec.Code != 409 {
		t.Fatalf("status %d, want 409: %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got["error_code"] != "charge_disputed" || got["code"] != 0.0 || got["result"] != resultFailed ||
		!strings.HasPrefix(got["message"].(string), "The product sale's payment has an open dispute") {
		t.Fatalf("body %s", rec.Body)
	}
}
