package refundry_test

import (
	"reflect"
	"testing"

	"github.com/refundry/refundry"
)

func TestLookupTransition(t *testing.T) {
	const (
		pending, succeeded = refundry.RefundPending, refundry.RefundSucceeded
		failed, canceled   = refundry.RefundFailed, refundry.RefundCanceled
	)
	for _, tt := range []struct {
		name     string
		from, to string
		by       refundry.Cause
		code     string // "" when allowed
		hold     refundry.Hold
		events   []string
	}{
		{"CreatePending", refundry.StatusNew, pending, refundry.ByClient, "", refundry.Reserve, []string{refundry.EventRefundCreated}},
		{"CreateSucceeded", refundry.StatusNew, succeeded, refundry.ByClient, "", refundry.Reserve,
			[]string{refundry.EventRefundCreated, refundry.EventRefundSucceeded}},
		{"GatewaySucceeds", pending, succeeded, refundry.ByGateway, "", refundry.Keep, []string{refundry.EventRefundSucceeded}},
		{"RecoveryFails", pending, failed, refundry.ByRecovery, "", refundry.Release, []string{refundry.EventRefundFailed}},
		{"ClientCancels", pending, canceled, refundry.ByClient, "", refundry.Release, []string{refundry.EventRefundCanceled}},
		{"PersonCancels", pending, canceled, refundry.ByPerson, "", refundry.Release, []string{refundry.EventRefundCanceled}},
		{"ErrClientSucceeds", pending, succeeded, refundry.ByClient, refundry.ECONFLICT, 0, nil},
		{"ErrGatewayCreates", refundry.StatusNew, pending, refundry.ByGateway, refundry.ECONFLICT, 0, nil},
		{"ErrSucceededFails", succeeded, failed, refundry.ByGateway, refundry.ECONFLICT, 0, nil},
		{"ErrFailedSucceeds", failed, succeeded, refundry.ByRecovery, refundry.ECONFLICT, 0, nil},
		{"ErrCancelSucceeded", succeeded, canceled, refundry.ByClient, refundry.ECONFLICT, 0, nil},
		{"ErrBackToPending", succeeded, pending, refundry.ByGateway, refundry.ECONFLICT, 0, nil},
		{"ReportAdoptsPending", refundry.StatusNew, pending, refundry.ByReport, "", refundry.Reserve, []string{refundry.EventRefundCreated}},
		{"ReportAdoptsSucceeded", refundry.StatusNew, succeeded, refundry.ByReport, "", refundry.Reserve,
			[]string{refundry.EventRefundCreated, refundry.EventRefundSucceeded}},
		{"ReportSettles", pending, succeeded, refundry.ByReport, "", refundry.Keep, []string{refundry.EventRefundSucceeded}},
		{"ReportCancels", pending, canceled, refundry.ByReport, "", refundry.Release, []string{refundry.EventRefundCanceled}},
		{"ReportFailsLate", succeeded, failed, refundry.ByReport, "", refundry.Release, []string{refundry.EventRefundFailed}},
		{"ErrRecoveryFailsLate", succeeded, failed, refundry.ByRecovery, refundry.ECONFLICT, 0, nil},
		{"ErrClientFailsLate", succeeded, failed, refundry.ByClient, refundry.ECONFLICT, 0, nil},
		{"ErrReportBackToPending", succeeded, pending, refundry.ByReport, refundry.ECONFLICT, 0, nil},
		{"ErrReportFailedToPending", failed, pending, refundry.ByReport, refundry.ECONFLICT, 0, nil},
		{"ErrReportFailedSucceeds", failed, succeeded, refundry.ByReport, refundry.ECONFLICT, 0, nil},
		{"ErrReportCancelsSucceeded", succeeded, canceled, refundry.ByReport, refundry.ECONFLICT, 0, nil},
		{"ErrReportCanceledSucceeds", canceled, succeeded, refundry.ByReport, refundry.ECONFLICT, 0, nil},
		{"ErrUnknownStatus", pending, "refunded", refundry.ByGateway, refundry.EINVALID, 0, nil},
		{"ErrNoCause", pending, failed, 0, refundry.ECONFLICT, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refundry.LookupTransition(tt.from, tt.to, tt.by)
			if code := refundry.ErrorCode(err); err != nil && code != tt.code || err == nil && tt.code != "" {
				t.Fatalf("LookupTransition(%q, %q, %s) = %v, want code %q", tt.from, tt.to, tt.by, err, tt.code)
			}
			if err != nil {
				if refundry.ErrorMessage(err) == "" {
					t.Fatal("refused without saying why")
				}
				return
			}
			if got.Hold != tt.hold || len(got.Events) != len(tt.events) {
				t.Fatalf("transition = %+v, want hold %d and events %v", got, tt.hold, tt.events)
			}
			for i := range tt.events {
				if got.Events[i] != tt.events[i] {
					t.Fatalf("events %v, want %v", got.Events, tt.events)
				}
			}
		})
	}
}

