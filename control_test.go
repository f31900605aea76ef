package refundry_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func i64(n int64) *int64 { return &n }

func TestPolicyApply(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	base := refundry.RefundPolicy{MaxAgeDays: i64(30), ApprovalThreshold: map[string]int64{"USD": 100000, "JPY": 10000}}
	for _, tt := range []struct {
		name   string
		change refundry.PolicyChange
		want   refundry.RefundPolicy
		param  string // "" for success
	}{
		{name: "LeftOutUnchanged", change: refundry.PolicyChange{MaxRefundsPerSale: refundry.Change[int64]{Set: true, Value: i64(3)}},
			want: refundry.RefundPolicy{MaxAgeDays: i64(30), MaxRefundsPerSale: i64(3), ApprovalThreshold: map[string]int64{"USD": 100000, "JPY": 10000}}},
		{name: "NullRemoves", change: refundry.PolicyChange{MaxAgeDays: refundry.Change[int64]{Set: true}},
			want: refundry.RefundPolicy{ApprovalThreshold: map[string]int64{"USD": 100000, "JPY": 10000}}},
		{name: "ThresholdMerges", change: refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true,
			Value: &map[string]*int64{"JPY": nil, "EUR": i64(0)}}},
			want: refundry.RefundPolicy{MaxAgeDays: i64(30), ApprovalThreshold: map[string]int64{"USD": 100000, "EUR": 0}}},
		{name: "ThresholdNullRemovesAll", change: refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true}},
			want: refundry.RefundPolicy{MaxAgeDays: i64(30)}},
		{name: "Sources", change: refundry.PolicyChange{ApprovalForSources: refundry.Change[[]string]{Set: true, Value: &[]string{"bulk", "dialects", "bulk"}}},
			want: refundry.RefundPolicy{MaxAgeDays: i64(30), ApprovalThreshold: map[string]int64{"USD": 100000, "JPY": 10000}, ApprovalForSources: []string{"bulk", "dialects"}}},
		{name: "ErrZeroDays", change: refundry.PolicyChange{MaxAgeDays: refundry.Change[int64]{Set: true, Value: i64(0)}}, param: "max_age_days"},
		{name: "ErrNegativeCount", change: refundry.PolicyChange{MaxRefundsPerSale: refundry.Change[int64]{Set: true, Value: i64(-1)}}, param: "max_refunds_per_sale"},
		{name: "ErrNegativeThreshold", change: refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{"USD": i64(-5)}}}, param: "approval_threshold.USD"},
		{name: "ErrCurrency", change: refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{"usd": i64(5)}}}, param: "approval_threshold.usd"},
		{name: "ErrSource", change: refundry.PolicyChange{ApprovalForSources: refundry.Change[[]string]{Set: true, Value: &[]string{"bulk", "fax"}}}, param: "approval_for_sources[1]"},
		{name: "ErrExpiry", change: refundry.PolicyChange{ApprovalExpiryHours: refundry.Change[int64]{Set: true, Value: i64(0)}}, param: "approval_expiry_hours"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := base.Apply(tt.change, now)
			if tt.param != "" {
				var e *refundry.Error
				if !errors.As(err, &e) || e.Code != refundry.EINVALID || e.Param != tt.param {
					t.Fatalf("Apply = %+v, %v; want EINVALID on %s", got, err, tt.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Updated = now
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("Apply = %+v, want %+v", *got, tt.want)
			}
			if base.ApprovalThreshold["JPY"] != 10000 || *base.MaxAgeDays != 30 {
				t.Fatalf("Apply changed the policy it was called on: %+v", base)
			}
		})
	}
}

