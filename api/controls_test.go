package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

// controlsEnv is env with a clock the test moves (for the refund window)
// and keys of every scope of merchant A.
type controlsEnv struct {
	*env
	clock   *atomic.Int64 // unix nanoseconds
	keys    map[refundry.Scope]string
	keyIDs  map[refundry.Scope]string
	writeID string // keyA's id
}

func newControlsEnv(t *testing.T) *controlsEnv {
	t.Helper()
	return newControlsEnvOn(t, returnStores[0].open(t))
}

// newControlsEnvOn is newControlsEnv over the given store.
func newControlsEnvOn(t *testing.T, store refundry.Store) *controlsEnv {
	t.Helper()
	e := newEnvOn(t, store)
	c := &controlsEnv{env: e, clock: new(atomic.Int64), keys: map[refundry.Scope]string{}, keyIDs: map[refundry.Scope]string{}}
	c.clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, c.clock.Load()) }
	// Set before the first request, and read only through the atomic.
	e.eng.Now = now
	switch st := store.(type) {
	case *sqlite.Store:
		st.Now = now
	case *postgres.Store:
		st.Now = now
	default:
		t.Fatalf("no clock to set on %T", store)
	}
	ctx := context.Background()
	for _, s := range []refundry.Scope{refundry.ScopeRead, refundry.ScopeRefund, refundry.ScopeApprove, refundry.ScopeWrite} {
		k, text, err := e.eng.CreateAPIKey(ctx, e.merchA.ID, engine.KeySpec{Name: string(s), Scope: s})
		if err != nil {
			t.Fatal(err)
		}
		c.keys[s], c.keyIDs[s] = text, k.ID
	}
	keys, _, err := e.eng.ListAPIKeys(ctx, e.merchA.ID, refundry.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "default" {
			c.writeID = k.ID
		}
	}
	return c
}

// policy sets merchant A's policy and fails the test unless it is taken.
func (c *controlsEnv) policy(body string) response {
	c.t.Helper()
	r := c.do("POST", "/v1/refund_policy", c.keyA, body)
	if r.status != http.StatusOK {
		c.t.Fatalf("set policy %s: %d %s", body, r.status, r.raw)
	}
	return r
}

// refund asks for a refund of amount of sale with key.
func (c *controlsEnv) refund(key, sale string, amount int64) response {
	c.t.Helper()
	return c.do("POST", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": %d}`, sale, amount))
}

// audited returns the results of merchant A's audit entries of action,
// oldest first.
func (c *controlsEnv) audited(key, action string) []string {
	c.t.Helper()
	r := c.do("GET", "/v1/audit_log?limit=100&action="+action, key, "")
	if r.status != 200 {
		c.t.Fatalf("audit log: %d %s", r.status, r.raw)
	}
	var out []string
	entries := objects(r.body["data"])
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i]["result"].(string))
	}
	return out
}

func (c *controlsEnv) refundable(sale string) int64 {
	c.t.Helper()
	return c.do("GET", "/v1/sales/"+sale, c.keyA, "").num("refundable_amount")
}

