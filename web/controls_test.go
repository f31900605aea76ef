package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/sqlite"
)

// testPassword is every test user's password: long enough for NewUser.
const testPassword = "correct horse battery"

// addUser makes a user of merchant A with testPassword.
func addUser(t *testing.T, env *testenv.Env, name, email string, role refundry.Role) *refundry.User {
	t.Helper()
	u, err := env.Engine.CreateUser(context.Background(), env.A.ID, engine.UserSpec{Name: name, Email: email, Role: role, Password: testPassword})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// signInAs signs in with a password and returns the session's CSRF token.
func (b *browser) signInAs(slug, email, password string) string {
	b.t.Helper()
	status, body := b.trySignIn(slug, email, password)
	if status != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
		b.t.Fatalf("sign-in as %s: %d\n%s", email, status, body)
	}
	return find(b.t, csrfPattern, body)
}

func (b *browser) trySignIn(slug, email, password string) (int, string) {
	b.t.Helper()
	_, body := b.get("/dashboard/signin")
	return b.post("/dashboard/signin", url.Values{"csrf": {find(b.t, csrfPattern, body)},
		"merchant": {slug}, "email": {email}, "password": {password}})
}

// setPolicy applies a policy change to merchant A.
func setPolicy(t *testing.T, env *testenv.Env, c refundry.PolicyChange) {
	t.Helper()
	if _, err := env.Engine.SetRefundPolicy(context.Background(), env.A.ID, c); err != nil {
		t.Fatalf("set policy: %v", err)
	}
}

func threshold(currency string, minor int64) refundry.PolicyChange {
	return refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{currency: &minor}}}
}

func count(n int64) refundry.Change[int64] { return refundry.Change[int64]{Set: true, Value: &n} }

// refundInDashboard reviews and confirms a refund of amount (major units)
// of the whole sale, and returns the page the confirmation led to.
func (b *browser) refundInDashboard(csrf string, sale *refundry.Sale, amount string) (int, string) {
	b.t.Helper()
	status, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {csrf}, "target": {"sale:" + sale.ID},
		"amount": {amount}, "reason": {refundry.ReasonRequestedByCustomer}})
	if status != http.StatusOK {
		return status, body
	}
	return b.post("/dashboard/sales/"+sale.ID+"/refund", url.Values{"csrf": {csrf}, "target": {"sale:" + sale.ID},
		"amount": {find(b.t, amountField, body)}, "reason": {refundry.ReasonRequestedByCustomer}, "token": {find(b.t, tokenPattern, body)}})
}

func onlyRefund(t *testing.T, env *testenv.Env, sale *refundry.Sale) *refundry.Refund {
	t.Helper()
	refunds, _, err := env.Engine.ListRefunds(context.Background(), env.A.ID, refundry.RefundFilter{SaleID: sale.ID})
	if err != nil || len(refunds) != 1 {
		t.Fatalf("refunds of %s: %d, %v", sale.ID, len(refunds), err)
	}
	return refunds[0]
}

func auditOf(t *testing.T, env *testenv.Env, action string) []*refundry.AuditEntry {
	t.Helper()
	entries, _, err := env.Engine.ListAuditLog(context.Background(), env.A.ID, refundry.AuditFilter{Action: action, Page: refundry.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestPasswordSignIn signs users in with a password: the header names
// them; a wrong password, an unknown email and an unknown merchant are
// answered alike; an empty form is refused without a lookup.
func TestPasswordSignIn(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	addUser(t, env, "Ana Approver", "ana@example.com", refundry.RoleApprover)
	b := h.browser(t)
	b.signInAs("store-a", "ana@example.com", testPassword)
	_, body := b.get("/dashboard/")
	mustContain(t, body, `id="who">Ana Approver (approver)<`, `id="approval-count">0<`, `id="review-count">0<`)

	const refused = "The merchant, email or password is wrong."
	for _, tt := range []struct{ name, slug, email, password string }{
		{"WrongPassword", "store-a", "ana@example.com", testPassword + "x"},
		{"UnknownEmail", "store-a", "nobody@example.com", testPassword},
		{"UnknownMerchant", "no-such-store", "ana@example.com", testPassword},
		{"OtherMerchant", "store-b", "ana@example.com", testPassword},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fresh := h.browser(t)
			status, body := fresh.trySignIn(tt.slug, tt.email, tt.password)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", status)
			}
			mustContain(t, body, refused, `value="`+tt.email+`"`)
			if strings.Contains(body, tt.password) {
				t.Error("the page repeats the password")
			}
			if status, _ := fresh.get("/dashboard/sales"); status != http.StatusOK {
				t.Fatalf("after a refused sign-in: %d", status)
			}
		})
	}
	t.Run("Empty", func(t *testing.T) {
		status, body := h.browser(t).trySignIn("store-a", "", "")
		if status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", status)
		}
		mustContain(t, body, "Give the merchant, your email and your password")
	})
}