// The table alone says which statuses are final and which hold money
// against the cap of invariant 2.
func TestStatusesFromTable(t *testing.T) {
	for _, tt := range []struct {
		status      string
		final, hold bool
	}{
		{refundry.RefundPending, false, true},
		{refundry.RefundSucceeded, true, true},
		{refundry.RefundFailed, true, false},
		{refundry.RefundCanceled, true, false},
		{refundry.RefundRequiresApproval, false, true},
		{refundry.RefundRequiresAction, false, true},
	} {
		if got := refundry.FinalStatus(tt.status); got != tt.final {
			t.Errorf("FinalStatus(%s) = %v, want %v", tt.status, got, tt.final)
		}
		if got := (&refundry.Refund{Status: tt.status}).Final(); got != tt.final {
			t.Errorf("Refund{%s}.Final() = %v, want %v", tt.status, got, tt.final)
		}
		if got := refundry.Holds(tt.status); got != tt.hold {
			t.Errorf("Holds(%s) = %v, want %v", tt.status, got, tt.hold)
		}
	}
	// Every event a transition appends is one the outbox knows.
	for _, tr := range refundry.Transitions {
		for _, e := range tr.Events {
			found := false
			for _, k := range refundry.EventTypes {
				found = found || k == e
			}
			if !found {
				t.Errorf("transition %s → %s appends unknown event %q", tr.From, tr.To, e)
			}
		}
	}
}

// TestHoldingStatuses pins what stores count against the cap, and that
// no status is both released into and kept or reserved into: Holds would
// then depend on the path a refund took.
func TestHoldingStatuses(t *testing.T) {
	want := []string{refundry.RefundPending, refundry.RefundSucceeded, refundry.RefundRequiresApproval, refundry.RefundRequiresAction}
	if got := refundry.HoldingStatuses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("HoldingStatuses() = %v, want %v", got, want)
	}
	for _, tr := range refundry.Transitions {
		if tr.Hold != refundry.Release {
			continue
		}
		if refundry.Holds(tr.To) {
			t.Errorf("%s → %s releases, yet %s holds by another path", tr.From, tr.To, tr.To)
		}
	}
}

// TestLookupTransition_ByCause: one pair of statuses, three causes, three
// events; a cause the pair does not list is refused.
func TestLookupTransition_ByCause(t *testing.T) {
	for _, tt := range []struct {
		by    refundry.Cause
		event string
	}{
		{refundry.ByApprover, refundry.EventRefundRejected},
		{refundry.ByExpiry, refundry.EventRefundExpired},
		{refundry.ByClient, refundry.EventRefundCanceled},
		{refundry.ByPerson, refundry.EventRefundCanceled},
	} {
		tr, err := refundry.LookupTransition(refundry.RefundRequiresApproval, refundry.RefundCanceled, tt.by)
		if err != nil || len(tr.Events) != 1 || tr.Events[0] != tt.event || tr.Hold != refundry.Release {
			t.Errorf("LookupTransition(requires_approval, canceled, %s) = %+v, %v; want %s releasing", tt.by, tr, err, tt.event)
		}
	}
	if _, err := refundry.LookupTransition(refundry.RefundRequiresApproval, refundry.RefundCanceled, refundry.ByGateway); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Errorf("a gateway canceled a refund it never heard of: %v", err)
	}
	if _, err := refundry.LookupTransition(refundry.RefundRequiresApproval, refundry.RefundPending, refundry.ByClient); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Errorf("a client approved a refund: %v", err)
	}
	if _, err := refundry.LookupTransition(refundry.RefundPending, refundry.RefundRequiresAction, refundry.ByRecovery); err != nil {
		t.Errorf("recovery cannot send a refund to review: %v", err)
	}
}

func TestCauseString(t *testing.T) {
	for _, tt := range []struct {
		c    refundry.Cause
		want string
	}{
		{refundry.ByReport, "report"},
		{refundry.ByGateway | refundry.ByReport, "gateway/report"},
		{refundry.ByClient, "client"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Cause(%d).String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestCanCancel(t *testing.T) {
	if err := refundry.CanCancel(refundry.RefundPending, refundry.ByClient); err != nil {
		t.Fatalf("a pending refund cannot be canceled: %v", err)
	}
	for _, st := range []string{refundry.RefundSucceeded, refundry.RefundFailed, refundry.RefundCanceled} {
		if err := refundry.CanCancel(st, refundry.ByClient); refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Fatalf("CanCancel(%s) = %v, want %s", st, err, refundry.ECONFLICT)
		}
	}
}
