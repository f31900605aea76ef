package stripe_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/stripe"
)

// ListRefunds asks Stripe for the refunds of the payment by the parameter
// its id calls for, and reads stripe-mock's listing into reports.
func TestListRefunds(t *testing.T) {
	base := mockBase(t)
	for _, tc := range []struct{ name, id, param, other string }{
		{"Charge", "ch_3MmlLrLkdIwHu7ix0snN0B15", "charge", "payment_intent"},
		{"PaymentIntent", "pi_3MtwBwLkdIwHu7ix28a3tqPa", "payment_intent", "charge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			g := newGateway(t, base, rec)
			reps, err := g.ListRefunds(context.Background(), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			s := rec.last(t)
			if s.Method != http.MethodGet || s.Path != "/v1/refunds" || s.Form.Get(tc.param) != tc.id || s.Form.Get(tc.other) != "" || s.Form.Get("limit") != "100" {
				t.Fatalf("request = %s %s %v, want GET /v1/refunds?%s=%s&limit=100", s.Method, s.Path, s.Form, tc.param, tc.id)
			}
			if len(reps) == 0 {
				t.Fatal("stripe-mock's listing gave no reports")
			}
			for _, r := range reps {
				if r.Gateway != refundry.GatewayStripe || !strings.HasPrefix(r.GatewayRefundID, "re_") || r.Amount <= 0 ||
					r.Currency != strings.ToUpper(r.Currency) || r.Status == "" || len(r.ChargeIDs) == 0 {
					t.Fatalf("report = %+v, want a stripe refund with an id, an amount, a capital currency, a status and its payment", r)
				}
			}
		})
	}
}

// Every page is read: a payment refunded more than a page's worth still
// has each refund compared. The pages are stripe-mock's own refund
// fixture, renamed, served by a small server since stripe-mock answers
// every list with one page.
func TestListRefunds_AllPages(t *testing.T) {
	fixture := mock.Fixture(t, "/v1/refunds/re_page")
	var afters []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("starting_after")
		afters = append(afters, after)
		page := func(ids ...string) []map[string]any {
			var out []map[string]any
			for _, id := range ids {
				re := map[string]any{}
				for k, v := range fixture {
					re[k] = v
				}
				re["id"], re["charge"], re["status"] = id, "ch_paged", "succeeded"
				re["metadata"] = map[string]any{stripe.MetadataRefundID: "rf_" + id}
				out = append(out, re)
			}
			return out
		}
		body := map[string]any{"object": "list", "url": "/v1/refunds", "has_more": true, "data": page("re_1", "re_2")}
		if after == "re_2" {
			body["has_more"], body["data"] = false, page("re_3")
		}
		json.NewEncoder(w).Encode(body)
	}))
	defer srv.Close()
	reps, err := newGateway(t, srv.URL, nil).ListRefunds(context.Background(), "ch_paged")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range reps {
		ids = append(ids, r.GatewayRefundID+"/"+r.RefundID)
	}
	if strings.Join(ids, ",") != "re_1/rf_re_1,re_2/rf_re_2,re_3/rf_re_3" || strings.Join(afters, ",") != ",re_2" {
		t.Fatalf("reports %v after pages %q, want re_1..re_3 with their Refundry ids over two pages", ids, afters)
	}
}

func TestListRefunds_Err(t *testing.T) {
	t.Run("NotAPayment", func(t *testing.T) {
		g := newGateway(t, "http://127.0.0.1:1", nil)
		_, err := g.ListRefunds(context.Background(), "re_123")
		if refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		_, err := newGateway(t, srv.URL, nil).ListRefunds(context.Background(), "ch_1")
		if refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
			t.Fatalf("err = %v, want EUNAVAILABLE", err)
		}
	})
}
