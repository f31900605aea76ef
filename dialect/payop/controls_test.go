package payop

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// The merchant's policy refusals are answered in this dialect's own shape
// and status, with fixed messages whatever the engine's words (the
// README's errors table).
func TestPolicyRefusalShape(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{refundry.Errorf(refundry.EWINDOW, "The refund window of this sale closed on 2026-01-31: the merchant's policy allows refunds for 30 days after a sale."),
			`{"message":"Refund window expired: the merchant's policy allows no refund of this transaction so long after it"}`},
		{refundry.Errorf(refundry.ETOOMANY, "This sale has 3 refunds already; the merchant's policy allows at most 3 per sale."),
			`{"message":"Too many refunds: the transaction's sale has as many refunds as the merchant's policy allows"}`},
	} {
		t.Run(refundry.ErrorCode(tc.err), func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("POST", "/", nil), discard, tc.err)
			if rec.Code != 422 {
				t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tc.want {
				t.Fatalf("body %s\nwant %s", got, tc.want)
			}
		})
	}
}

// Every status a refund can be in has its answer: the seed's success with
// the refund's identifier, or, for a refund its gateway refused, 502 with
// the gateway's reason. A status added to refundry.Transitions fails here
// until it is given one.
func TestRefundAnswers(t *testing.T) {
	want := map[string]int{
		refundry.RefundPending:          200,
		refundry.RefundRequiresApproval: 200,
		refundry.RefundRequiresAction:   200,
		refundry.RefundSucceeded:        200,
		refundry.RefundFailed:           502,
		refundry.RefundCanceled:         200,
	}
	for _, s := range refundStatuses() {
		w, ok := want[s]
		if !ok {
			t.Errorf("status %s: no Payop answer decided for it", s)
			continue
		}
		rf := &refundry.Refund{ID: refundry.NewID(), Status: s, FailureReason: "Card closed."}
		rec := httptest.NewRecorder()
		writeRefund(rec, httptest.NewRequest("POST", "/", nil), discard, rf)
		if rec.Code != w {
			t.Errorf("status %s: answered %d, want %d: %s", s, rec.Code, w, rec.Body)
			continue
		}
		if w == 200 && (rec.Header().Get("identifier") != rf.ID || rec.Body.String() != successBody) {
			t.Errorf("status %s: identifier %q, body %s", s, rec.Header().Get("identifier"), rec.Body)
		}
		if w == 502 && strings.TrimSpace(rec.Body.String()) != `{"message":"Card closed."}` {
			t.Errorf("status %s: body %s", s, rec.Body)
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
