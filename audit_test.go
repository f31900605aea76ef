package refundry_test

import (
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/refundry/refundry"
)

func TestAuditText(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"OKPlain", "/v1/refunds/re_1/cancel", "/v1/refunds/re_1/cancel"},
		{"OKUnicode", "/api/v2/origins/caf\u00e9:42/refund", "/api/v2/origins/caf\u00e9:42/refund"},
		{"OKBackslashKept", `a\x00b`, `a\x00b`},
		{"NUL", "/v1/refunds/\x00/cancel", `/v1/refunds/\x00/cancel`},
		{"NULs", "\x00\x00", `\x00\x00`},
		{"InvalidBytes", "/v1/refunds/\xff\xfe", `/v1/refunds/\xff\xfe`},
		{"Overlong", "a\xc0\xafb", `a\xc0\xafb`},
		{"Surrogate", "a\xed\xa0\x80", `a\xed\xa0\x80`},
		{"Truncated", "\xf0\x9f\x92", `\xf0\x9f\x92`},
		{"Mixed", "\u00e9\x00\xff\u00e9", `é\x00\xffé`},
		{"OKEmpty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := refundry.AuditText(tt.in)
			if got != tt.want {
				t.Errorf("AuditText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("AuditText(%q) = %q is not valid UTF-8", tt.in, got)
			}
			for i := 0; i < len(got); i++ {
				if got[i] == 0 {
					t.Errorf("AuditText(%q) = %q holds a NUL", tt.in, got)
				}
			}
		})
	}
}

// Every text field, found by reflection so that a field added to the
// entry or its actor later is held to the same rule.
func TestAuditEntryStorable(t *testing.T) {
	const odd, clean = "x\x00\xff", `x\x00\xff`
	var e refundry.AuditEntry
	n := setStrings(reflect.ValueOf(&e).Elem(), odd)
	if n < 10 {
		t.Fatalf("found %d text fields, want the entry's and its actor's", n)
	}
	got := e.Storable()
	var want refundry.AuditEntry
	setStrings(reflect.ValueOf(&want).Elem(), clean)
	if got != want {
		t.Errorf("Storable() = %+v, want every text field escaped: %+v", got, want)
	}
	if e.Actor.Path != odd {
		t.Error("Storable changed the entry it was called on")
	}
}

// setStrings sets every string field of the struct v, nested structs
// included, to s, and returns how many it set.
func setStrings(v reflect.Value, s string) int {
	n := 0
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(s)
			n++
		case reflect.Struct:
			n += setStrings(f, s)
		}
	}
	return n
}

// Which settlements write their own audit row: all but the gateway's
// final answer to the call of the request that created the refund, whose
// row is that request's refund.create.
func TestDecideSettlementAudit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		from   string
		st     refundry.Settlement
		action string // "": no row
	}{
		{"CreatingSucceeded", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundSucceeded, Creating: true}, ""},
		{"CreatingFailed", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundFailed, By: refundry.ByGateway, Creating: true}, ""},
		{"CreatingCanceled", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByGateway, Creating: true}, ""},
		// A refund turned away goes to review, which a person must act
		// on: its row says so even within the request that created it.
		{"CreatingReview", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByGateway, Creating: true, Note: "turned away"},
			refundry.AuditRefundReview},
		// The answer to the call an approval made.
		{"GatewayAfterApproval", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByGateway}, refundry.AuditRefundSettle},
		{"Recovery", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByRecovery}, refundry.AuditRefundSettle},
		// Creating means nothing but for the gateway's answer.
		{"RecoveryCreating", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundFailed, By: refundry.ByRecovery, Creating: true}, refundry.AuditRefundSettle},
		{"RecoveryReview", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery, Note: "unknown"}, refundry.AuditRefundReview},
		{"Report", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByReport}, refundry.AuditRefundSettle},
		{"ReportLateFailure", refundry.RefundSucceeded, refundry.Settlement{Status: refundry.RefundFailed, By: refundry.ByReport}, refundry.AuditRefundSettle},
		{"ReportCreating", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByReport, Creating: true}, refundry.AuditRefundSettle},
		{"ClientCancel", refundry.RefundPending, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient}, refundry.AuditRefundCancel},
		{"ClientWithdraw", refundry.RefundRequiresApproval, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, Creating: true}, refundry.AuditRefundCancel},
		{"Approve", refundry.RefundRequiresApproval, refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover, Actor: "key:b", Note: "fine"},
			refundry.AuditRefundApprove},
		{"ApproveCreating", refundry.RefundRequiresApproval, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByApprover, Actor: "key:b", Creating: true},
			refundry.AuditRefundApprove},
		{"Reject", refundry.RefundRequiresApproval, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByApprover, Actor: "key:b", Note: "no"},
			refundry.AuditRefundReject},
		{"Resolve", refundry.RefundRequiresAction, refundry.Settlement{Status: refundry.RefundFailed, By: refundry.ByApprover, Actor: "key:b", Note: "checked"},
			refundry.AuditRefundResolve},
		{"Expire", refundry.RefundRequiresApproval, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByExpiry, Actor: refundry.ActorSystem},
			refundry.AuditRefundExpire},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &refundry.Refund{ID: "r1", MerchantID: "m1", SaleID: "s1", TransactionID: "t1", Amount: 500, Currency: "USD",
				Status: tt.from, RequestedBy: "key:a", Created: now.Add(-time.Minute), Updated: now.Add(-time.Minute)}
			d, err := refundry.DecideSettlement(r, tt.st, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) == 0 {
				t.Fatalf("decision %+v moves nothing: not a settlement", d)
			}
			if got := refundry.SettleAudit(r, tt.st); !reflect.DeepEqual(got, d.Audit) {
				t.Fatalf("SettleAudit = %+v, decision's audit %+v", got, d.Audit)
			}
			if tt.action == "" {
				if len(d.Audit) != 0 {
					t.Fatalf("audit = %+v, want no row", d.Audit)
				}
				return
			}
			want := []refundry.AuditRow{{Action: tt.action, ObjectID: "r1", Note: tt.st.Note}}
			if !reflect.DeepEqual(d.Audit, want) {
				t.Fatalf("audit = %+v, want %+v", d.Audit, want)
			}
		})
	}
}
