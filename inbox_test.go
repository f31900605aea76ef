package refundry_test

import (
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

func TestEventOutcome(t *testing.T) {
	r := func(outcome, merchant, detail string) *refundry.ReportResult {
		return &refundry.ReportResult{Outcome: outcome, MerchantID: merchant, Detail: detail}
	}
	for _, tt := range []struct {
		name                    string
		results                 []*refundry.ReportResult
		outcome, merchant, want string
	}{
		{"NoReport", nil, refundry.OutcomeIgnored, "", ""},
		{"One", []*refundry.ReportResult{r(refundry.OutcomeCorrected, "m1", "")}, refundry.OutcomeCorrected, "m1", ""},
		{"AdoptedOverMatched", []*refundry.ReportResult{r(refundry.OutcomeMatched, "m1", ""), r(refundry.OutcomeAdopted, "m1", "")}, refundry.OutcomeAdopted, "m1", ""},
		{"RefusedFirst", []*refundry.ReportResult{r(refundry.OutcomeSettled, "m1", ""), r(refundry.OutcomeRefused, "m1", "succeeded to pending")}, refundry.OutcomeRefused, "m1", "succeeded to pending"},
		{"UnknownCharge", []*refundry.ReportResult{r(refundry.OutcomeUnknownCharge, "", "No merchant has ch_1."), r(refundry.OutcomeUnknownCharge, "", "No merchant has ch_1.")}, refundry.OutcomeUnknownCharge, "", "No merchant has ch_1. No merchant has ch_1."},
		{"UnlistedOutcomeShown", []*refundry.ReportResult{r(refundry.OutcomeMatched, "m1", ""), r("new_kind", "m1", "")}, "new_kind", "m1", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			outcome, merchant, detail := refundry.EventOutcome(tt.results)
			if outcome != tt.outcome || merchant != tt.merchant || detail != tt.want {
				t.Errorf("EventOutcome = %q %q %q, want %q %q %q", outcome, merchant, detail, tt.outcome, tt.merchant, tt.want)
			}
		})
	}
}

func TestGatewayEventValidate(t *testing.T) {
	ok := refundry.GatewayEvent{Gateway: "stripe", EventID: "evt_1", Type: "refund.updated"}
	for _, tt := range []struct {
		name  string
		edit  func(*refundry.GatewayEvent)
		param string
	}{
		{"OK", func(*refundry.GatewayEvent) {}, ""},
		{"NoGateway", func(e *refundry.GatewayEvent) { e.Gateway = "" }, "gateway"},
		{"NoID", func(e *refundry.GatewayEvent) { e.EventID = "" }, "id"},
		{"LongID", func(e *refundry.GatewayEvent) { e.EventID = strings.Repeat("x", 256) }, "id"},
		{"BadUTF8Type", func(e *refundry.GatewayEvent) { e.Type = "\xff" }, "type"},
		{"NoType", func(e *refundry.GatewayEvent) { e.Type = "" }, "type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := ok
			tt.edit(&ev)
			err := ev.Validate()
			if tt.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != tt.param {
				t.Fatalf("Validate = %v, want EINVALID on %s", err, tt.param)
			}
		})
	}
}