// Each rule of the policy on the native API: a refused refund is a 400
// with its own code that changes nothing and is audited; a refund held
// for approval is created, reserving its amount, and no gateway hears of
// it.
func TestRefundPolicyOnNativeAPI(t *testing.T) {
	for _, store := range returnStores {
		t.Run(store.name, func(t *testing.T) {
			t.Run("Window", func(t *testing.T) {
				c := newControlsEnvOn(t, store.open(t))
				start := c.clock.Load()
				c.clock.Store(start - (40 * 24 * time.Hour).Nanoseconds())
				old := c.sale(c.keyA, "pay-old", 1000).str("id")
				c.clock.Store(start - (29 * 24 * time.Hour).Nanoseconds())
				recent := c.sale(c.keyA, "pay-recent", 1000).str("id")
				c.clock.Store(start)
				c.policy(`{"max_age_days": 30}`)
				r := c.refund(c.keyA, old, 100)
				if r.status != 400 || r.errCode() != "refund_window_expired" {
					t.Fatalf("refund of a 40-day-old sale: %d %s", r.status, r.raw)
				}
				if got := c.refundable(old); got != 1000 {
					t.Fatalf("refused refund changed the sale: refundable %d", got)
				}
				if r := c.refund(c.keyA, recent, 100); r.status != 201 {
					t.Fatalf("refund of a 29-day-old sale: %d %s", r.status, r.raw)
				}
				if got := c.audited(c.keyA, refundry.AuditRefundCreate); strings.Join(got, ",") != "refund_window_expired,succeeded" {
					t.Fatalf("audit of refund.create: %v", got)
				}
			})
			t.Run("Count", func(t *testing.T) {
				c := newControlsEnvOn(t, store.open(t))
				s := c.sale(c.keyA, "pay", 1000).str("id")
				c.policy(`{"max_refunds_per_sale": 2}`)
				for i := range 2 {
					if r := c.refund(c.keyA, s, 100); r.status != 201 {
						t.Fatalf("refund %d: %d %s", i+1, r.status, r.raw)
					}
				}
				r := c.refund(c.keyA, s, 100)
				if r.status != 400 || r.errCode() != "too_many_refunds" {
					t.Fatalf("third refund: %d %s", r.status, r.raw)
				}
				if got := c.refundable(s); got != 800 {
					t.Fatalf("refundable %d after two refunds and a refused one, want 800", got)
				}
				if got := c.audited(c.keyA, refundry.AuditRefundCreate); strings.Join(got, ",") != "succeeded,succeeded,too_many_refunds" {
					t.Fatalf("audit of refund.create: %v", got)
				}
			})
			t.Run("Threshold", func(t *testing.T) {
				c := newControlsEnvOn(t, store.open(t))
				s := c.sale(c.keyA, "pay", 5000).str("id")
				c.policy(`{"approval_threshold": {"USD": 1000, "EUR": 5}}`)
				below := c.refund(c.keyA, s, 999)
				if below.status != 201 || below.str("status") != refundry.RefundSucceeded || below.body["approval_expires_at"] != nil {
					t.Fatalf("refund below the threshold: %d %s", below.status, below.raw)
				}
				held := c.refund(c.keyA, s, 1000)
				if held.status != 201 || held.str("status") != refundry.RefundRequiresApproval {
					t.Fatalf("refund at the threshold: %d %s", held.status, held.raw)
				}
				if held.str("requested_by") != "key:"+c.writeID || held.body["decided_by"] != nil {
					t.Fatalf("requested_by = %v, decided_by = %v", held.body["requested_by"], held.body["decided_by"])
				}
				wantExpiry := time.Unix(0, c.clock.Load()).Add(refundry.DefaultApprovalExpiry).Unix()
				if got := held.num("approval_expires_at"); got < wantExpiry-5 || got > wantExpiry+5 {
					t.Fatalf("approval_expires_at = %d, want about %d", got, wantExpiry)
				}
				if moved := c.sim.Moved(held.str("id")); moved != 0 {
					t.Fatalf("the gateway moved %d for a refund awaiting approval", moved)
				}
				// Invariant 2: the held refund reserves its amount.
				if got := c.refundable(s); got != 5000-999-1000 {
					t.Fatalf("refundable %d, want %d", got, 5000-999-1000)
				}
				list := c.do("GET", "/v1/refunds?status=requires_approval", c.keyA, "")
				if data := objects(list.body["data"]); list.status != 200 || len(data) != 1 || data[0]["id"] != held.str("id") {
					t.Fatalf("?status=requires_approval: %d %s", list.status, list.raw)
				}
				ev := c.do("GET", "/v1/events?type=refund.requires_approval", c.keyA, "")
				if data := objects(ev.body["data"]); ev.status != 200 || len(data) != 1 {
					t.Fatalf("refund.requires_approval events: %d %s", ev.status, ev.raw)
				}
			})
		})
	}
}

