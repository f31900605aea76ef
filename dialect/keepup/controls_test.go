package keepup

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
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
			`{"status":422,"error":"Refund window expired: the merchant's policy allows no refund of this sale so long after it"}`},
		{refundry.Errorf(refundry.ETOOMANY, "This sale has 3 refunds already; the merchant's policy allows at most 3 per sale."),
			`{"status":422,"error":"Too many refunds: the sale has as many refunds as the merchant's policy allows"}`},
	} {
		t.Run(refundry.ErrorCode(tc.err), func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("PUT", "/", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			if rec.Code != 422 {
				t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tc.want {
				t.Fatalf("body %s\nwant %s", got, tc.want)
			}
		})
	}
}

// Every status a refund can be in has its answer: "sale refund pending"
// for each that holds money not yet gone back. A status added to
// refundry.Transitions fails here until it is given one.
func TestAwaitingStatuses(t *testing.T) {
	want := map[string]bool{
		refundry.RefundPending:          true,
		refundry.RefundRequiresApproval: true,
		refundry.RefundRequiresAction:   true,
		refundry.RefundSucceeded:        false,
		refundry.RefundFailed:           false,
		refundry.RefundCanceled:         false,
	}
	for _, s := range statuses() {
		w, ok := want[s]
		if !ok {
			t.Errorf("status %s: no KeepUp answer decided for it", s)
			continue
		}
		if got := awaiting(s); got != w {
			t.Errorf("status %s: pending %v, want %v", s, got, w)
		}
		if got := slices.Contains(awaitingStatuses(), s); got != w {
			t.Errorf("status %s: looked for as pending %v, want %v", s, got, w)
		}
	}
}

// statuses lists every status of refundry.Transitions.
func statuses() []string {
	var out []string
	for _, tr := range refundry.Transitions {
		for _, s := range []string{tr.From, tr.To} {
			if s != refundry.StatusNew && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