// TestSignInRateLimit: password attempts are limited per client address
// and per merchant and email; the answer is 429 with Retry-After, and
// even the right password waits.
func TestSignInRateLimit(t *testing.T) {
	// Buckets that regain nothing during the test, however slow it runs.
	h := newHarness(t, Options{signInRefill: time.Hour})
	addUser(t, h.env, "Ana", "ana@example.com", refundry.RoleAgent)
	b := h.browser(t)
	for i := range signInBurst {
		if status, _ := b.trySignIn("store-a", "ana@example.com", "wrong password "+strconv.Itoa(i)); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, status)
		}
	}
	_, body := b.get("/dashboard/signin")
	req, _ := http.NewRequest(http.MethodPost, b.base+"/dashboard/signin", strings.NewReader(url.Values{"csrf": {find(t, csrfPattern, body)},
		"merchant": {"store-a"}, "email": {"ana@example.com"}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attempt past the limit: %d, want 429", resp.StatusCode)
	}
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > signInBurst*3600 {
		t.Fatalf("Retry-After %q, want 1 to %d seconds: at most one window of the burst", resp.Header.Get("Retry-After"), signInBurst*3600)
	}
	status, body := b.trySignIn("store-a", "ana@example.com", testPassword)
	if status != http.StatusTooManyRequests {
		t.Fatalf("right password past the limit: %d, want 429", status)
	}
	mustContain(t, body, "Too many sign-in attempts. Wait ", " seconds and try again.")
	// An API key still signs in: the limits are the password form's.
	b.signIn(h.env.KeyA)
}

// TestSignInLimitsBuckets: the address's bucket and the account's are
// separate; either, empty, refuses.
func TestSignInLimitsBuckets(t *testing.T) {
	l := newSigninLimits(time.Hour, nil)
	from := func(addr string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/dashboard/signin", nil)
		r.RemoteAddr = addr
		return r
	}
	// One account's bucket emptied from one address, then that address's
	// bucket from other accounts.
	for i := range signInBurst {
		if err := l.allow(from("10.0.0.1:"+strconv.Itoa(4000+i)), "store-a", "ana@example.com"); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	for i := signInBurst; i < addressBurst; i++ {
		if err := l.allow(from("10.0.0.1:4000"), "store-a", "user"+strconv.Itoa(i)+"@example.com"); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	for _, tt := range []struct {
		name, addr, merchant, email string
		code                        string
	}{
		{"SameAddressOtherAccount", "10.0.0.1:5000", "store-a", "bo@example.com", refundry.ERATELIMITED},
		{"OtherAddressSameAccount", "10.0.0.2:5000", "store-a", "ana@example.com", refundry.ERATELIMITED},
		{"SameAccountOtherCase", "10.0.0.3:5000", "STORE-A", "Ana@Example.com", refundry.ERATELIMITED},
		{"OtherAddressOtherAccount", "10.0.0.4:5000", "store-a", "bo@example.com", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := refundry.ErrorCode(l.allow(from(tt.addr), tt.merchant, tt.email)); got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
		})
	}
}

// TestSignInLimitsDefaults: the limits as served, counted in windows
// every node shares, allow a burst of signInBurst attempts on one
// account, then refuse, saying when to retry: at most a window of
// signInBurst attempts at signInPerMinute, a minute.
func TestSignInLimitsDefaults(t *testing.T) {
	counts := map[string]int64{}
	l := newSigninLimits(0, func(_ context.Context, key string, start time.Time) (int64, error) {
		counts[key+start.String()]++
		return counts[key+start.String()], nil
	})
	r := httptest.NewRequest(http.MethodPost, "/dashboard/signin", nil)
	for i := range signInBurst {
		if err := l.allow(r, "store-a", "ana@example.com"); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	err := l.allow(r, "store-a", "ana@example.com")
	if refundry.ErrorCode(err) != refundry.ERATELIMITED {
		t.Fatalf("attempt past the burst: %v", err)
	}
	w := httptest.NewRecorder()
	edge.SetRetryAfter(w, err)
	if wait, _ := strconv.Atoi(w.Header().Get("Retry-After")); wait < 1 || wait > 60*signInBurst/signInPerMinute {
		t.Errorf("Retry-After %q, want 1 to %d seconds", w.Header().Get("Retry-After"), 60*signInBurst/signInPerMinute)
	}
}

// TestDisabledUserSignedOut: a user disabled while signed in is signed
// out at the next request, and cannot sign in again.
func TestDisabledUserSignedOut(t *testing.T) {
	h := newHarness(t, Options{})
	u := addUser(t, h.env, "Ana", "ana@example.com", refundry.RoleAgent)
	b := h.browser(t)
	b.signInAs("store-a", "ana@example.com", testPassword)
	if _, err := h.env.Engine.DisableUser(context.Background(), h.env.A.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	status, body := b.get("/dashboard/sales")
	if status != http.StatusOK || !strings.Contains(body, "<h1>Sign in</h1>") {
		t.Fatalf("disabled user's next request: %d, want the sign-in page", status)
	}
	status, body = h.browser(t).trySignIn("store-a", "ana@example.com", testPassword)
	if status != http.StatusUnauthorized {
		t.Fatalf("disabled user signing in: %d, want 401", status)
	}
	mustContain(t, body, "disabled")
}

// TestApprovalInDashboard: a refund over the threshold made in the
// dashboard waits for approval; its requester's session has no Approve
// button and is refused one forged (EFORBIDDEN, audited); a viewer sees
// the queue and its count but no buttons and is refused a forged
// approval (403); a second approver approves it through the
// confirmation step, and the simulator pays it.
func TestApprovalInDashboard(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	ana := addUser(t, env, "Ana Approver", "ana@example.com", refundry.RoleApprover)
	bo := addUser(t, env, "Bo Approver", "bo@example.com", refundry.RoleApprover)
	addUser(t, env, "Vi Viewer", "vi@example.com", refundry.RoleViewer)
	setPolicy(t, env, threshold("USD", 1000))
	sale := env.Sale(testenvSaleSpec{Reference: "APPROVE-1", Units: []int64{2500}})

	a := h.browser(t)
	aCSRF := a.signInAs("store-a", "ana@example.com", testPassword)
	status, body := a.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {aCSRF}, "target": {"sale:" + sale.ID},
		"amount": {"20.00"}, "reason": {refundry.ReasonRequestedByCustomer}})
	if status != http.StatusOK {
		t.Fatalf("review: %d\n%s", status, body)
	}
	mustContain(t, body, `id="needs-approval"`)
	status, body = a.refundInDashboard(aCSRF, sale, "20.00")
	if status != http.StatusOK {
		t.Fatalf("refund: %d\n%s", status, body)
	}
	mustContain(t, body, ": awaiting approval.", "Someone other than you must approve it", `id="approval-count">1<`)
	ref := onlyRefund(t, env, sale)
	if ref.Status != refundry.RefundRequiresApproval || ref.RequestedBy != "user:"+ana.ID {
		t.Fatalf("refund %s requested by %q, want requires_approval by user:%s", ref.Status, ref.RequestedBy, ana.ID)
	}
	if got := env.Reload(sale); got.Refundable() != 500 {
		t.Errorf("sale refundable %d while the refund waits, want 500: its amount is held", got.Refundable())
	}

	t.Run("RequesterHasNoButton", func(t *testing.T) {
		_, body := a.get("/dashboard/approvals")
		mustContain(t, body, `id="queue-`+ref.ID+`"`, `id="own-`+ref.ID+`"`, "Ana Approver &lt;ana@example.com&gt; <span class=\"muted\">(you)</span>")
		if strings.Contains(body, `id="approve-`+ref.ID+`"`) {
			t.Error("the requester is offered Approve")
		}
		status, body := a.get("/dashboard/refunds/" + ref.ID + "/approve")
		if status != http.StatusForbidden {
			t.Fatalf("approve form for own refund: %d, want 403", status)
		}
		mustContain(t, body, "someone else must approve it")
		if strings.Contains(body, `id="confirm-decision"`) {
			t.Error("the requester is offered the confirm button")
		}
	})
	t.Run("RequesterForgedApprovalRefused", func(t *testing.T) {
		before := len(auditOf(t, env, refundry.AuditRefundApprove))
		status, body := a.post("/dashboard/refunds/"+ref.ID+"/approve", url.Values{"csrf": {aCSRF}, "note": {"me"}})
		if status != http.StatusForbidden {
			t.Fatalf("own approval: %d, want 403\n%s", status, body)
		}
		mustContain(t, body, `id="decide-error"`, "someone else must approve it")
		if got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ref.ID); got.Status != refundry.RefundRequiresApproval {
			t.Errorf("after own approval: %s", got.Status)
		}
		entries := auditOf(t, env, refundry.AuditRefundApprove)
		if len(entries) != before+1 || entries[0].Result != refundry.EFORBIDDEN || entries[0].Actor.UserID != ana.ID {
			t.Errorf("audit of the refused approval: %d rows (before %d), newest %+v", len(entries), before, entries[0])
		}
	})
	t.Run("ViewerSeesQueueNoButtons", func(t *testing.T) {
		v := h.browser(t)
		vCSRF := v.signInAs("store-a", "vi@example.com", testPassword)
		status, body := v.get("/dashboard/approvals")
		if status != http.StatusOK {
			t.Fatalf("queue: %d", status)
		}
		mustContain(t, body, `id="approval-count">1<`, `id="queue-`+ref.ID+`"`, `id="no-decide"`, "your role allows read")
		for _, button := range []string{"approve-", "reject-"} {
			if strings.Contains(body, `id="`+button+ref.ID+`"`) {
				t.Errorf("viewer is offered %s", button)
			}
		}
		for _, verb := range []string{"approve", "reject"} {
			status, body := v.post("/dashboard/refunds/"+ref.ID+"/"+verb, url.Values{"csrf": {vCSRF}})
			if status != http.StatusForbidden {
				t.Errorf("viewer's forged %s: %d, want 403", verb, status)
			}
			mustContain(t, body, "your role allows read")
		}
		if got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ref.ID); got.Status != refundry.RefundRequiresApproval {
			t.Errorf("after the viewer's forgeries: %s", got.Status)
		}
		_, body = v.get("/dashboard/sales/" + sale.ID)
		mustContain(t, body, `id="read-only"`, "You can read but not refund: your role is viewer.")
		if strings.Contains(body, `id="approve-`+ref.ID+`"`) || strings.Contains(body, `id="review"`) {
			t.Error("the viewer's sale page offers Approve or the refund form")
		}
	})
	t.Run("SecondApproverApproves", func(t *testing.T) {
		bb := h.browser(t)
		bCSRF := bb.signInAs("store-a", "bo@example.com", testPassword)
		_, body := bb.get("/dashboard/approvals")
		mustContain(t, body, `id="approve-`+ref.ID+`"`, `id="reject-`+ref.ID+`"`)
		status, body := bb.get("/dashboard/refunds/" + ref.ID + "/approve")
		if status != http.StatusOK {
			t.Fatalf("approve form: %d\n%s", status, body)
		}
		mustContain(t, body, "Approve the refund of <strong>20.00 USD</strong> on order APPROVE-1?", `id="confirm-decision"`, "Ana Approver")
		status, body = bb.post("/dashboard/refunds/"+ref.ID+"/approve", url.Values{"csrf": {bCSRF}, "note": {"checked the order"}})
		if status != http.StatusOK {
			t.Fatalf("approve: %d\n%s", status, body)
		}
		mustContain(t, body, `id="notice"`, "Refund "+ref.ID+" of 20.00 USD approved: now succeeded.", `id="approval-count">0<`)
		got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ref.ID)
		if got.Status != refundry.RefundSucceeded || got.DecidedBy != "user:"+bo.ID || got.DecisionNote != "checked the order" {
			t.Errorf("approved refund: %s decided by %q note %q", got.Status, got.DecidedBy, got.DecisionNote)
		}
		entries := auditOf(t, env, refundry.AuditRefundApprove)
		if entries[0].Result != refundry.AuditSucceeded || entries[0].Actor.UserID != bo.ID || entries[0].Note != "checked the order" {
			t.Errorf("audit of the approval: %+v", entries[0])
		}
		_, body = bb.get("/dashboard/sales/" + sale.ID)
		mustContain(t, body, `class="decided-by">Bo Approver &lt;bo@example.com&gt;<`, `class="requested-by">Ana Approver`, "checked the order")
		// A second approval of the same refund is a conflict, changing nothing.
		status, body = bb.post("/dashboard/refunds/"+ref.ID+"/approve", url.Values{"csrf": {bCSRF}})
		if status != http.StatusConflict {
			t.Errorf("second approval: %d, want 409\n%s", status, body)
		}
	})
}

