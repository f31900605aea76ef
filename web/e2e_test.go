package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
)

// chromiumPath is where Debian's chromium package puts the browser (CI's
// .ci/run installs it with apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// browserContext starts a headless Chromium with a fresh profile and no
// network of its own beyond the test server. Without Chromium the test is
// skipped, except in CI, where a missing browser is a failure.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but Chromium is missing at %s: %v", chromiumPath, err)
		}
		t.Skipf("Chromium not installed at %s (apt-get install chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	return ctx
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowser drives the dashboard in headless Chromium as support staff
// would: sign in, find a sale, refund part of a line item through the
// confirmation step, see the new status, be refused an over-refund, and
// sign out. Screenshots of the overview and the sale page are saved as
// test artifacts (go test -artifacts keeps them under -outputdir).
func TestBrowser(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	sale := env.Sale(testenvSaleSpec{Reference: "B00K2EOONI", Email: "customer@example.com", Units: []int64{2500, 500}})
	jpy := env.Sale(testenvSaleSpec{Reference: "JP-1001", Currency: "JPY", Email: "hanako@example.com", Units: []int64{4500, 500}})
	env.Sale(testenvSaleSpec{Reference: "KW-2001", Currency: "KWD", Email: "layla@example.com", Units: []int64{12345}, Gateway: refundry.GatewayOffsite})
	amount := int64(500)
	if _, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.A.ID,
		Target: refundry.RefundTarget{LineItemID: jpy.LineItems[1].ID}, Amount: &amount, Reason: "damaged", Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	line := sale.LineItems[0]
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), env.KeyA),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#refund-count")),
	)
	if got := text(t, ctx, "#refund-count"); got != "1" {
		t.Errorf("overview counts %q refunds, want 1", got)
	}
	screenshot(t, ctx, "overview.png")

	step(t, ctx, "search",
		chromedp.SendKeys(chromedp.CSS("#q"), "B00K2EOONI"),
		chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS("#sale-status")),
	)
	if got := text(t, ctx, "h1"); got != "Order B00K2EOONI" {
		t.Fatalf("search opened %q", got)
	}

	step(t, ctx, "review a partial refund of a line item",
		chromedp.SetValue(chromedp.CSS("#target"), "line:"+line.ID),
		chromedp.SendKeys(chromedp.CSS("#amount"), "5.00"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	)
	if got := text(t, ctx, "#confirm-text"); !strings.Contains(got, "Refund 5.00 USD for line item “item 1” of order B00K2EOONI") {
		t.Errorf("confirmation says %q", got)
	}
	step(t, ctx, "confirm",
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if got := text(t, ctx, "#notice"); !strings.Contains(got, "of 5.00 USD: succeeded.") {
		t.Errorf("notice %q", got)
	}
	if got := text(t, ctx, "#sale-status"); got != "partially refunded" {
		t.Errorf("sale status %q, want partially refunded", got)
	}
	if got := text(t, ctx, "#line-"+line.ID+" .remaining"); got != "20.00 USD" {
		t.Errorf("line item remains %q, want 20.00 USD", got)
	}
	screenshot(t, ctx, "sale.png")

	step(t, ctx, "review an over-refund",
		chromedp.SetValue(chromedp.CSS("#target"), "line:"+line.ID),
		chromedp.SendKeys(chromedp.CSS("#amount"), "20.01"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#refund-error")),
	)
	if got := text(t, ctx, "#refund-error"); !strings.Contains(got, "Refund refused") || !strings.Contains(got, "(20.00 USD)") {
		t.Errorf("refusal says %q", got)
	}
	if got := env.Reload(sale); got.RefundedAmount != 500 {
		t.Errorf("sale refunded %d, want 500", got.RefundedAmount)
	}

	step(t, ctx, "sign out",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.Navigate(base+"/sales/"+sale.ID),
		chromedp.WaitVisible(chromedp.CSS("#key")),
	)
}

// phoneWidth is a small phone's viewport width in CSS pixels.
const phoneWidth = 390

// overflowJS reports how wide the page is against the window, and the
// elements that reach past the window's right edge, innermost first: the
// ones to fix when a page scrolls sideways.
const overflowJS = `(() => {
  const w = window.innerWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 0.5 && ![...el.children].some(c => c.getBoundingClientRect().right > w + 0.5)) {
      let inScroller = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') { inScroller = true; break; }
      }
      if (!inScroller) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal === undefined ? '.' + el.className : '') + ' right=' + Math.round(r.right));
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: w, culprits: out.slice(0, 8)};
})()`

type overflow struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Culprits    []string `json:"culprits"`
}

// checkNoSideways fails the test if the page now shown scrolls sideways.
func checkNoSideways(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[overflow](overflowJS))
	if err != nil {
		t.Fatalf("%s: measuring: %v", page, err)
	}
	if got.InnerWidth != phoneWidth {
		t.Fatalf("%s: window is %d px wide, want %d", page, got.InnerWidth, phoneWidth)
	}
	if got.ScrollWidth > got.InnerWidth {
		t.Errorf("%s is %d px wide at %d px: scrolls sideways; reaching past the edge: %v", page, got.ScrollWidth, got.InnerWidth, got.Culprits)
		screenshot(t, ctx, "narrow-"+strings.NewReplacer("/", "-", " ", "-").Replace(page)+".png")
	}
}