// The two-person rule on the native API: the requesting key, a key of
// too narrow a scope and a key of another merchant are refused and
// change nothing; another key with scope approve sends the refund to its
// gateway, once. Every refused attempt is in the audit log with its code.
func TestApprovalTwoPersonRule(t *testing.T) {
	for _, store := range returnStores {
		t.Run(store.name, func(t *testing.T) {
			c := newControlsEnvOn(t, store.open(t))
			s := c.sale(c.keyA, "pay", 5000).str("id")
			c.policy(`{"approval_threshold": {"USD": 0}}`)
			held := c.refund(c.keyA, s, 1200)
			if held.str("status") != refundry.RefundRequiresApproval {
				t.Fatalf("refund: %d %s", held.status, held.raw)
			}
			id := held.str("id")
			approve := "/v1/refunds/" + id + "/approve"

			for _, tc := range []struct {
				name   string
				key    string
				status int
				code   string
			}{
				{"ErrSameKey", c.keyA, 403, "self_approval"},
				{"ErrScopeRefund", c.keys[refundry.ScopeRefund], 403, "insufficient_scope"},
				{"ErrScopeRead", c.keys[refundry.ScopeRead], 403, "insufficient_scope"},
				{"ErrOtherMerchant", c.keyB, 404, "resource_missing"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := c.do("POST", approve, tc.key, `{"note": "looks fine"}`)
					if r.status != tc.status || r.errCode() != tc.code {
						t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
					}
					got := c.do("GET", "/v1/refunds/"+id, c.keyA, "")
					if got.str("status") != refundry.RefundRequiresApproval || got.body["decided_by"] != nil || c.sim.Moved(id) != 0 {
						t.Fatalf("a refused approval changed the refund: %s (moved %d)", got.raw, c.sim.Moved(id))
					}
				})
			}
			// The requester approving through a key of scope approve is still the
			// same key only if it is the same key: the approve key is another.
			approver := c.keys[refundry.ScopeApprove]
			ok := c.do("POST", approve, approver, `{"note": "checked the order"}`)
			if ok.status != 200 || ok.str("status") != refundry.RefundSucceeded {
				t.Fatalf("approval by another key: %d %s", ok.status, ok.raw)
			}
			if ok.str("decided_by") != "key:"+c.keyIDs[refundry.ScopeApprove] || ok.str("decision_note") != "checked the order" || ok.body["approval_expires_at"] != nil {
				t.Fatalf("approved refund: %s", ok.raw)
			}
			if moved := c.sim.Moved(id); moved != 1200 {
				t.Fatalf("the gateway moved %d, want 1200", moved)
			}
			t.Run("ErrApproveTwice", func(t *testing.T) {
				again := c.do("POST", approve, approver, `{"note": "checked the order"}`, "Idempotency-Key", "approve-1")
				if again.status != 409 || again.errCode() != "resource_conflict" {
					t.Fatalf("second approval: %d %s", again.status, again.raw)
				}
				if moved := c.sim.Moved(id); moved != 1200 {
					t.Fatalf("the gateway moved %d after a second approval, want 1200", moved)
				}
				if r := c.do("POST", "/v1/refunds/"+id+"/reject", approver, ""); r.status != 409 {
					t.Fatalf("rejecting an approved refund: %d %s", r.status, r.raw)
				}
			})
			t.Run("Audited", func(t *testing.T) {
				got := c.audited(c.keyA, refundry.AuditRefundApprove)
				want := []string{refundry.EFORBIDDEN, refundry.EFORBIDDEN, refundry.EFORBIDDEN, refundry.AuditSucceeded, refundry.ECONFLICT}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("audit of refund.approve: %v, want %v", got, want)
				}
				notes := c.do("GET", "/v1/audit_log?action=refund.approve&key="+c.keyIDs[refundry.ScopeApprove], c.keyA, "")
				var withNote int
				for _, e := range objects(notes.body["data"]) {
					if e["note"] == "checked the order" && e["result"] == refundry.AuditSucceeded && e["object_id"] == id {
						withNote++
					}
				}
				if withNote != 1 {
					t.Fatalf("the approval's note is not in the audit log: %s", notes.raw)
				}
				if got := c.audited(c.keyB, refundry.AuditRefundApprove); strings.Join(got, ",") != refundry.ENOTFOUND {
					t.Fatalf("audit of B's attempt: %v", got)
				}
			})
		})
	}
}

