package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/sqlite"
)

// truthSeed is a merchant's ledger after the gateway had its say, each
// situation made through the engine the way an inbound event or a
// reconciliation run makes it.
type truthSeed struct {
	over     *refundry.Sale // a refund made at the gateway put it 3.00 USD over what was paid
	adopted  *refundry.Refund
	late     *refundry.Sale // a refund succeeded at succeeded, failed at failed
	lateRef  *refundry.Refund
	disputed *refundry.Sale // an open dispute on its payment
	open     *refundry.Dispute
	lost     *refundry.Sale // a lost dispute returned 4.00 USD of it
	lostDisp *refundry.Dispute
	run      *refundry.ReconciliationRun // with a mismatch of each kind
	clean    *refundry.ReconciliationRun // with none
	real     *refundry.ReconciliationRun // engine.Reconcile's, over all of the above

	succeeded, failed time.Time
}

// seedTruth makes each situation of gateway truth for merchant A of env,
// with long names so that the pages are tried at their widest.
func seedTruth(t *testing.T, env *testenv.Env) *truthSeed {
	t.Helper()
	ctx := context.Background()
	clock := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	// Both clocks: the engine's, and the store's, which stamps events.
	env.Engine.Now = func() time.Time { return clock }
	env.Store.(*sqlite.Store).Now = func() time.Time { return clock }
	s := &truthSeed{}
	apply := func(rep refundry.GatewayReport) *refundry.ReportResult {
		t.Helper()
		res, err := env.Engine.ApplyReport(ctx, rep)
		if err != nil {
			t.Fatalf("apply report: %v", err)
		}
		return res
	}

	// A refund made in the gateway's own dashboard, on top of one made
	// here: the gateway's money is gone, the ledger must show it.
	s.over = env.Sale(testenv.SaleSpec{Reference: "ORDER-OVER-REFUNDED-2026-000000001", Email: "anastasia.konstantinopoulou@example-customers.com",
		FirstName: "Anastasia", LastName: "Konstantinopoulou-Papadimitriou", Units: []int64{1000}, PayRefs: []string{"pay_over_1"}})
	amount := int64(700)
	if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: s.over.ID},
		Amount: &amount, Reason: "requested_by_customer", Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	res := apply(refundry.GatewayReport{Refund: &refundry.RefundReport{Gateway: refundry.GatewaySimulator, ChargeIDs: []string{"pay_over_1"},
		GatewayRefundID: "re_made_in_the_gateway_dashboard_1", Amount: 600, Currency: "USD", Status: refundry.RefundSucceeded, Created: clock}})
	if res.Outcome != refundry.OutcomeAdopted || res.Refund == nil {
		t.Fatalf("gateway refund: outcome %q, want adopted", res.Outcome)
	}
	s.adopted = res.Refund

	// A refund that succeeded, and failed two days later.
	s.late = env.Sale(testenv.SaleSpec{Reference: "ORDER-LATE-1", Email: "late@example.com", Units: []int64{2500}, PayRefs: []string{"pay_late_1"}})
	s.succeeded = clock
	rr, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: s.late.ID},
		Reason: "damaged", Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	if rr.Refunds[0].Status != refundry.RefundSucceeded {
		t.Fatalf("refund %s, want succeeded", rr.Refunds[0].Status)
	}
	clock = clock.Add(49 * time.Hour)
	s.failed = clock
	res = apply(refundry.GatewayReport{Refund: &refundry.RefundReport{Gateway: refundry.GatewaySimulator, ChargeIDs: []string{"pay_late_1"},
		GatewayRefundID: rr.Refunds[0].GatewayRefundID, RefundID: rr.Refunds[0].ID, Amount: 2500, Currency: "USD",
		Status: refundry.RefundFailed, FailureReason: "expired_or_canceled_card", Created: s.succeeded}})
	if res.Outcome != refundry.OutcomeCorrected {
		t.Fatalf("late failure: outcome %q, want corrected", res.Outcome)
	}
	s.lateRef = res.Refund

	// Disputes, recorded by hand as for a payment whose gateway sends no
	// events: one open, one lost.
	s.disputed = env.Sale(testenv.SaleSpec{Reference: "ORDER-DISPUTED-1", Email: "disputed@example.com", Units: []int64{5000}})
	if s.open, err = env.Engine.RecordDispute(ctx, env.A.ID, refundry.DisputeReport{TransactionID: s.disputed.Transactions[0].ID,
		Amount: 5000, Currency: "USD", Status: refundry.DisputeNeedsResponse, Reason: "fraudulent"}); err != nil {
		t.Fatal(err)
	}
	s.lost = env.Sale(testenv.SaleSpec{Reference: "ORDER-LOST-1", Email: "lost@example.com", Units: []int64{1000}})
	if s.lostDisp, err = env.Engine.RecordDispute(ctx, env.A.ID, refundry.DisputeReport{TransactionID: s.lost.Transactions[0].ID,
		Amount: 400, Currency: "USD", Status: refundry.DisputeLost, Reason: "product_not_received"}); err != nil {
		t.Fatal(err)
	}
	if s.lostDisp.Status != refundry.DisputeLost {
		t.Fatalf("dispute %s, want lost", s.lostDisp.Status)
	}

	// Reconciliation runs: one with a mismatch of each kind, stored as a
	// run of the sweep stores it, and one clean.
	s.run = &refundry.ReconciliationRun{ID: refundry.NewID(), MerchantID: env.A.ID, Trigger: "sweep", Since: clock.Add(-72 * time.Hour),
		Started: clock, Finished: clock.Add(3 * time.Second), Charges: 4, Matched: 2, Adopted: 1, Corrected: 1, Mismatched: 4,
		Mismatches: []refundry.Mismatch{
			{Kind: refundry.MismatchMissingAtGateway, SaleID: s.late.ID, TransactionID: s.late.Transactions[0].ID, RefundID: s.lateRef.ID,
				GatewayRefundID: s.lateRef.GatewayRefundID, Detail: "The gateway lists no refund " + s.lateRef.GatewayRefundID + " for this payment."},
			{Kind: refundry.MismatchAmount, SaleID: s.over.ID, TransactionID: s.over.Transactions[0].ID, RefundID: s.adopted.ID,
				GatewayRefundID: "re_made_in_the_gateway_dashboard_1", Detail: "The ledger has 6.00 USD, the gateway 6.50 USD."},
			{Kind: refundry.MismatchStatus, SaleID: s.over.ID, TransactionID: s.over.Transactions[0].ID, RefundID: s.adopted.ID, Detail: "succeeded to pending"},
			{Kind: refundry.MismatchUnreachable, SaleID: s.disputed.ID, TransactionID: s.disputed.Transactions[0].ID, Detail: "simulator: timeout"},
		}}
	s.clean = &refundry.ReconciliationRun{ID: refundry.NewID(), MerchantID: env.A.ID, Trigger: "command", Since: clock.Add(-24 * time.Hour),
		Started: clock.Add(time.Minute), Finished: clock.Add(time.Minute + time.Second), Charges: 3, Matched: 3}
	for _, run := range []*refundry.ReconciliationRun{s.run, s.clean} {
		if err := env.Engine.Stores.Reconcile.SaveReconciliationRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}

	// And a run of the engine's own, over the simulator: a refund failed
	// late and one made at the gateway that no event announced, besides
	// what the reports above left for it to find.
	simClock := time.Now()
	env.Sim.Now = func() time.Time { return simClock }
	silent := env.Sale(testenv.SaleSpec{Reference: "ORDER-SILENT-1", Email: "silent@example.com", Units: []int64{3000},
		PayRefs: []string{"sim_late_fail_silent_dash_1"}})
	if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: silent.ID},
		Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	env.Sale(testenv.SaleSpec{Reference: "ORDER-SILENT-2", Email: "silent@example.com", Units: []int64{3000},
		PayRefs: []string{"sim_gateway_refund_silent_300_dash_2"}})
	simClock = simClock.Add(time.Minute)
	clock = clock.Add(time.Hour)
	runs, err := env.Engine.Reconcile(ctx, env.A.ID, clock.Add(-72*time.Hour), "command")
	if err != nil || len(runs) != 1 {
		t.Fatalf("reconcile: %d runs, %v", len(runs), err)
	}
	s.real = runs[0]
	if s.real.Adopted < 1 || s.real.Corrected < 1 || s.real.Mismatched < 1 {
		t.Fatalf("the engine's run adopted %d, corrected %d, mismatched %d; want each at least 1", s.real.Adopted, s.real.Corrected, s.real.Mismatched)
	}
	return s
}

