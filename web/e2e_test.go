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