// A rejection releases the amount; the requester may reject (withdraw)
// their own refund.
func TestRejectReleases(t *testing.T) {
	c := newControlsEnv(t)
	s := c.sale(c.keyA, "pay", 5000).str("id")
	c.policy(`{"approval_threshold": {"USD": 100}}`)
	held := c.refund(c.keyA, s, 2000)
	if c.refundable(s) != 3000 {
		t.Fatalf("refundable %d while held, want 3000", c.refundable(s))
	}
	r := c.do("POST", "/v1/refunds/"+held.str("id")+"/reject", c.keyA, `{"note": "duplicate request"}`)
	if r.status != 200 || r.str("status") != refundry.RefundCanceled || r.str("decision_note") != "duplicate request" {
		t.Fatalf("reject: %d %s", r.status, r.raw)
	}
	if got := c.refundable(s); got != 5000 {
		t.Fatalf("refundable %d after rejection, want 5000", got)
	}
	if c.sim.Moved(held.str("id")) != 0 {
		t.Fatal("a rejected refund reached the gateway")
	}
	for _, body := range []string{`{"note": "x", "colour": "red"}`, `{"note": 5}`, `{"note": "a\u0000b"}`, `{"note": "` + strings.Repeat("x", refundry.MaxDescription+1) + `"}`} {
		if r := c.do("POST", "/v1/refunds/"+held.str("id")+"/reject", c.keyA, body); r.status != 400 {
			t.Errorf("reject with %.40s: %d %s", body, r.status, r.raw)
		}
	}
}

// Manual review: only a refund in review can be resolved; each outcome
// does what it says.
func TestResolve(t *testing.T) {
	for _, store := range returnStores {
		t.Run(store.name, func(t *testing.T) {
			c := newControlsEnvOn(t, store.open(t))
			ctx := context.Background()
			approver := c.keys[refundry.ScopeApprove]
			inReview := func() string {
				t.Helper()
				s := c.sale(c.keyA, "sim_pending", 1000).str("id")
				r := c.refund(c.keyA, s, 400)
				if r.str("status") != refundry.RefundPending {
					t.Fatalf("refund: %s", r.raw)
				}
				if _, err := c.store.SettleRefund(ctx, c.merchA.ID, r.str("id"), refundry.Settlement{Status: refundry.RefundRequiresAction,
					By: refundry.ByRecovery, Note: "The gateway gave no final answer."}); err != nil {
					t.Fatal(err)
				}
				return r.str("id")
			}
			t.Run("ErrNotInReview", func(t *testing.T) {
				s := c.sale(c.keyA, "pay", 1000).str("id")
				r := c.refund(c.keyA, s, 100)
				got := c.do("POST", "/v1/refunds/"+r.str("id")+"/resolve", approver, `{"outcome": "failed", "note": "never paid"}`)
				if got.status != 409 || got.errCode() != "resource_conflict" {
					t.Fatalf("resolve a succeeded refund: %d %s", got.status, got.raw)
				}
				if again := c.do("GET", "/v1/refunds/"+r.str("id"), c.keyA, ""); again.str("status") != refundry.RefundSucceeded {
					t.Fatalf("refund after a refused resolution: %s", again.raw)
				}
			})
			for _, tc := range []struct {
				name, body, status string
			}{
				{"Succeeded", `{"outcome": "succeeded", "gateway_refund_id": "re_123", "note": "paid on the 3rd, per the gateway's dashboard"}`, refundry.RefundSucceeded},
				{"Failed", `{"outcome": "failed", "note": "the gateway never paid it"}`, refundry.RefundFailed},
				{"Retry", `{"outcome": "retry", "note": "the gateway is back"}`, refundry.RefundPending},
			} {
				t.Run(tc.name, func(t *testing.T) {
					id := inReview()
					got := c.do("GET", "/v1/refunds/"+id, c.keyA, "")
					if got.str("status") != refundry.RefundRequiresAction || got.str("review_reason") == "" {
						t.Fatalf("refund in review: %s", got.raw)
					}
					r := c.do("POST", "/v1/refunds/"+id+"/resolve", approver, tc.body)
					if r.status != 200 || r.str("status") != tc.status || r.str("decided_by") != "key:"+c.keyIDs[refundry.ScopeApprove] {
						t.Fatalf("resolve: %d %s", r.status, r.raw)
					}
					if again := c.do("POST", "/v1/refunds/"+id+"/resolve", approver, tc.body); again.status != 409 {
						t.Fatalf("resolving twice: %d %s", again.status, again.raw)
					}
				})
			}
			t.Run("ErrBadResolution", func(t *testing.T) {
				id := inReview()
				for _, body := range []string{`{"outcome": "failed"}`, `{"outcome": "succeeded", "note": "paid"}`, `{"outcome": "maybe", "note": "x"}`, `{"outcome": "failed", "note": "x", "extra": 1}`, ``} {
					if r := c.do("POST", "/v1/refunds/"+id+"/resolve", approver, body); r.status != 400 {
						t.Errorf("resolve with %s: %d %s", body, r.status, r.raw)
					}
				}
				if r := c.do("POST", "/v1/refunds/"+id+"/resolve", c.keys[refundry.ScopeRefund], `{"outcome": "failed", "note": "x"}`); r.status != 403 {
					t.Errorf("resolve with scope refund: %d %s", r.status, r.raw)
				}
				if got := c.do("GET", "/v1/refunds/"+id, c.keyA, ""); got.str("status") != refundry.RefundRequiresAction {
					t.Fatalf("refused resolutions changed the refund: %s", got.raw)
				}
			})
		})
	}
}