// chartTextJS lists the chart labels drawn outside their SVG's viewBox,
// which the browser clips.
const chartTextJS = `(() => {
  const out = [];
  for (const t of document.querySelectorAll('svg text')) {
    const b = t.getBBox(), vb = t.ownerSVGElement.viewBox.baseVal;
    if (b.x < vb.x - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 || b.y < vb.y - 0.5 || b.y + b.height > vb.y + vb.height + 0.5) {
      out.push(t.textContent + ' x=' + Math.round(b.x) + ' width=' + Math.round(b.width));
    }
  }
  return out;
})()`

// TestBrowserPhone opens every page of the dashboard in a 390 px wide
// window, with long names, emails, order numbers and amounts: none may
// scroll sideways (tables scroll inside their own box), and no chart label
// may be clipped.
func TestBrowserPhone(t *testing.T) {
	ctx := browserContext(t)
	h := newHarness(t, Options{})
	env := h.env
	bg := context.Background()
	long := env.Sale(testenvSaleSpec{Reference: "ORDER-2026-000000001003", Email: "anastasia.konstantinopoulou-papadimitriou@example-customers.com",
		FirstName: "Anastasia", LastName: "Konstantinopoulou-Papadimitriou", Units: []int64{27851, 99999, 1234567}, PayRefs: []string{"sim_pending_phone"}})
	env.Sale(testenvSaleSpec{Email: "ab3@example.com"})
	kwd := env.Sale(testenvSaleSpec{Reference: "KW-2001", Currency: "KWD", Email: "layla@example.com", Units: []int64{12345678}})
	amount := int64(27851) // 278.51 USD: a y-axis label of ten characters
	res, err := env.Engine.Refund(bg, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{LineItemID: long.LineItems[0].ID},
		Amount: &amount, Reason: "requested_by_customer", Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	pending := res.Refunds[0]
	if _, err := env.Engine.Refund(bg, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: kwd.ID}, Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	base := h.srv.URL + "/dashboard"

	step(t, ctx, "open the sign-in page on a phone",
		chromedp.EmulateViewport(phoneWidth, 844),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
	)
	checkNoSideways(t, ctx, "signin")
	step(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.CSS("#key"), env.KeyA),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#refund-count")),
	)
	checkNoSideways(t, ctx, "overview")
	screenshot(t, ctx, "phone-overview.png")
	clipped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](chartTextJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(clipped) > 0 {
		t.Errorf("chart labels outside their chart, clipped: %q", clipped)
		screenshot(t, ctx, "clipped-labels.png")
	}

	for _, page := range []string{"/sales", "/sales?from=soon", "/refunds", "/search?q=a", "/search?q=nobody", "/sales/" + long.ID,
		"/sales/" + kwd.ID, "/refunds/" + pending.ID + "/cancel", "/no-such-page"} {
		step(t, ctx, "open "+page, chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS("footer")))
		checkNoSideways(t, ctx, page)
	}

	step(t, ctx, "review a refund",
		chromedp.Navigate(base+"/sales/"+long.ID),
		chromedp.WaitVisible(chromedp.CSS("#amount")),
		chromedp.SetValue(chromedp.CSS("#target"), "line:"+long.LineItems[2].ID),
		chromedp.SendKeys(chromedp.CSS("#amount"), "1.00"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	)
	checkNoSideways(t, ctx, "review")
	screenshot(t, ctx, "phone-review.png")
	step(t, ctx, "be refused an over-refund",
		chromedp.Navigate(base+"/sales/"+long.ID),
		chromedp.WaitVisible(chromedp.CSS("#amount")),
		chromedp.SetValue(chromedp.CSS("#target"), "line:"+long.LineItems[1].ID),
		chromedp.SendKeys(chromedp.CSS("#amount"), "100000.00"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#refund-error")),
	)
	checkNoSideways(t, ctx, "sale with a refusal")
	screenshot(t, ctx, "phone-sale.png")

	// A sale of long-named goods with a return in each state, and a
	// refund of its units under review: the widest rows the sale page and
	// the review have.
	goods := phoneReturnSale(t, env)
	step(t, ctx, "open a sale with returns",
		chromedp.Navigate(base+"/sales/"+goods.ID),
		chromedp.WaitVisible(chromedp.CSS("#fee-"+goods.received)),
	)
	checkNoSideways(t, ctx, "sale with returns")
	screenshot(t, ctx, "phone-returns.png")
	step(t, ctx, "review a refund by units",
		chromedp.SendKeys(chromedp.CSS("#qty-"+goods.LineItems[0].ID), "1"),
		chromedp.Click(chromedp.CSS("#review")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	)
	checkNoSideways(t, ctx, "review by units")
	screenshot(t, ctx, "phone-review-units.png")
}

// returnsSale is a sale with a return in each state a sale page lists.
type returnsSale struct {
	*refundry.Sale
	received string // the id of the return awaiting its refund
}

// phoneReturnSale makes a sale of goods with long names and returns of
// them: one requested, one received and one refunded less a restocking
// fee, each with a long description.
func phoneReturnSale(t *testing.T, env *testenv.Env) returnsSale {
	t.Helper()
	ctx := context.Background()
	s := &refundry.Sale{MerchantID: env.A.ID, Currency: "USD", Reference: "ORDER-2026-RETURNS-000000000042",
		Customer: refundry.Customer{Email: "anastasia.konstantinopoulou-papadimitriou@example-customers.com", FirstName: "Anastasia"},
		LineItems: []*refundry.LineItem{
			{Name: "Extra-long organic cotton fitted bedsheet, king size, midnight blue", Quantity: 12, UnitAmount: 1234567, TaxAmount: 98765},
			{Name: "Handmade ceramic espresso cup with saucer (set of two)", Quantity: 3, UnitAmount: 99999},
			{Name: "Express international shipping", Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 4999},
		},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}}}
	if _, err := env.Engine.CreateSale(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	s = env.Reload(s)
	ret := func(line, qty int64) *refundry.Return {
		r := &refundry.Return{MerchantID: env.A.ID, SaleID: s.ID, Reason: "damaged",
			Description: "The parcel arrived crushed on one corner and the customer sent photographs of every item inside it",
			Lines:       []refundry.ReturnLine{{LineItemID: s.LineItems[line].ID, Quantity: qty}}}
		if _, err := env.Engine.CreateReturn(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ret(0, 2)
	received := ret(0, 3)
	refunded := ret(1, 2)
	for _, r := range []*refundry.Return{received, refunded} {
		if _, err := env.Engine.ReceiveReturn(ctx, env.A.ID, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := env.Engine.RefundReturn(ctx, env.A.ID, refunded.ID, 12345); err != nil {
		t.Fatal(err)
	}
	return returnsSale{Sale: s, received: received.ID}
}
