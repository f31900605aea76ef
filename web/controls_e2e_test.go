package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refundry/refundry"
)

// absent reports whether no element matches the CSS selector.
func absent(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	none, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) === null`))
	if err != nil {
		t.Fatalf("looking for %s: %v", sel, err)
	}
	return none
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// passwordSignIn fills the password form and waits for the overview.
func passwordSignIn(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	step(t, ctx, "sign in as "+email,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#merchant"), "store-a"),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#signin-password")),
		chromedp.WaitVisible(chromedp.CSS("#refund-count")),
	)
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#email")))
}

// TestBrowserApproval drives the refund controls in headless Chromium: an
// approver signs in with a password and refunds over the approval
// threshold, which waits for approval; the same session is offered no
// Approve button; a second approver approves it through the confirmation
// step and the gateway pays it; the second approver resolves a refund in
// review; a viewer sees the queue and its count but no buttons; a
// disabled viewer is signed out; and password sign-in is rate-limited.
func TestBrowserApproval(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{signInRefill: time.Hour})
	env := h.env
	bg := context.Background()
	addUser(t, env, "Ana Approver", "ana@example.com", refundry.RoleApprover)
	addUser(t, env, "Bo Approver", "bo@example.com", refundry.RoleApprover)
	vi := addUser(t, env, "Vi Viewer", "vi@example.com", refundry.RoleViewer)
	review := toReview(t, env, "E2E-REVIEW") // made before the policy holds refunds of its size
	setPolicy(t, env, threshold("USD", 1000))
	sale := env.Sale(testenvSaleSpec{Reference: "E2E-APPROVE", Email: "customer@example.com", Units: []int64{2500}})
	base := h.srv.URL + "/dashboard"

	passwordSignIn(t, ctx, base, "ana@example.com")
	if got := text(t, ctx, "#who"); !strings.Contains(got, "Ana Approver") {
		t.Errorf("header names %q", got)
	}
	step(t, ctx, "review a refund over the threshold",
		chromedp.Navigate(base+"/sales/"+sale.ID),
		chromedp.WaitVisible(chromedp.CSS("#amount")),
		chromedp.SendKeys(chromedp.CSS("#amount"), "20.00"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#needs-approval")),
	)
	step(t, ctx, "confirm it",
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if got := text(t, ctx, "#notice"); !strings.Contains(got, "of 20.00 USD: awaiting approval.") {
		t.Errorf("notice %q", got)
	}
	if got := text(t, ctx, "#approval-count"); got != "1" {
		t.Errorf("approval count %q, want 1", got)
	}
	ref := onlyRefund(t, env, sale)
	if ref.Status != refundry.RefundRequiresApproval {
		t.Fatalf("refund is %s, want requires_approval", ref.Status)
	}
	step(t, ctx, "open the approval queue", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("#queue-"+ref.ID)))
	if absent(t, ctx, "#own-"+ref.ID) || !absent(t, ctx, "#approve-"+ref.ID) {
		t.Error("the requester's queue offers Approve, or does not say why not")
	}
	step(t, ctx, "try the approval page anyway",
		chromedp.Navigate(base+"/refunds/"+ref.ID+"/approve"),
		chromedp.WaitVisible(chromedp.CSS("#decide-error")),
	)
	if got := text(t, ctx, "#decide-error"); !strings.Contains(got, "someone else must approve it") {
		t.Errorf("own approval says %q", got)
	}
	signOut(t, ctx)

	passwordSignIn(t, ctx, base, "bo@example.com")
	step(t, ctx, "approve through the confirmation step",
		chromedp.Navigate(base+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS("#approve-"+ref.ID)),
		chromedp.Click(chromedp.CSS("#approve-"+ref.ID)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-decision")),
		chromedp.SendKeys(chromedp.CSS("#note"), "order checked"),
		chromedp.Click(chromedp.CSS("#confirm-decision")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if got := text(t, ctx, "#notice"); !strings.Contains(got, "approved: now succeeded.") {
		t.Errorf("notice %q", got)
	}
	if got := text(t, ctx, "#approval-count"); got != "0" {
		t.Errorf("approval count after approving %q, want 0", got)
	}
	if got, _ := env.Engine.FindRefund(bg, env.A.ID, ref.ID); got.Status != refundry.RefundSucceeded || got.DecisionNote != "order checked" {
		t.Errorf("approved refund: %s, note %q", got.Status, got.DecisionNote)
	}
	if got := env.Reload(sale); got.RefundedAmount != 2000 {
		t.Errorf("sale refunded %d, want 2000", got.RefundedAmount)
	}

	step(t, ctx, "resolve a refund in review as succeeded",
		chromedp.Navigate(base+"/reviews"),
		chromedp.WaitVisible(chromedp.CSS("#succeeded-"+review.ID)),
		chromedp.Click(chromedp.CSS("#succeeded-"+review.ID)),
		chromedp.WaitVisible(chromedp.CSS("#gateway_refund_id")),
		chromedp.SendKeys(chromedp.CSS("#gateway_refund_id"), "re_seen_in_gateway"),
		chromedp.SendKeys(chromedp.CSS("#note"), "paid, per the gateway's dashboard"),
		chromedp.Click(chromedp.CSS("#confirm-decision")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if got := text(t, ctx, "#review-count"); got != "0" {
		t.Errorf("review count after resolving %q, want 0", got)
	}
	if got, _ := env.Engine.FindRefund(bg, env.A.ID, review.ID); got.Status != refundry.RefundSucceeded || got.GatewayRefundID != "re_seen_in_gateway" {
		t.Errorf("resolved refund: %s, reference %q", got.Status, got.GatewayRefundID)
	}
	signOut(t, ctx)

	// Another refund waits, asked for through the API.
	amount := int64(1500)
	if _, err := env.Engine.Refund(bg, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: env.Sale(testenvSaleSpec{Units: []int64{3000}}).ID},
		Amount: &amount, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	passwordSignIn(t, ctx, base, "vi@example.com")
	if got := text(t, ctx, "#approval-count"); got != "1" {
		t.Errorf("viewer's approval count %q, want 1", got)
	}
	step(t, ctx, "the viewer opens the queue", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("#no-decide")))
	if !absent(t, ctx, "#queue .button") {
		t.Error("the viewer is offered buttons")
	}
	if absent(t, ctx, "#queue li") {
		t.Error("the viewer's queue is empty")
	}
	if _, err := env.Engine.DisableUser(bg, env.A.ID, vi.ID); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "the disabled viewer is signed out",
		chromedp.Navigate(base+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)

	// Three sign-ins from this address so far: a few wrong passwords more
	// and the form answers that there were too many.
	limited := false
	for i := 0; i < signInBurst+2 && !limited; i++ {
		step(t, ctx, "a wrong password",
			chromedp.Navigate(base+"/signin"),
			chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#merchant"), "store-a"),
			chromedp.SendKeys(chromedp.CSS("#email"), "ana@example.com"),
			chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
			chromedp.Click(chromedp.CSS("#signin-password")),
			chromedp.WaitVisible(chromedp.CSS("#signin-error")),
		)
		limited = strings.Contains(text(t, ctx, "#signin-error"), "Too many sign-in attempts")
	}
	if !limited {
		t.Error("password sign-in was never limited")
	}
}

// TestBrowserPhoneControls opens the refund controls' pages in a 390 px
// wide window, with long names and emails: none may scroll sideways.
func TestBrowserPhoneControls(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	bg := context.Background()
	addUser(t, env, "Maximiliane Konstantinopoulou-Papadimitriou", "maximiliane.konstantinopoulou-papadimitriou@example-merchant.com", refundry.RoleApprover)
	review := toReview(t, env, "ORDER-2026-000000001004-REVIEW")
	setPolicy(t, env, threshold("USD", 1000))
	long := env.Sale(testenvSaleSpec{Reference: "ORDER-2026-000000001003", Email: "anastasia.konstantinopoulou-papadimitriou@example-customers.com",
		FirstName: "Anastasia", LastName: "Konstantinopoulou-Papadimitriou", Units: []int64{1234567}})
	amount := int64(1234500)
	res, err := env.Engine.Refund(bg, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: long.ID},
		Amount: &amount, Source: refundry.SourceNative, Description: strings.Repeat("a long description ", 10)})
	if err != nil {
		t.Fatal(err)
	}
	held := res.Refunds[0]
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "open the sign-in page on a phone",
		chromedp.EmulateViewport(phoneWidth, 844),
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	checkNoSideways(t, ctx, "signin")
	step(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.CSS("#merchant"), "store-a"),
		chromedp.SendKeys(chromedp.CSS("#email"), "maximiliane.konstantinopoulou-papadimitriou@example-merchant.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#signin-password")),
		chromedp.WaitVisible(chromedp.CSS("#refund-count")),
	)
	checkNoSideways(t, ctx, "overview")
	for _, page := range []string{"/approvals", "/reviews", "/refunds/" + held.ID + "/approve", "/refunds/" + held.ID + "/reject",
		"/refunds/" + review.ID + "/resolve?outcome=succeeded", "/refunds/" + review.ID + "/resolve?outcome=failed",
		"/sales/" + long.ID, "/refunds?status=requires_approval"} {
		step(t, ctx, "open "+page, chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS("footer")))
		checkNoSideways(t, ctx, page)
	}
	for _, page := range []string{"approvals", "reviews"} {
		step(t, ctx, "open "+page, chromedp.Navigate(base+"/"+page), chromedp.WaitVisible(chromedp.CSS("#queue")))
		screenshot(t, ctx, "phone-"+page+".png")
	}
}