// POST /v1/refund_policy: left out is unchanged, null removes, and a
// value that is not a rule (negative, not an integer, in another form)
// is a 400 naming the field that changes nothing, and is audited.
func TestRefundPolicyChanges(t *testing.T) {
	c := newControlsEnv(t)
	empty := c.do("GET", "/v1/refund_policy", c.keys[refundry.ScopeRead], "")
	if empty.status != 200 || empty.raw != `{"object":"refund_policy","max_age_days":null,"max_refunds_per_sale":null,"approval_threshold":{},"approval_for_sources":[],"approval_expiry_hours":null,"updated":null}`+"\n" {
		t.Fatalf("policy never set: %d %s", empty.status, empty.raw)
	}
	set := c.policy(`{"max_age_days": 90, "max_refunds_per_sale": 3, "approval_threshold": {"USD": 100000, "JPY": 10000},
		"approval_for_sources": ["native", "dialects"], "approval_expiry_hours": 24}`)
	if set.num("max_age_days") != 90 || set.num("max_refunds_per_sale") != 3 || set.num("approval_expiry_hours") != 24 || set.body["updated"] == nil {
		t.Fatalf("policy set: %s", set.raw)
	}
	changed := c.policy(`{"max_age_days": null, "approval_threshold": {"JPY": null, "EUR": 500}}`)
	th, _ := changed.body["approval_threshold"].(map[string]any)
	if changed.body["max_age_days"] != nil || changed.num("max_refunds_per_sale") != 3 || len(th) != 2 || th["USD"] == nil || th["EUR"] == nil {
		t.Fatalf("partial change: %s", changed.raw)
	}
	before := c.do("GET", "/v1/refund_policy", c.keyA, "").raw

	for _, tc := range []struct {
		name, body, param, message string
	}{
		{"ErrNegative", `{"max_age_days": -1}`, "max_age_days", "whole number"},
		{"ErrZero", `{"max_refunds_per_sale": 0}`, "max_refunds_per_sale", "whole number"},
		{"ErrFraction", `{"max_age_days": 2.5}`, "max_age_days", "integer"},
		{"ErrExponent", `{"max_age_days": 1e3}`, "max_age_days", "integer"},
		{"ErrString", `{"max_refunds_per_sale": "3"}`, "max_refunds_per_sale", "not a string"},
		{"ErrBoolean", `{"approval_expiry_hours": true}`, "approval_expiry_hours", "not a boolean"},
		{"ErrHuge", `{"max_age_days": 99999999999999999999}`, "max_age_days", "range"},
		{"ErrNegativeThreshold", `{"approval_threshold": {"USD": -5}}`, "approval_threshold.USD", "0 or more"},
		{"ErrFractionThreshold", `{"approval_threshold": {"USD": 10.5}}`, "approval_threshold.USD", "integer"},
		{"ErrStringThreshold", `{"approval_threshold": {"USD": "10"}}`, "approval_threshold.USD", "minor units"},
		{"ErrUnknownCurrency", `{"approval_threshold": {"usd": 10}}`, "approval_threshold.usd", "currency"},
		{"ErrThresholdNotObject", `{"approval_threshold": 5}`, "approval_threshold", "object"},
		{"ErrUnknownSource", `{"approval_for_sources": ["email"]}`, "approval_for_sources[0]", "source"},
		{"ErrUnknownField", `{"max_age": 30}`, "max_age", "unknown"},
		{"ErrLaterFieldBad", `{"max_age_days": 10, "max_refunds_per_sale": -2}`, "max_refunds_per_sale", "whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/v1/refund_policy", c.keyA, tc.body)
			e, _ := r.body["error"].(map[string]any)
			if r.status != 400 || e["param"] != tc.param || !strings.Contains(fmt.Sprint(e["message"]), tc.message) {
				t.Fatalf("got %d %s, want 400 naming %s and saying %q", r.status, r.raw, tc.param, tc.message)
			}
			if after := c.do("GET", "/v1/refund_policy", c.keyA, "").raw; after != before {
				t.Fatalf("a refused change changed the policy:\n%s\n%s", before, after)
			}
		})
	}
	if r := c.do("POST", "/v1/refund_policy", c.keys[refundry.ScopeApprove], `{"max_age_days": 1}`); r.status != 403 {
		t.Fatalf("policy change with scope approve: %d %s", r.status, r.raw)
	}
	got := c.audited(c.keyA, refundry.AuditPolicyUpdate)
	if len(got) != 2+15+1 || got[0] != refundry.AuditSucceeded || got[2] != refundry.EINVALID || got[len(got)-1] != refundry.EFORBIDDEN {
		t.Fatalf("audit of refund_policy.update: %v", got)
	}
}

