package revcent

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/refundry/refundry"
)

// The merchant's policy refusals are answered as APIStandardErrors, 409
// with their own error_code and fixed messages whatever the engine's
// words (the README's errors table).
func TestPolicyRefusalShape(t *testing.T) {
	for _, tc := range []struct {
		err           error
		code, message string
	}{
		{refundry.Errorf(refundry.EWINDOW, "The refund window of this sale closed on 2026-01-31: the merchant's policy allows refunds for 30 days after a sale."),
			"refund_window_expired", "The product sale's refund window has expired: the merchant's policy allows no refund so long after the sale."},
		{refundry.Errorf(refundry.ETOOMANY, "This sale has 3 refunds already; the merchant's policy allows at most 3 per sale."),
			"too_many_refunds", "The sale has as many refunds as the merchant's policy allows; no more can be made on any of its product sales."},
	} {
		t.Run(tc.code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("POST", "/", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			if rec.Code != 409 {
				t.Fatalf("status %d, want 409: %s", rec.Code, rec.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 6 || got["error_code"] != tc.code || got["code"] != 0.0 || got["result"] != resultFailed || got["message"] != tc.message {
				t.Fatalf("body %s", rec.Body)
			}
		})
	}
}

// Every status a refund can be in is decided in or out of
// pending_refund. A status added to refundry.Transitions fails here until
// it is given its place.
func TestPendingRefundStatuses(t *testing.T) {
	want := map[string]bool{
		refundry.RefundPending:          true,
		refundry.RefundRequiresApproval: true,
		refundry.RefundRequiresAction:   true,
		refundry.RefundSucceeded:        false,
		refundry.RefundFailed:           false,
		refundry.RefundCanceled:         false,
	}
	sale := &refundry.Sale{ID: refundry.NewID()}
	for _, s := range refundStatuses() {
		w, ok := want[s]
		if !ok {
			t.Errorf("status %s: no RevCent answer decided for it", s)
			continue
		}
		rf := &refundry.Refund{ID: refundry.NewID(), Status: s, Amount: 250}
		out := render(apiCall{}, sale, refundry.NewID(), refundry.MustCurrency("USD"), []*refundry.Refund{rf})
		if got := slices.Contains(out.PendingRefund, rf.ID); got != w || pendingRefund(s) != w {
			t.Errorf("status %s: in pending_refund %v, want %v", s, got, w)
		}
	}
}

// refundStatuses lists every status of refundry.Transitions.
func refundStatuses() []string {
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
