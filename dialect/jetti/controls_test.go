package jetti

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
			`{"message":"Refund window expired: the merchant's policy allows no refund of this transaction so long after the sale."}`},
		{refundry.Errorf(refundry.ETOOMANY, "This sale has 3 refunds already; the merchant's policy allows at most 3 per sale."),
			`{"message":"Too many refunds: the sale has as many refunds as the merchant's policy allows."}`},
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

// Every status a refund can be in has its word of the seed's, and
// processingFee counts the fee of every refund that holds its amount. A
// status added to refundry.Transitions fails here until it is given one.
func TestStatusWords(t *testing.T) {
	want := map[string]string{
		refundry.RefundPending:          "pending",
		refundry.RefundRequiresApproval: "pending",
		refundry.RefundRequiresAction:   "pending",
		refundry.RefundSucceeded:        "complete",
		refundry.RefundFailed:           "error",
		refundry.RefundCanceled:         "cancelled",
	}
	sale := &refundry.Sale{Currency: "USD"}
	txn := &refundry.Transaction{Number: 1, Currency: "USD", Amount: 1000}
	for _, s := range refundStatuses() {
		w, ok := want[s]
		if !ok {
			t.Errorf("status %s: no Jetti word decided for it", s)
			continue
		}
		if got := status(s); got != w {
			t.Errorf("status %s: %q, want %q", s, got, w)
		}
		out, err := render(sale, txn, []*refundry.Refund{{Status: s, Amount: 300, Fee: 25}})
		if err != nil {
			t.Fatal(err)
		}
		wantFee := "0.00"
		if refundry.Holds(s) {
			wantFee = "0.25"
		}
		if out.Status != w || string(out.ProcessingFee) != wantFee {
			t.Errorf("status %s: rendered %q with processingFee %s, want %q and %s", s, out.Status, out.ProcessingFee, w, wantFee)
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