func TestCheckPolicy(t *testing.T) {
	created := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		p     *refundry.RefundPolicy
		held  int
		now   time.Time
		code  string
		check func(t *testing.T)
	}{
		{name: "NoPolicy", now: created.AddDate(10, 0, 0), held: 99},
		{name: "InWindow", p: &refundry.RefundPolicy{MaxAgeDays: i64(30)}, now: created.Add(30*24*time.Hour - time.Second)},
		{name: "WindowClosed", p: &refundry.RefundPolicy{MaxAgeDays: i64(30)}, now: created.Add(30 * 24 * time.Hour), code: refundry.EWINDOW},
		{name: "UnderCount", p: &refundry.RefundPolicy{MaxRefundsPerSale: i64(3)}, held: 2, now: created},
		{name: "AtCount", p: &refundry.RefundPolicy{MaxRefundsPerSale: i64(3)}, held: 3, now: created, code: refundry.ETOOMANY},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := &refundry.Sale{Created: created, HeldRefunds: tt.held}
			if err := refundry.CheckPolicy(tt.p, sale, tt.now); refundry.ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("CheckPolicy = %v, want %q", err, tt.code)
			}
		})
	}
}

func TestNeedsApproval(t *testing.T) {
	p := &refundry.RefundPolicy{ApprovalThreshold: map[string]int64{"USD": 100000, "JPY": 0}}
	bulkOnly := &refundry.RefundPolicy{ApprovalThreshold: map[string]int64{"USD": 100}, ApprovalForSources: []string{"bulk", "dialects"}}
	for _, tt := range []struct {
		p        *refundry.RefundPolicy
		source   string
		currency string
		leaving  int64
		want     bool
	}{
		{nil, "native", "USD", 1 << 40, false},
		{p, "native", "USD", 99999, false},
		{p, "native", "USD", 100000, true},
		{p, "dashboard", "JPY", 1, true},
		{p, "native", "EUR", 1 << 40, false},
		{bulkOnly, "native", "USD", 1000, false},
		{bulkOnly, "bulk", "USD", 1000, true},
		{bulkOnly, "payop", "USD", 1000, true},
		{bulkOnly, "dashboard", "USD", 1000, false},
	} {
		if got := tt.p.NeedsApproval(tt.source, tt.currency, tt.leaving); got != tt.want {
			t.Errorf("NeedsApproval(%s, %s, %d) under %+v = %v, want %v", tt.source, tt.currency, tt.leaving, tt.p, got, tt.want)
		}
	}
}

// TestDecideRefund_Controls: a refund over the threshold is held with its
// amount reserved and no gateway status; the policy's refusals come
// before anything is decided.
func TestDecideRefund_Controls(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	policy := &refundry.RefundPolicy{ApprovalThreshold: map[string]int64{"USD": 500}, ApprovalExpiryHours: i64(2)}
	sale := feeSale()
	sale.Created = now.Add(-time.Hour)
	req := refundry.RefundRequest{MerchantID: "m1", Target: refundry.RefundTarget{SaleID: "sale1"}, Amount: i64(600),
		Policy: policy, RequestedBy: "key:k1", Source: refundry.SourceNative}
	d, err := refundry.DecideRefund(sale, req, now)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range d.Events {
		types = append(types, e.Type)
	}
	wantTypes := []string{"refund.created", "refund.requires_approval", "refund.created", "refund.requires_approval"}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Fatalf("events = %v, want %v", types, wantTypes)
	}
	for _, r := range d.Refunds {
		if r.Status != refundry.RefundRequiresApproval || r.RequestedBy != "key:k1" || !r.ApprovalExpires.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("refund = %+v, want requires_approval by key:k1 expiring in 2h", r)
		}
	}
	if d.Sale.RefundedAmount != 600 {
		t.Fatalf("sale refunded %d, want the 600 held for approval", d.Sale.RefundedAmount)
	}
	// Under the threshold once the fee is taken off: no approval.
	req.Fee = 200
	if d, err := refundry.DecideRefund(sale, req, now); err != nil || d.Refunds[0].Status == refundry.RefundRequiresApproval {
		t.Fatalf("400 leaving held for a 500 threshold: %+v, %v", d, err)
	}
	req.Fee = 0
	req.Policy = &refundry.RefundPolicy{MaxAgeDays: i64(1)}
	sale.Created = now.Add(-25 * time.Hour)
	if _, err := refundry.DecideRefund(sale, req, now); refundry.ErrorCode(err) != refundry.EWINDOW {
		t.Fatalf("refund past the window: %v, want %s", err, refundry.EWINDOW)
	}
}