// TestGatewayTruthPages reads what a person sees of the gateway's word:
// the sale pages of each situation, the disputes list and its filter,
// the reconciliation runs and a run's mismatches, and the overview's
// counts; another merchant sees none of it.
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

func TestGatewayTruthPages(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	s := seedTruth(t, env)
	b := h.browser(t)
	b.signIn(env.KeyA)

	t.Run("OverRefunded", func(t *testing.T) {
		_, body := b.get("/dashboard/sales/" + s.over.ID)
		mustContain(t, body, `id="over-refunded"`, "Over-refunded by <strong>3.00 USD</strong>", "13.00 USD", // refunded
			`id="refund-`+s.adopted.ID+`"`, "made at the gateway", "adopted from the gateway's report", "re_made_in_the_gateway_dashboard_1", "via native")
	})
	t.Run("LateFailure", func(t *testing.T) {
		_, body := b.get("/dashboard/sales/" + s.late.ID)
		mustContain(t, body, `id="late-`+s.lateRef.ID+`"`,
			"succeeded at "+s.succeeded.Format("2006-01-02 15:04 UTC"), "failed at "+s.failed.Format("2006-01-02 15:04 UTC"),
			"expired or canceled card", "refundable again")
		if strings.Contains(body, `id="over-refunded"`) || strings.Contains(body, "made at the gateway") {
			t.Error("the late failure's sale is flagged as over-refunded or made at the gateway")
		}
		// Its amount is refundable again: the whole sale remains.
		mustContain(t, body, `<span class="big" id="sale-remaining">25.00 USD</span>`)
	})
	t.Run("OpenDispute", func(t *testing.T) {
		_, body := b.get("/dashboard/sales/" + s.disputed.ID)
		mustContain(t, body, `id="disputed"`, `id="dispute-`+s.open.ID+`"`, "50.00 USD", "needs response", "Reason: fraudulent",
			`href="#dispute-`+s.open.ID+`" class="status status-needs_response"`, "refunds of this payment are refused",
			"(50.00 USD remains), disputed: refunds refused</option>")
	})
	t.Run("OpenDisputeRefusesRefund", func(t *testing.T) {
		_, body := b.get("/dashboard/sales/" + s.disputed.ID)
		status, body := b.post("/dashboard/sales/"+s.disputed.ID+"/refund/review", url.Values{"csrf": {find(t, csrfPattern, body)},
			"target": {"sale:" + s.disputed.ID}, "amount": {"1.00"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("refund of a disputed payment: %d, want 422", status)
		}
		mustContain(t, body, "Refund refused")
	})
	t.Run("LostDispute", func(t *testing.T) {
		_, body := b.get("/dashboard/sales/" + s.lost.ID)
		mustContain(t, body, `id="dispute-`+s.lostDisp.ID+`"`, "Lost: the card network returned <strong>4.00 USD</strong> to the customer",
			`<span class="big" id="sale-remaining">6.00 USD</span>`)
		if strings.Contains(body, `id="disputed"`) {
			t.Error("a lost dispute is shown as open")
		}
	})
	t.Run("Disputes", func(t *testing.T) {
		_, body := b.get("/dashboard/disputes")
		mustContain(t, body, "<h1>Disputes</h1>", "ORDER-DISPUTED-1", "ORDER-LOST-1", "needs response", "lost", "4.00 USD",
			`href="/dashboard/disputes/`+s.open.ID+`"`, `aria-current="page">Disputes`)
		_, body = b.get("/dashboard/disputes?status=lost")
		mustContain(t, body, "ORDER-LOST-1")
		if strings.Contains(body, "ORDER-DISPUTED-1") {
			t.Error("the lost filter lists an open dispute")
		}
		if status, _ := b.get("/dashboard/disputes?status=bogus"); status != http.StatusBadRequest {
			t.Errorf("unknown status: %d, want 400", status)
		}
		if status, _ := b.get("/dashboard/disputes?after=../x"); status != http.StatusBadRequest {
			t.Errorf("malformed cursor: %d, want 400", status)
		}
		c := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(h.srv.URL + "/dashboard/disputes/" + s.open.ID)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := "/dashboard/sales/" + s.disputed.ID + "#dispute-" + s.open.ID; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("dispute link: %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})
	t.Run("Runs", func(t *testing.T) {
		_, body := b.get("/dashboard/reconciliation")
		mustContain(t, body, "<h1>Reconciliation</h1>", `id="run-`+s.run.ID+`"`, `id="run-`+s.clean.ID+`"`, "sweep", "command",
			`href="/dashboard/reconciliation/`+s.run.ID+`#mismatches">4</a>`)
		_, body = b.get("/dashboard/reconciliation/" + s.run.ID)
		mustContain(t, body, `<span class="big" id="run-charges">4</span>`, `<span class="big" id="run-adopted">1</span>`,
			`<span class="big" id="run-mismatched">4</span>`, "missing at gateway", "amount differs", "status differs", "gateway unreachable",
			`href="/dashboard/sales/`+s.late.ID+`"`, `href="/dashboard/refunds/`+s.lateRef.ID+`"`, "The ledger has 6.00 USD, the gateway 6.50 USD.",
			"re_made_in_the_gateway_dashboard_1", "The next run asks again")
		// The engine's own run, as it stored it.
		r := s.real
		_, body = b.get("/dashboard/reconciliation/" + r.ID)
		wants := []string{fmt.Sprintf(`id="run-charges">%d<`, r.Charges), fmt.Sprintf(`id="run-matched">%d<`, r.Matched),
			fmt.Sprintf(`id="run-adopted">%d<`, r.Adopted), fmt.Sprintf(`id="run-corrected">%d<`, r.Corrected),
			fmt.Sprintf(`id="run-mismatched">%d<`, r.Mismatched)}
		for i, m := range r.Mismatches {
			wants = append(wants, fmt.Sprintf(`id="mismatch-%d"`, i), html.EscapeString(m.Detail), words(m.Kind))
			if m.SaleID != "" {
				wants = append(wants, `href="/dashboard/sales/`+m.SaleID+`"`)
			}
			if m.RefundID != "" {
				wants = append(wants, `href="/dashboard/refunds/`+m.RefundID+`"`)
			}
		}
		mustContain(t, body, wants...)
		_, body = b.get("/dashboard/reconciliation/" + s.clean.ID)
		mustContain(t, body, "no mismatches", "the ledger and the gateways agree")
		for _, path := range []string{"/dashboard/reconciliation/" + refundry.NewID(), "/dashboard/reconciliation/not-an-id"} {
			if status, _ := b.get(path); status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", path, status)
			}
		}
		if status, _ := b.get("/dashboard/reconciliation?before=%00"); status != http.StatusBadRequest {
			t.Errorf("malformed cursor: %d, want 400", status)
		}
	})
	t.Run("SalesList", func(t *testing.T) {
		_, body := b.get("/dashboard/sales?q=ORDER-OVER")
		mustContain(t, body, `status-over_refunded">over-refunded</span>`)
		_, body = b.get("/dashboard/sales?q=ORDER-LATE")
		if strings.Contains(body, "over-refunded") {
			t.Error("a sale within what was paid is listed as over-refunded")
		}
	})
	t.Run("Overview", func(t *testing.T) {
		_, body := b.get("/dashboard/")
		mustContain(t, body, `<span class="big" id="over-refunded-count">1</span> over-refunded sale`,
			`<span class="big" id="open-disputes-count">1</span> <a href="/dashboard/disputes">open dispute</a>`,
			`id="over-refunded-sales"`, "ORDER-OVER-REFUNDED-2026-000000001")
	})
	// Invariant 5: merchant B sees none of A's disputes, runs or flags.
	t.Run("Tenancy", func(t *testing.T) {
		other := h.browser(t)
		other.signIn(env.KeyB)
		for _, path := range []string{"/dashboard/reconciliation/" + s.run.ID, "/dashboard/disputes/" + s.open.ID, "/dashboard/sales/" + s.over.ID} {
			if status, _ := other.get(path); status != http.StatusNotFound {
				t.Errorf("merchant B opens A's %s: %d, want 404", path, status)
			}
		}
		_, body := other.get("/dashboard/disputes")
		mustContain(t, body, "No disputes match.")
		_, body = other.get("/dashboard/reconciliation")
		mustContain(t, body, "No reconciliation runs yet.")
		_, body = other.get("/dashboard/")
		mustContain(t, body, `id="over-refunded-count">0<`, `id="open-disputes-count">0<`)
	})
}

// TestBrowserGatewayTruth opens the pages of gateway truth in headless
// Chromium, as support staff would: from the overview's counts through
// the navigation to the disputes and reconciliation pages and the sale
// pages they link to; then every one of them again in a 390 px window,
// where none may scroll sideways.
func TestBrowserGatewayTruth(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	s := seedTruth(t, env)
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), env.KeyA),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#over-refunded-count")),
	)
	if got := text(t, ctx, "#over-refunded-count"); got != "1" {
		t.Errorf("overview counts %q over-refunded sales, want 1", got)
	}
	if got := text(t, ctx, "#open-disputes-count"); got != "1" {
		t.Errorf("overview counts %q open disputes, want 1", got)
	}
	screenshot(t, ctx, "truth-overview.png")

	step(t, ctx, "open the over-refunded sale from the overview",
		chromedp.Click(chromedp.CSS("#over-refunded-sales a")),
		chromedp.WaitVisible(chromedp.CSS("#over-refunded")),
	)
	if got := text(t, ctx, "#over-refunded"); !strings.Contains(got, "Over-refunded by 3.00 USD") {
		t.Errorf("over-refund flag says %q", got)
	}
	if got := text(t, ctx, "#refund-"+s.adopted.ID+" .made-at-gateway"); got != "made at the gateway" {
		t.Errorf("adopted refund labelled %q", got)
	}
	screenshot(t, ctx, "truth-over-refunded.png")

	step(t, ctx, "disputes from the navigation, filtered to lost ones",
		chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/disputes"]`)),
		chromedp.WaitVisible(chromedp.CSS("#disputes")),
		chromedp.SetValue(chromedp.CSS("#dispute-status"), refundry.DisputeLost),
		chromedp.Submit(chromedp.CSS("#dispute-status")),
		chromedp.WaitVisible(chromedp.CSS("#dispute-"+s.lostDisp.ID)),
	)
	if got := text(t, ctx, "#disputes tbody"); strings.Contains(got, "ORDER-DISPUTED-1") || !strings.Contains(got, "ORDER-LOST-1") {
		t.Errorf("lost disputes list %q", got)
	}
	step(t, ctx, "open the lost dispute on its sale",
		chromedp.Click(chromedp.CSS("#dispute-"+s.lostDisp.ID+" a")),
		chromedp.WaitVisible(chromedp.CSS("#disputes")),
	)
	if got := text(t, ctx, "#dispute-"+s.lostDisp.ID+" .dispute-outcome"); !strings.Contains(got, "returned 4.00 USD to the customer") {
		t.Errorf("lost dispute says %q", got)
	}

	step(t, ctx, "the late failure",
		chromedp.Navigate(base+"/sales/"+s.late.ID),
		chromedp.WaitVisible(chromedp.CSS("#late-"+s.lateRef.ID)),
	)
	if got := text(t, ctx, "#late-"+s.lateRef.ID); !strings.Contains(got, "succeeded at "+s.succeeded.Format("2006-01-02 15:04 UTC")) ||
		!strings.Contains(got, "failed at "+s.failed.Format("2006-01-02 15:04 UTC")) || !strings.Contains(got, "expired or canceled card") {
		t.Errorf("late failure says %q", got)
	}
	screenshot(t, ctx, "truth-late-failure.png")

	step(t, ctx, "a reconciliation run from the navigation, and its mismatch's sale",
		chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/reconciliation"]`)),
		chromedp.WaitVisible(chromedp.CSS("#runs")),
		chromedp.Click(chromedp.CSS("#run-"+s.run.ID+" td a")),
		chromedp.WaitVisible(chromedp.CSS("#mismatches")),
	)
	if got := text(t, ctx, "#run-mismatched"); got != "4" {
		t.Errorf("run shows %q mismatches, want 4", got)
	}
	screenshot(t, ctx, "truth-run.png")
	step(t, ctx, "follow a mismatch to its refund",
		chromedp.Click(chromedp.CSS("#mismatch-0 .mismatch-refund")),
		chromedp.WaitVisible(chromedp.CSS("#refund-"+s.lateRef.ID)),
	)

	step(t, ctx, "a phone's width", chromedp.EmulateViewport(phoneWidth, 844))
	for _, page := range []string{"/", "/disputes", "/disputes?status=bogus", "/reconciliation", "/reconciliation/" + s.run.ID,
		"/reconciliation/" + s.clean.ID, "/sales/" + s.over.ID, "/sales/" + s.late.ID, "/sales/" + s.disputed.ID, "/sales/" + s.lost.ID,
		"/refunds?source=gateway"} {
		step(t, ctx, "open "+page, chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS("footer")))
		checkNoSideways(t, ctx, page)
	}
	screenshot(t, ctx, "truth-phone-refunds.png")
	step(t, ctx, "a disputed sale on a phone", chromedp.Navigate(base+"/sales/"+s.disputed.ID), chromedp.WaitVisible(chromedp.CSS("#disputed")))
	screenshot(t, ctx, "truth-phone-disputed.png")
}