// The users API: never a password nor its hash in any answer; one email
// per merchant in any case; disabling; another merchant's users unseen.
func TestUsersAPI(t *testing.T) {
	c := newControlsEnv(t)
	const password = "correct horse battery"
	u := c.do("POST", "/v1/users", c.keyA, `{"name": "Ana Lima", "email": "Ana@Example.com", "role": "approver", "password": "`+password+`"}`)
	if u.status != 201 || u.str("object") != "user" || u.str("role") != "approver" || u.body["disabled_at"] != nil {
		t.Fatalf("create user: %d %s", u.status, u.raw)
	}
	id := u.str("id")
	for _, tc := range []struct {
		name, body, param string
		status            int
	}{
		{"ErrDuplicateEmailOtherCase", `{"name": "Ana", "email": "ana@example.COM", "role": "viewer", "password": "another password!"}`, "", 409},
		{"ErrRole", `{"name": "Bo", "email": "bo@example.com", "role": "owner", "password": "` + password + `"}`, "role", 400},
		{"PasswordOfTwelveBytes", `{"name": "Bo", "email": "bo@example.com", "role": "viewer", "password": "short-secret"}`, "", 201},
		{"ErrTooShortPassword", `{"name": "Bo", "email": "bo2@example.com", "role": "viewer", "password": "tiny"}`, "password", 400},
		{"ErrEmail", `{"name": "Bo", "email": "not an address", "role": "viewer", "password": "` + password + `"}`, "email", 400},
		{"ErrUnknownField", `{"name": "Bo", "email": "bo3@example.com", "role": "viewer", "password": "` + password + `", "admin": true}`, "admin", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/v1/users", c.keyA, tc.body)
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.status)
			}
			if e, _ := r.body["error"].(map[string]any); tc.param != "" && e["param"] != tc.param {
				t.Fatalf("param %v, want %s", e["param"], tc.param)
			}
		})
	}
	if r := c.do("POST", "/v1/users", c.keys[refundry.ScopeApprove], `{"name": "Cy", "email": "cy@example.com", "role": "admin", "password": "`+password+`"}`); r.status != 403 {
		t.Fatalf("create user with scope approve: %d %s", r.status, r.raw)
	}
	list := c.do("GET", "/v1/users?limit=1", c.keys[refundry.ScopeRead], "")
	if list.status != 200 || len(objects(list.body["data"])) != 1 || list.body["has_more"] != true {
		t.Fatalf("list users: %d %s", list.status, list.raw)
	}
	if r := c.do("GET", "/v1/users/"+id, c.keyB, ""); r.status != 404 {
		t.Fatalf("another merchant's user: %d %s", r.status, r.raw)
	}
	if r := c.do("POST", "/v1/users/"+id+"/disable", c.keyB, ""); r.status != 404 {
		t.Fatalf("disabling another merchant's user: %d %s", r.status, r.raw)
	}
	d := c.do("POST", "/v1/users/"+id+"/disable", c.keyA, "")
	if d.status != 200 || d.body["disabled_at"] == nil {
		t.Fatalf("disable: %d %s", d.status, d.raw)
	}
	again := c.do("POST", "/v1/users/"+id+"/disable", c.keyA, "")
	if again.status != 200 || again.num("disabled_at") != d.num("disabled_at") {
		t.Fatalf("disable again: %d %s", again.status, again.raw)
	}
	if _, _, err := c.eng.SignIn(context.Background(), c.merchA.Slug, "ana@example.com", password); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED {
		t.Fatalf("a disabled user signs in: %v", err)
	}
	got := c.do("GET", "/v1/users/"+id, c.keyA, "")
	for _, r := range []response{u, list, d, again, got} {
		if strings.Contains(r.raw, password) || strings.Contains(r.raw, "password") || strings.Contains(r.raw, "$2a$") {
			t.Fatalf("an answer shows the password or its hash: %s", r.raw)
		}
	}
	if audit := c.audited(c.keyA, refundry.AuditUserCreate); len(audit) != 8 || audit[0] != refundry.AuditSucceeded || audit[1] != refundry.ECONFLICT || audit[7] != refundry.EFORBIDDEN {
		t.Fatalf("audit of user.create: %v", audit)
	}
}

