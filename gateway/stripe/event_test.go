package stripe_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	stripeapi "github.com/stripe/stripe-go/v85"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/stripe"
	"github.com/refundry/refundry/internal/stripemock"
)

// fixture returns stripe-mock's own fixture of a Stripe object (GET
// /v1/refunds/re_x, /v1/charges/ch_x, /v1/disputes/dp_x), as a map the
// test then shapes into the state an event would carry.
func fixture(t *testing.T, path string) map[string]any {
	t.Helper()
	req, err := http.NewRequest("GET", mockBase(t)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(stripemock.TestKey, "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("stripe-mock GET %s: %d %s", path, res.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// eventPayload wraps obj in a stripe-go Event of the given type, as
// Stripe's webhook delivers it.
func eventPayload(t *testing.T, typ string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(stripeapi.Event{ID: "evt_" + typ, Object: "event", Type: stripeapi.EventType(typ),
		APIVersion: "2019-02-19", Created: 1700000000, Data: &stripeapi.EventData{Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestParseEvent(t *testing.T) {
	refund := fixture(t, "/v1/refunds/re_evt")
	charge := fixture(t, "/v1/charges/ch_evt")
	dispute := fixture(t, "/v1/disputes/dp_evt")
	chargeID, _ := refund["charge"].(string)
	disputedCharge, _ := dispute["charge"].(string)
	mine := with(refund, "metadata", map[string]any{stripe.MetadataRefundID: "rf_1"}, "payment_intent", "pi_evt", "amount", 1250)

	refundRep := func(status, reason string) refundry.GatewayReport {
		return refundry.GatewayReport{Refund: &refundry.RefundReport{Gateway: refundry.GatewayStripe,
			ChargeIDs: []string{chargeID, "pi_evt"}, GatewayRefundID: "re_evt", RefundID: "rf_1", Amount: 1250,
			Currency: "USD", Status: status, FailureReason: reason}}
	}
	disputeRep := func(status string, withdrawn *bool) refundry.GatewayReport {
		return refundry.GatewayReport{Dispute: &refundry.DisputeReport{Gateway: refundry.GatewayStripe,
			ChargeIDs: []string{disputedCharge, "pi_disputed"}, GatewayDisputeID: "dp_evt", Amount: 1000,
			Currency: "USD", Status: status, Reason: "fraudulent", FundsWithdrawn: withdrawn}}
	}
	yes, no := true, false
	disputed := func(status string) map[string]any {
		return with(dispute, "status", status, "reason", "fraudulent", "payment_intent", "pi_disputed")
	}
	listed := func(id string, obj map[string]any) map[string]any { return with(obj, "id", id) }

	for _, tt := range []struct {
		name    string
		typ     string
		obj     any
		want    []refundry.GatewayReport
		invalid bool
	}{
		{"RefundCreated", "refund.created", mine, []refundry.GatewayReport{refundRep(refundry.RefundSucceeded, "")}, false},
		{"RefundUpdatedPending", "refund.updated", with(mine, "status", "pending"), []refundry.GatewayReport{refundRep(refundry.RefundPending, "")}, false},
		{"RefundFailed", "refund.failed", with(mine, "status", "failed", "failure_reason", "expired_or_canceled_card"),
			[]refundry.GatewayReport{refundRep(refundry.RefundFailed, "Stripe could not refund: the card has expired or been canceled (expired_or_canceled_card).")}, false},
		{"ChargeRefundUpdatedCanceled", "charge.refund.updated", with(mine, "status", "canceled"),
			[]refundry.GatewayReport{refundRep(refundry.RefundCanceled, "Stripe canceled the refund.")}, false},
		// An older API version lists the charge's refunds in it; one of
		// them names no charge, and takes the charge it sits in.
		{"ChargeRefunded", "charge.refunded", with(charge, "id", "ch_old", "payment_intent", "pi_old", "refunds", map[string]any{
			"object": "list", "has_more": false, "url": "/v1/charges/ch_old/refunds",
			"data": []any{listed("re_a", with(refund, "charge", "ch_old", "payment_intent", nil)), listed("re_b", with(refund, "charge", nil, "status", "pending"))},
		}), []refundry.GatewayReport{
			{Refund: &refundry.RefundReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{"ch_old", "pi_old"}, GatewayRefundID: "re_a", Amount: 100, Currency: "USD", Status: refundry.RefundSucceeded}},
			{Refund: &refundry.RefundReport{Gateway: refundry.GatewayStripe, ChargeIDs: []string{"ch_old", "pi_old"}, GatewayRefundID: "re_b", Amount: 100, Currency: "USD", Status: refundry.RefundPending}},
		}, false},
		// Current API versions leave the refunds out: refund.* events tell.
		{"ChargeRefundedWithoutList", "charge.refunded", with(charge, "refunds", nil), nil, false},
		{"DisputeCreated", "charge.dispute.created", disputed("needs_response"), []refundry.GatewayReport{disputeRep(refundry.DisputeNeedsResponse, nil)}, false},
		{"DisputeUpdated", "charge.dispute.updated", disputed("under_review"), []refundry.GatewayReport{disputeRep(refundry.DisputeUnderReview, nil)}, false},
		{"DisputeClosed", "charge.dispute.closed", disputed("lost"), []refundry.GatewayReport{disputeRep(refundry.DisputeLost, nil)}, false},
		{"DisputeFundsWithdrawn", "charge.dispute.funds_withdrawn", disputed("needs_response"), []refundry.GatewayReport{disputeRep(refundry.DisputeNeedsResponse, &yes)}, false},
		{"DisputeFundsReinstated", "charge.dispute.funds_reinstated", disputed("won"), []refundry.GatewayReport{disputeRep(refundry.DisputeWon, &no)}, false},
		{"UnknownType", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}, nil, false},
		{"UnknownTypeNoData", "payout.paid", nil, nil, false},
		{"RefundEventCarryingACharge", "refund.updated", charge, nil, true},
		{"RefundWithoutID", "refund.failed", with(refund, "id", ""), nil, true},
		{"DisputeEventWithoutData", "charge.dispute.created", nil, nil, true},
		{"RefundAmountNotANumber", "refund.created", with(refund, "amount", "12.50"), nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var payload []byte
			if tt.obj == nil {
				b, _ := json.Marshal(map[string]any{"id": "evt_1", "object": "event", "type": tt.typ, "data": map[string]any{}})
				payload = b
			} else {
				payload = eventPayload(t, tt.typ, tt.obj)
			}
			got, err := stripe.ParseEvent(payload)
			if tt.invalid {
				if refundry.ErrorCode(err) != refundry.EINVALID {
					t.Fatalf("err = %v, want EINVALID (reports %v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Created comes from the fixture; compare it apart.
			for _, r := range got {
				switch {
				case r.Refund != nil:
					if r.Refund.Created.Unix() != 1234567890 {
						t.Errorf("refund created %v, want the fixture's", r.Refund.Created)
					}
					r.Refund.Created = refundReportZero
				case r.Dispute != nil:
					if r.Dispute.Created.Unix() != 1234567890 {
						t.Errorf("dispute created %v, want the fixture's", r.Dispute.Created)
					}
					r.Dispute.Created = refundReportZero
				}
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Errorf("reports\n got %s\nwant %s", gb, wb)
			}
		})
	}

	t.Run("NotJSON", func(t *testing.T) {
		for _, p := range []string{``, `{`, `[1, 2]`, `{"type": 5}`} {
			if _, err := stripe.ParseEvent([]byte(p)); refundry.ErrorCode(err) != refundry.EINVALID {
				t.Errorf("ParseEvent(%q) = %v, want EINVALID", p, err)
			}
		}
	})
}

var refundReportZero = refundry.RefundReport{}.Created