func TestDecideSettlement_Approval(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	held := func() *refundry.Refund {
		return &refundry.Refund{ID: "r1", MerchantID: "m1", SaleID: "s1", TransactionID: "t1", Amount: 500, Status: refundry.RefundRequiresApproval,
			RequestedBy: "key:k1", ApprovalExpires: now.Add(time.Hour), Created: now, Updated: now}
	}
	for _, tt := range []struct {
		name   string
		r      *refundry.Refund
		st     refundry.Settlement
		code   string
		action string
		events []string
		moves  int
	}{
		{name: "Approve", r: held(), st: refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover, Actor: "key:k2", Note: "ok"},
			action: refundry.AuditRefundApprove, events: []string{"refund.approved"}},
		{name: "ErrApproveOwn", r: held(), st: refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover, Actor: "key:k1"}, code: refundry.EFORBIDDEN},
		{name: "ErrApproveTwice", r: func() *refundry.Refund { r := held(); r.Status = refundry.RefundPending; return r }(),
			st: refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover, Actor: "key:k2"}, code: refundry.ECONFLICT},
		{name: "RejectOwn", r: held(), st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByApprover, Actor: "key:k1", Note: "mistake"},
			action: refundry.AuditRefundReject, events: []string{"refund.rejected"}, moves: 3},
		{name: "Expire", r: held(), st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByExpiry, Actor: refundry.ActorSystem},
			action: refundry.AuditRefundExpire, events: []string{"refund.expired"}, moves: 2},
		{name: "ErrExpireApproved", r: func() *refundry.Refund { r := held(); r.Status = refundry.RefundPending; return r }(),
			st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByExpiry}, code: refundry.ECONFLICT},
		{name: "Review", r: func() *refundry.Refund { r := held(); r.Status = refundry.RefundPending; return r }(),
			st:     refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery, Note: "no answer"},
			action: refundry.AuditRefundReview, events: []string{"refund.requires_action"}},
		{name: "ResolveRetry", r: func() *refundry.Refund { r := held(); r.Status = refundry.RefundRequiresAction; return r }(),
			st:     refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover, Actor: "key:k1", Note: "try again"},
			action: refundry.AuditRefundResolve, events: []string{"refund.retried"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if tt.name == "RejectOwn" {
				r.LineItemID = "li1"
			}
			d, err := refundry.DecideSettlement(r, tt.st, now)
			if tt.code != "" {
				if refundry.ErrorCode(err) != tt.code {
					t.Fatalf("DecideSettlement = %+v, %v; want %s", d, err, tt.code)
				}
				return
			}
			if err != nil || d.Unchanged {
				t.Fatalf("DecideSettlement = %+v, %v", d, err)
			}
			var types []string
			for _, e := range d.Events {
				types = append(types, e.Type)
			}
			if !reflect.DeepEqual(types, tt.events) || len(d.Audit) != 1 || d.Audit[0].Action != tt.action || d.Audit[0].Note != tt.st.Note {
				t.Fatalf("events %v audit %+v; want %v %s", types, d.Audit, tt.events, tt.action)
			}
			if len(d.Moves) != tt.moves {
				t.Fatalf("moves = %+v, want %d", d.Moves, tt.moves)
			}
			if d.Refund.Status != tt.st.Status || !d.Refund.ApprovalExpires.IsZero() {
				t.Fatalf("refund after = %+v", d.Refund)
			}
			if tt.st.By == refundry.ByApprover && (d.Refund.DecidedBy != tt.st.Actor || d.Refund.DecisionNote != tt.st.Note) {
				t.Fatalf("decided by %q (%q), want %q (%q)", d.Refund.DecidedBy, d.Refund.DecisionNote, tt.st.Actor, tt.st.Note)
			}
			if tt.st.Status == refundry.RefundRequiresAction && d.Refund.ReviewReason != tt.st.Note {
				t.Fatalf("review reason %q", d.Refund.ReviewReason)
			}
		})
	}
}