// TestRejectInDashboard: an approver rejects a held refund, releasing
// its amount; the refund names who and why.
func TestRejectInDashboard(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	addUser(t, env, "Ag Agent", "ag@example.com", refundry.RoleAgent)
	bo := addUser(t, env, "Bo Approver", "bo@example.com", refundry.RoleApprover)
	setPolicy(t, env, threshold("USD", 0))
	sale := env.Sale(testenvSaleSpec{Reference: "REJECT-1", Units: []int64{2500}})
	ag := h.browser(t)
	agCSRF := ag.signInAs("store-a", "ag@example.com", testPassword)
	if status, body := ag.refundInDashboard(agCSRF, sale, "5.00"); status != http.StatusOK {
		t.Fatalf("refund: %d\n%s", status, body)
	}
	ref := onlyRefund(t, env, sale)
	// An agent may refund, not decide: no buttons, and a forged rejection is refused.
	_, body := ag.get("/dashboard/approvals")
	if strings.Contains(body, `id="reject-`+ref.ID+`"`) {
		t.Error("agent is offered Reject")
	}
	if status, _ := ag.post("/dashboard/refunds/"+ref.ID+"/reject", url.Values{"csrf": {agCSRF}}); status != http.StatusForbidden {
		t.Errorf("agent's rejection: %d, want 403", status)
	}
	bb := h.browser(t)
	bCSRF := bb.signInAs("store-a", "bo@example.com", testPassword)
	status, body := bb.get("/dashboard/refunds/" + ref.ID + "/reject")
	mustContain(t, body, "Reject the refund of <strong>5.00 USD</strong>")
	if status != http.StatusOK {
		t.Fatalf("reject form: %d", status)
	}
	status, body = bb.post("/dashboard/refunds/"+ref.ID+"/reject", url.Values{"csrf": {bCSRF}, "note": {"duplicate"}})
	if status != http.StatusOK {
		t.Fatalf("reject: %d\n%s", status, body)
	}
	mustContain(t, body, "of 5.00 USD rejected: its amount is released.")
	got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ref.ID)
	if got.Status != refundry.RefundCanceled || got.DecidedBy != "user:"+bo.ID || got.DecisionNote != "duplicate" {
		t.Errorf("rejected refund: %s by %q note %q", got.Status, got.DecidedBy, got.DecisionNote)
	}
	if s := env.Reload(sale); s.Refundable() != 2500 {
		t.Errorf("refundable after rejection %d, want 2500", s.Refundable())
	}
}