// Racing decisions through the native API: of many approvals of one
// refund, or approvals racing its requester's cancel, exactly one wins;
// the others are 409, and the gateway moves the money at most once.
func TestApprovalRaces(t *testing.T) {
	for _, store := range returnStores {
		t.Run(store.name, func(t *testing.T) {
			c := newControlsEnvOn(t, store.open(t))
			c.policy(`{"approval_threshold": {"USD": 0}}`)
			ctx := context.Background()
			var approvers []string
			for i := range 4 {
				_, text, err := c.eng.CreateAPIKey(ctx, c.merchA.ID, engine.KeySpec{Name: fmt.Sprintf("approver %d", i), Scope: refundry.ScopeApprove})
				if err != nil {
					t.Fatal(err)
				}
				approvers = append(approvers, text)
			}
			for _, tc := range []struct {
				name   string
				cancel bool
			}{{"ApproveVsApprove", false}, {"ApproveVsCancel", true}} {
				t.Run(tc.name, func(t *testing.T) {
					s := c.sale(c.keyA, "pay", 3000).str("id")
					id := c.refund(c.keyA, s, 3000).str("id")
					const n = 16
					statuses := make([]int, n)
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							if tc.cancel && i%2 == 1 {
								statuses[i] = c.do("POST", "/v1/refunds/"+id+"/cancel", c.keyA, "").status
								return
							}
							statuses[i] = c.do("POST", "/v1/refunds/"+id+"/approve", approvers[i%len(approvers)], "").status
						})
					}
					wg.Wait()
					// A cancel repeated answers the canceled refund again (200),
					// so only approvals are counted as winners.
					approved, canceled := 0, 0
					for i, st := range statuses {
						switch {
						case st == 200 && tc.cancel && i%2 == 1:
							canceled++
						case st == 200:
							approved++
						case st != 409:
							t.Errorf("status %d, want 200 or 409", st)
						}
					}
					final := c.do("GET", "/v1/refunds/"+id, c.keyA, "").str("status")
					moved := c.sim.Moved(id)
					switch {
					case final == refundry.RefundSucceeded && approved == 1 && canceled == 0 && moved == 3000 && c.refundable(s) == 0:
					case final == refundry.RefundCanceled && approved == 0 && canceled > 0 && moved == 0 && c.refundable(s) == 3000:
					default:
						t.Fatalf("refund %s after %d approvals and %d cancels answered 200 (%v), moved %d, refundable %d",
							final, approved, canceled, statuses, moved, c.refundable(s))
					}
				})
			}
		})
	}
}