func TestResolutionSettlement(t *testing.T) {
	for _, tt := range []struct {
		res    refundry.Resolution
		status string
		param  string
	}{
		{refundry.Resolution{Outcome: "succeeded", GatewayRefundID: "re_1", Note: "seen in the bank statement"}, refundry.RefundSucceeded, ""},
		{refundry.Resolution{Outcome: "failed", Note: "the card was closed"}, refundry.RefundFailed, ""},
		{refundry.Resolution{Outcome: "retry", Note: "the gateway is back"}, refundry.RefundPending, ""},
		{refundry.Resolution{Outcome: "succeeded", Note: "paid"}, "", "gateway_refund_id"},
		{refundry.Resolution{Outcome: "failed"}, "", "note"},
		{refundry.Resolution{Outcome: "maybe", Note: "?"}, "", "outcome"},
	} {
		st, err := tt.res.Settlement("user:u1")
		if tt.param != "" {
			var e *refundry.Error
			if !errors.As(err, &e) || e.Param != tt.param {
				t.Errorf("%+v: %v, want an error on %s", tt.res, err, tt.param)
			}
			continue
		}
		if err != nil || st.Status != tt.status || st.By != refundry.ByApprover || st.Actor != "user:u1" || st.Note != tt.res.Note {
			t.Errorf("%+v: %+v, %v", tt.res, st, err)
		}
	}
}

func TestReviewRule(t *testing.T) {
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rule := refundry.ReviewRule{Attempts: 5, Age: 48 * time.Hour}
	for _, tt := range []struct {
		attempts int
		age      time.Duration
		review   bool
	}{
		{4, time.Hour, false},
		{5, time.Hour, true},
		{1, 48 * time.Hour, true},
	} {
		r := &refundry.Refund{Attempts: tt.attempts, Created: now.Add(-tt.age)}
		if got := rule.Review(r, nil, now); (got != "") != tt.review {
			t.Errorf("Review(attempts %d, age %s) = %q, want review %v", tt.attempts, tt.age, got, tt.review)
		}
	}
	if got := (refundry.ReviewRule{}).Review(&refundry.Refund{Attempts: 1000, Created: now.AddDate(-1, 0, 0)}, nil, now); got != "" {
		t.Errorf("a rule without limits sent a refund to review: %q", got)
	}
}

func TestUser(t *testing.T) {
	now := time.Now()
	u, err := refundry.NewUser("m1", "Ana", "ana@example.com", refundry.RoleApprover, "correct horse battery", now)
	if err != nil {
		t.Fatal(err)
	}
	if !u.CheckPassword("correct horse battery") || u.CheckPassword("correct horse batterY") {
		t.Fatal("password check is wrong")
	}
	if u.Role.Scope() != refundry.ScopeApprove || !u.Role.Scope().Allows(refundry.ScopeRefund) || u.Role.Scope().Allows(refundry.ScopeWrite) {
		t.Fatalf("approver scope %q", u.Role.Scope())
	}
	for _, tt := range []struct {
		name, email string
		role        refundry.Role
		pw, param   string
	}{
		{"", "a@example.com", refundry.RoleAdmin, "long enough pw", "name"},
		{"A", "not an email", refundry.RoleAdmin, "long enough pw", "email"},
		{"A", "a@example.com", "owner", "long enough pw", "role"},
		{"A", "a@example.com", refundry.RoleViewer, "short", "password"},
	} {
		var e *refundry.Error
		if _, err := refundry.NewUser("m1", tt.name, tt.email, tt.role, tt.pw, now); !errors.As(err, &e) || e.Param != tt.param {
			t.Errorf("NewUser(%q, %q, %q) = %v, want an error on %s", tt.name, tt.email, tt.role, err, tt.param)
		}
	}
	if (refundry.Actor{UserID: "u1", KeyID: "k1"}).Who() != "user:u1" || (refundry.Actor{KeyID: "k1"}).Who() != "key:k1" ||
		(refundry.Actor{KeyID: refundry.ActorCLI}).Who() != refundry.ActorCLI {
		t.Fatal("Who names actors wrongly")
	}
}