// toReview puts a pending refund of a new sale into manual review, as
// recovery does when its gateway gives no final answer.
func toReview(t *testing.T, env *testenv.Env, ref string) *refundry.Refund {
	t.Helper()
	sale := env.Sale(testenvSaleSpec{Reference: ref, Units: []int64{3000}, PayRefs: []string{"sim_pending_" + ref}})
	amount := int64(1200)
	res, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
		Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	r, err := env.Store.SettleRefund(context.Background(), env.A.ID, res.Refunds[0].ID, refundry.Settlement{Status: refundry.RefundRequiresAction,
		By: refundry.ByRecovery, Note: "Recovery asked the gateway 25 times and it gave no final answer."})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolveInDashboard resolves refunds in review each of the three
// ways through their confirmation pages; a resolution without a note, or
// succeeded without the gateway's reference, is refused and changes
// nothing.
func TestResolveInDashboard(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	bo := addUser(t, env, "Bo Approver", "bo@example.com", refundry.RoleApprover)
	refs := map[string]*refundry.Refund{
		refundry.ResolveSucceeded: toReview(t, env, "REVIEW-OK"),
		refundry.ResolveFailed:    toReview(t, env, "REVIEW-FAIL"),
		refundry.ResolveRetry:     toReview(t, env, "REVIEW-RETRY"),
	}
	b := h.browser(t)
	csrf := b.signInAs("store-a", "bo@example.com", testPassword)
	_, body := b.get("/dashboard/reviews")
	mustContain(t, body, `id="review-count">3<`, "Recovery asked the gateway 25 times", `id="succeeded-`+refs[refundry.ResolveSucceeded].ID+`"`)

	ok := refs[refundry.ResolveSucceeded]
	if status, body := b.get("/dashboard/refunds/" + ok.ID + "/resolve?outcome=nonsense"); status != http.StatusBadRequest {
		t.Errorf("resolve form with a bad outcome: %d\n%s", status, body)
	}
	for _, bad := range []struct {
		name string
		form url.Values
		want string
	}{
		{"NoNote", url.Values{"outcome": {"succeeded"}, "gateway_refund_id": {"re_123"}}, "Say why"},
		{"NoReference", url.Values{"outcome": {"succeeded"}, "note": {"paid"}}, "needs the gateway&#39;s reference"},
		{"BadOutcome", url.Values{"outcome": {"maybe"}, "note": {"hm"}}, "Outcome must be succeeded, failed or retry"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			bad.form.Set("csrf", csrf)
			status, body := b.post("/dashboard/refunds/"+ok.ID+"/resolve", bad.form)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422\n%s", status, body)
			}
			mustContain(t, body, bad.want, `id="confirm-decision"`)
			if got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ok.ID); got.Status != refundry.RefundRequiresAction {
				t.Errorf("after a refused resolution: %s", got.Status)
			}
		})
	}

	for _, tt := range []struct {
		outcome, reference, want string
	}{
		{refundry.ResolveSucceeded, "re_manual_1", refundry.RefundSucceeded},
		{refundry.ResolveFailed, "", refundry.RefundFailed},
		{refundry.ResolveRetry, "", refundry.RefundPending},
	} {
		t.Run(tt.outcome, func(t *testing.T) {
			ref := refs[tt.outcome]
			status, body := b.get("/dashboard/refunds/" + ref.ID + "/resolve?outcome=" + tt.outcome)
			if status != http.StatusOK {
				t.Fatalf("form: %d\n%s", status, body)
			}
			mustContain(t, body, `name="outcome" value="`+tt.outcome+`"`, `id="confirm-decision"`)
			status, body = b.post("/dashboard/refunds/"+ref.ID+"/resolve", url.Values{"csrf": {csrf}, "outcome": {tt.outcome},
				"gateway_refund_id": {tt.reference}, "note": {"checked with the gateway"}})
			if status != http.StatusOK {
				t.Fatalf("resolve: %d\n%s", status, body)
			}
			mustContain(t, body, "resolved: now "+statusLabel(tt.want)+".")
			got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ref.ID)
			if got.Status != tt.want || got.DecidedBy != "user:"+bo.ID {
				t.Errorf("resolved refund: %s by %q, want %s by user:%s", got.Status, got.DecidedBy, tt.want, bo.ID)
			}
			if tt.reference != "" && got.GatewayRefundID != tt.reference {
				t.Errorf("gateway reference %q, want %q", got.GatewayRefundID, tt.reference)
			}
		})
	}
	entries := auditOf(t, env, refundry.AuditRefundResolve)
	succeeded := 0
	for _, e := range entries {
		if e.Result == refundry.AuditSucceeded && e.Actor.UserID == bo.ID && e.Note == "checked with the gateway" {
			succeeded++
		}
	}
	if succeeded != 3 {
		t.Errorf("audited resolutions by Bo: %d, want 3; %d rows", succeeded, len(entries))
	}
	// Resolving one no longer in review is a conflict.
	if status, _ := b.post("/dashboard/refunds/"+ok.ID+"/resolve", url.Values{"csrf": {csrf}, "outcome": {"failed"}, "note": {"again"}}); status != http.StatusConflict {
		t.Errorf("resolving a resolved refund: %d, want 409", status)
	}
}