// TestTruthListsPage pages through more disputes and reconciliation runs
// than one page holds, older and back to newer, seeing each exactly once.
func TestTruthListsPage(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	ctx := context.Background()
	const n = listSize + 5
	for i := 0; i < n; i++ {
		sale := env.Sale(testenv.SaleSpec{Reference: fmt.Sprintf("PAGE-%02d", i), Units: []int64{1000}})
		if _, err := env.Engine.RecordDispute(ctx, env.A.ID, refundry.DisputeReport{TransactionID: sale.Transactions[0].ID,
			Amount: 1000, Currency: "USD", Status: refundry.DisputeUnderReview, Reason: "fraudulent"}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Add(time.Duration(i) * time.Minute)
		if err := env.Engine.Stores.Reconcile.SaveReconciliationRun(ctx, &refundry.ReconciliationRun{ID: refundry.NewID(), MerchantID: env.A.ID,
			Trigger: "sweep", Since: now.Add(-72 * time.Hour), Started: now, Finished: now, Mismatches: []refundry.Mismatch{}}); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser(t)
	b.signIn(env.KeyA)
	for _, c := range []struct{ path, row string }{{"/dashboard/disputes?status=under_review", `<tr id="dispute-`}, {"/dashboard/reconciliation", `<tr id="run-`}} {
		t.Run(c.path, func(t *testing.T) {
			_, first := b.get(c.path)
			if got := strings.Count(first, c.row); got != listSize {
				t.Fatalf("first page has %d rows, want %d", got, listSize)
			}
			older := html.UnescapeString(find(t, regexpOlder, first))
			if strings.Contains(c.path, "status=") && !strings.Contains(older, "status=under_review") {
				t.Errorf("the older link %q drops the status filter", older)
			}
			_, second := b.get(older)
			if got := strings.Count(second, c.row); got != n-listSize {
				t.Fatalf("second page has %d rows, want %d", got, n-listSize)
			}
			if regexpOlder.MatchString(second) {
				t.Error("the last page links to an older one")
			}
			for _, line := range strings.Split(second, "\n") {
				if strings.Contains(line, c.row) && strings.Contains(first, strings.TrimSpace(line)) {
					t.Errorf("a row on both pages: %s", strings.TrimSpace(line))
				}
			}
			_, back := b.get(html.UnescapeString(find(t, regexpNewer, second)))
			if got := strings.Count(back, c.row); got != listSize {
				t.Errorf("back to newer: %d rows, want %d", got, listSize)
			}
		})
	}
}