// TestPolicyRefusalsInDashboard: the merchant's policy refuses a refund
// on the refund form, on review and on confirmation, in its own words.
func TestPolicyRefusalsInDashboard(t *testing.T) {
	// Sessions outlive the clock moved two days on below.
	h := newHarness(t, Options{SessionIdle: 100 * time.Hour, SessionMax: 100 * time.Hour})
	env := h.env
	b := h.browser(t)
	csrf := b.signIn(env.KeyA)

	t.Run("TooMany", func(t *testing.T) {
		setPolicy(t, env, refundry.PolicyChange{MaxRefundsPerSale: count(1)})
		sale := env.Sale(testenvSaleSpec{Reference: "MANY-1", Units: []int64{2500}})
		if status, body := b.refundInDashboard(csrf, sale, "1.00"); status != http.StatusOK {
			t.Fatalf("first refund: %d\n%s", status, body)
		}
		status, body := b.refundInDashboard(csrf, sale, "1.00")
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("second refund: %d, want 422\n%s", status, body)
		}
		mustContain(t, body, `id="refund-error"`, "Refund refused: This sale has 1 refunds already")
		setPolicy(t, env, refundry.PolicyChange{MaxRefundsPerSale: refundry.Change[int64]{Set: true}})
	})
	t.Run("WindowClosed", func(t *testing.T) {
		setPolicy(t, env, refundry.PolicyChange{MaxAgeDays: count(1)})
		sale := env.Sale(testenvSaleSpec{Reference: "OLD-1", Units: []int64{2500}})
		later := func() time.Time { return time.Now().Add(49 * time.Hour) }
		env.Engine.Now = later
		if st, ok := env.Store.(*sqlite.Store); ok {
			st.Now = later
		}
		status, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {csrf}, "target": {"sale:" + sale.ID}, "amount": {"1.00"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("review: %d, want 422\n%s", status, body)
		}
		mustContain(t, body, `id="refund-error"`, "Refund refused: The refund window of this sale closed on")
		// Confirmed anyway (a page kept open): the store refuses it too.
		status, body = b.post("/dashboard/sales/"+sale.ID+"/refund", url.Values{"csrf": {csrf}, "target": {"sale:" + sale.ID}, "amount": {"1.00"}, "token": {"tok-window"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("confirm: %d, want 422\n%s", status, body)
		}
		mustContain(t, body, "Refund refused: The refund window of this sale closed on")
		if got := env.Reload(sale); got.RefundedAmount != 0 {
			t.Errorf("refunded %d", got.RefundedAmount)
		}
	})
}

// TestControlRoutes: the dashboard's decisions need scope approve in
// edge's one table, and each names its audit action.
func TestControlRoutes(t *testing.T) {
	for _, tt := range []struct {
		verb, action string
	}{
		{"approve", refundry.AuditRefundApprove},
		{"reject", refundry.AuditRefundReject},
		{"resolve", refundry.AuditRefundResolve},
	} {
		rt := edge.RouteFor("POST /dashboard/refunds/{id}/"+tt.verb, http.MethodPost)
		if rt.Scope != refundry.ScopeApprove || rt.Action != tt.action {
			t.Errorf("%s: %+v", tt.verb, rt)
		}
		for _, dc := range []decision{decideApprove, decideReject, decideResolve} {
			if dc.Verb == tt.verb && edgeAction(dc) != tt.action {
				t.Errorf("edgeAction(%s) = %q", tt.verb, edgeAction(dc))
			}
		}
	}
	for role, want := range map[refundry.Role]bool{refundry.RoleViewer: false, refundry.RoleAgent: false, refundry.RoleApprover: true, refundry.RoleAdmin: true} {
		if got := edge.May(role.Scope(), http.MethodPost, "/dashboard/refunds/{id}/approve"); got != want {
			t.Errorf("role %s may approve: %v, want %v", role, got, want)
		}
	}
}

// TestStatusLabels: every refund status has words a person reads, and
// the refunds filter offers the new ones.
func TestStatusLabels(t *testing.T) {
	for status, want := range map[string]string{
		refundry.RefundRequiresApproval: "awaiting approval",
		refundry.RefundRequiresAction:   "needs review",
		refundry.RefundPending:          "pending",
		"partially_refunded":            "partially refunded",
	} {
		if got := statusLabel(status); got != want {
			t.Errorf("statusLabel(%q) = %q, want %q", status, got, want)
		}
	}
	h := newHarness(t, Options{})
	b := h.browser(t)
	b.signIn(h.env.KeyA)
	status, body := b.get("/dashboard/refunds?status=requires_approval")
	if status != http.StatusOK {
		t.Fatalf("filter: %d", status)
	}
	mustContain(t, body, `<option value="requires_approval" selected>awaiting approval</option>`, `<option value="requires_action">needs review</option>`)
}

// TestWithdrawHeldRefund: the person who asked for a refund awaiting
// approval may withdraw it through the cancel confirmation; no gateway
// hears of it and its amount is released.
func TestWithdrawHeldRefund(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	addUser(t, env, "Ag Agent", "ag@example.com", refundry.RoleAgent)
	setPolicy(t, env, threshold("USD", 0))
	sale := env.Sale(testenvSaleSpec{Reference: "WITHDRAW-1", Units: []int64{2500}})
	b := h.browser(t)
	csrf := b.signInAs("store-a", "ag@example.com", testPassword)
	if status, body := b.refundInDashboard(csrf, sale, "5.00"); status != http.StatusOK {
		t.Fatalf("refund: %d\n%s", status, body)
	}
	ref := onlyRefund(t, env, sale)
	_, body := b.get("/dashboard/sales/" + sale.ID)
	mustContain(t, body, `id="cancel-`+ref.ID+`"`, "Withdraw this refund…", `class="requested-by">Ag Agent`)
	status, body := b.get("/dashboard/refunds/" + ref.ID + "/cancel")
	if status != http.StatusOK {
		t.Fatalf("withdraw form: %d\n%s", status, body)
	}
	mustContain(t, body, "Withdraw the refund of <strong>5.00 USD</strong>")
	if status, body := b.post("/dashboard/refunds/"+ref.ID+"/cancel", url.Values{"csrf": {csrf}}); status != http.StatusOK {
		t.Fatalf("withdraw: %d\n%s", status, body)
	}
	got, _ := env.Engine.FindRefund(context.Background(), env.A.ID, ref.ID)
	if got.Status != refundry.RefundCanceled {
		t.Errorf("withdrawn refund is %s", got.Status)
	}
	if s := env.Reload(sale); s.Refundable() != 2500 {
		t.Errorf("refundable after withdrawal %d, want 2500", s.Refundable())
	}
}

// TestApprovalSourcesInDashboard: a threshold limited to some sources
// holds a dashboard refund only when it names the dashboard.
func TestApprovalSourcesInDashboard(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	b := h.browser(t)
	csrf := b.signIn(env.KeyA)
	for _, tt := range []struct {
		sources []string
		want    string
	}{
		{[]string{refundry.SourceNative, refundry.SourceDialects}, refundry.RefundSucceeded},
		{[]string{refundry.SourceDashboard}, refundry.RefundRequiresApproval},
	} {
		t.Run(strings.Join(tt.sources, "+"), func(t *testing.T) {
			c := threshold("USD", 100)
			c.ApprovalForSources = refundry.Change[[]string]{Set: true, Value: &tt.sources}
			setPolicy(t, env, c)
			sale := env.Sale(testenvSaleSpec{Units: []int64{2500}})
			if status, body := b.refundInDashboard(csrf, sale, "2.00"); status != http.StatusOK {
				t.Fatalf("refund: %d\n%s", status, body)
			}
			if got := onlyRefund(t, env, sale); got.Status != tt.want {
				t.Errorf("refund is %s, want %s", got.Status, tt.want)
			}
		})
	}
}
