package web

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
)

func TestViews(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		v, err := loadViews(assets)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range viewNames {
			if v.pages[name] == nil {
				t.Errorf("view %s not loaded", name)
			}
		}
	})
	t.Run("ErrMissingView", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for _, name := range append(viewNames, "layout") {
			b, _ := assets.ReadFile("templates/" + name + ".html")
			fsys["templates/"+name+".html"] = &fstest.MapFile{Data: b}
		}
		fsys["static/style.css"] = &fstest.MapFile{Data: []byte("body{}")}
		delete(fsys, "templates/review.html")
		if _, err := loadViews(fsys); err == nil || !strings.Contains(err.Error(), "review") {
			t.Fatalf("err = %v, want one naming the missing view", err)
		}
	})
	t.Run("ErrNoContent", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for _, name := range append(viewNames, "layout") {
			b, _ := assets.ReadFile("templates/" + name + ".html")
			fsys["templates/"+name+".html"] = &fstest.MapFile{Data: b}
		}
		fsys["static/style.css"] = &fstest.MapFile{Data: []byte("body{}")}
		fsys["templates/sale.html"] = &fstest.MapFile{Data: []byte(`{{define "other"}}{{end}}`)}
		if _, err := loadViews(fsys); err == nil || !strings.Contains(err.Error(), "content") {
			t.Fatalf("err = %v, want content not defined", err)
		}
	})
}

// TestRenderEmpty renders every view with zero data: no page may fail on
// an empty list, an empty merchant or a missing field.
func TestRenderEmpty(t *testing.T) {
	v, err := loadViews(assets)
	if err != nil {
		t.Fatal(err)
	}
	d := &dashboard{views: v, logger: testLogger(t)}
	sale := &refundry.Sale{ID: "d6q0t0h5t8qc73d0bpa0", Currency: "USD"}
	data := map[string]any{
		"signin":   signinData{},
		"overview": &overviewData{CountChart: dayChart("Refunds per day", make([]int64, 30), func(int64) string { return "0" }, func(int) string { return "" }, func(int) string { return "" })},
		"search":   searchData{Query: "nothing"},
		"sales":    salesData{},
		"refunds":  refundsData{},
		"sale":     &saleData{Sale: sale},
		"review":   reviewData{Sale: sale},
		"cancel":   cancelData{Refund: &refundry.Refund{}, Sale: sale},
		"error":    errorData{Status: 404, Message: "No such page."},
		"disputes": disputesData{},
		"runs":     runsData{},
		"run":      runData{Run: &refundry.ReconciliationRun{}},
		"queue":    queueData{},
		"decide":   &decisionData{Refund: &refundry.Refund{}, Sale: sale},
	}
	for _, name := range viewNames {
		for _, signedIn := range []bool{false, true} {
			rec := httptest.NewRecorder()
			p := page{Title: name, Data: data[name]}
			if signedIn {
				p.Merchant, p.CSRF = &refundry.Merchant{Name: "Store A"}, "tok"
			}
			d.render(rec, httptest.NewRequest("GET", "/dashboard/", nil), http.StatusOK, name, p)
			if rec.Code != http.StatusOK {
				t.Errorf("%s (signed in %v): status %d: %s", name, signedIn, rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), "</html>") {
				t.Errorf("%s: incomplete page", name)
			}
		}
	}
}

// TestRenderFull renders every page over real data in three currencies
// and checks each amount is written with its currency's exponent.
func TestRenderFull(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	usd := env.Sale(testSaleSpec("ORDER-USD", "USD", "ann@example.com", 1250, 500))
	jpy := env.Sale(testSaleSpec("ORDER-JPY", "JPY", "hanako@example.com", 500, 4500))
	kwd := env.Sale(testSaleSpec("ORDER-KWD", "KWD", "layla@example.com", 1234))
	ctx := context.Background()
	amount := int64(500)
	if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{LineItemID: jpy.LineItems[0].ID},
		Amount: &amount, Reason: "damaged", Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: kwd.ID},
		Source: refundry.SourceNative}); err != nil {
		t.Fatal(err)
	}

	b := h.browser(t)
	b.signIn(env.KeyA)

	_, body := b.get("/dashboard/")
	mustContain(t, body, "<svg", "Refunds per day", "Amount refunded per day, JPY", "Amount refunded per day, KWD",
		"500 JPY", "1.234 KWD", "Refund rate by gateway", "simulator", "66.6% · 2 of 3")

	_, body = b.get("/dashboard/sales/" + jpy.ID)
	mustContain(t, body, "Order ORDER-JPY", "5000 JPY", "500 JPY", "4500 JPY", "damaged", "refund.created", "refund.succeeded", "partially refunded")
	_, body = b.get("/dashboard/sales/" + kwd.ID)
	mustContain(t, body, "1.234 KWD", "0.000 KWD", "Nothing remains to refund")
	_, body = b.get("/dashboard/sales/" + usd.ID)
	mustContain(t, body, "12.50 USD", "5.00 USD", "17.50 USD", "0.00 USD", "No refunds yet.")

	_, body = b.get("/dashboard/sales")
	mustContain(t, body, "ORDER-USD", "17.50 USD", "5000 JPY", "1.234 KWD")
	_, body = b.get("/dashboard/refunds")
	mustContain(t, body, "500 JPY", "1.234 KWD", "succeeded")

	status, body := b.post("/dashboard/sales/"+kwd.ID+"/refund/review", url.Values{"csrf": {find(t, csrfPattern, body)}, "target": {"sale:" + kwd.ID}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("review of a refunded sale: %d", status)
	}
	mustContain(t, body, "Refund refused: Nothing remains to refund")

	status, body = b.post("/dashboard/sales/"+jpy.ID+"/refund/review", url.Values{"csrf": {find(t, csrfPattern, body)},
		"target": {"line:" + jpy.LineItems[1].ID}, "amount": {"1000"}})
	if status != http.StatusOK {
		t.Fatalf("review: %d\n%s", status, body)
	}
	mustContain(t, body, "Refund <strong>1000 JPY</strong>", `name="amount" value="1000"`)

	status, body = b.get("/dashboard/search?q=nobody%40example.com")
	if status != http.StatusNotFound {
		t.Fatalf("search for nobody: %d", status)
	}
	mustContain(t, body, "No sale or refund matches")
	status, body = b.get("/dashboard/no-such-page")
	if status != http.StatusNotFound {
		t.Fatalf("unknown page: %d", status)
	}
	mustContain(t, body, "There is no such page")
}

func testSaleSpec(ref, currency, email string, units ...int64) testenvSaleSpec {
	return testenvSaleSpec{Reference: ref, Currency: currency, Email: email, Units: units}
}

func TestSearch(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	s1 := env.Sale(testenvSaleSpec{Reference: "B00K", Email: "one@example.com", PayRefs: []string{"pay-uuid-1"}})
	s2 := env.Sale(testenvSaleSpec{Reference: "B00L", Email: "two@example.com"})
	env.Sale(testenvSaleSpec{Reference: "B00M", Email: "two@example.com"})
	other := env.Sale(testenvSaleSpec{Merchant: env.B, Reference: "THEIRS", Email: "one@example.com"})
	amount := int64(100)
	res, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: s1.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	b := h.browser(t)
	b.signIn(env.KeyA)
	for _, q := range []string{s1.ID, "B00K", "one@example.com", "pay-uuid-1", res.Refunds[0].ID, s1.Transactions[0].ID, s1.LineItems[0].ID} {
		status, body := b.get("/dashboard/search?q=" + url.QueryEscape(q))
		if status != http.StatusOK || !strings.Contains(body, "Order B00K") {
			t.Errorf("search %q: %d, not the sale page", q, status)
		}
	}
	_, body := b.get("/dashboard/search?q=two%40example.com")
	mustContain(t, body, "B00L", "B00M", "2 sales match")
	// Invariant 5: another merchant's sale is not found, not refused.
	for _, q := range []string{other.ID, "THEIRS"} {
		if status, _ := b.get("/dashboard/search?q=" + q); status != http.StatusNotFound {
			t.Errorf("search for merchant B's %q: %d, want 404", q, status)
		}
	}
	if status, _ := b.get("/dashboard/sales/" + other.ID); status != http.StatusNotFound {
		t.Errorf("merchant B's sale page: %d, want 404", status)
	}
	_ = s2
}

// TestCSRF posts every form without the session's token, and with a wrong
// one: each is refused with 403 and changes nothing.
func TestCSRF(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := env.Sale(testenvSaleSpec{Reference: "CSRF-1"})
	b := h.browser(t)
	good := b.signIn(env.KeyA)

	// A refund that a valid confirmation would make, and a pending one to
	// cancel.
	_, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {good}, "target": {"sale:" + sale.ID}, "amount": {"1.00"}})
	token := find(t, tokenPattern, body)
	pendingSale := env.Sale(testenvSaleSpec{Reference: "CSRF-2", PayRefs: []string{"sim_pending_csrf"}})
	amount := int64(100)
	res, err := env.Engine.Refund(context.Background(), refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: pendingSale.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	pending := res.Refunds[0]

	forms := []struct {
		name string
		path string
		form url.Values
	}{
		{"Confirm", "/dashboard/sales/" + sale.ID + "/refund", url.Values{"target": {"sale:" + sale.ID}, "amount": {"1.00"}, "token": {token}}},
		{"Review", "/dashboard/sales/" + sale.ID + "/refund/review", url.Values{"target": {"sale:" + sale.ID}, "amount": {"1.00"}}},
		{"Cancel", "/dashboard/refunds/" + pending.ID + "/cancel", url.Values{}},
		{"SignOut", "/dashboard/signout", url.Values{}},
	}
	for _, f := range forms {
		for _, tok := range []string{"", "wrong", good + "x"} {
			form := url.Values{}
			for k, v := range f.form {
				form[k] = v
			}
			if tok != "" {
				form.Set("csrf", tok)
			}
			status, body := b.post(f.path, form)
			if status != http.StatusForbidden || !strings.Contains(body, "nothing was changed") {
				t.Errorf("%s with token %q: status %d, want 403", f.name, tok, status)
			}
		}
	}
	// Nothing changed: no refund on the sale, the pending one still
	// pending, and the session still signed in.
	if got := env.Reload(sale); got.RefundedAmount != 0 {
		t.Errorf("sale refunded %d after forged posts", got.RefundedAmount)
	}
	if r, _ := env.Store.FindRefund(context.Background(), env.A.ID, pending.ID); r.Status != refundry.RefundPending {
		t.Errorf("pending refund is %s after a forged cancel", r.Status)
	}
	if status, body := b.get("/dashboard/"); status != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
		t.Errorf("session ended by a forged sign-out: %d", status)
	}

	// A browser's cross-site post is refused before the token is looked
	// at (http.CrossOriginProtection), even with the right token.
	req, _ := http.NewRequest(http.MethodPost, b.base+"/dashboard/sales/"+sale.ID+"/refund",
		strings.NewReader(url.Values{"csrf": {good}, "target": {"sale:" + sale.ID}, "amount": {"1.00"}, "token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if status, _ := b.do(req); status != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", status)
	}
	if got := env.Reload(sale); got.RefundedAmount != 0 {
		t.Errorf("sale refunded %d after a cross-site post", got.RefundedAmount)
	}

	// The sign-in form has no session yet: its token is a cookie it must
	// echo.
	fresh := h.browser(t)
	fresh.get("/dashboard/signin")
	if status, _ := fresh.post("/dashboard/signin", url.Values{"key": {env.KeyA}, "csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("sign-in with a forged token: %d, want 403", status)
	}
	if status, body := fresh.get("/dashboard/"); status != http.StatusOK || !strings.Contains(body, "<h1>Sign in</h1>") {
		t.Errorf("forged sign-in made a session")
	}
}

func TestSignIn(t *testing.T) {
	t.Run("Cookie", func(t *testing.T) {
		for _, secure := range []bool{false, true} {
			h := newHarness(t, Options{SecureCookies: secure})
			b := h.browser(t)
			_, body := b.get("/dashboard/signin")
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Jar: b.c.Jar}
			resp, err := c.PostForm(h.srv.URL+"/dashboard/signin", url.Values{"csrf": {find(t, csrfPattern, body)}, "key": {h.env.KeyA}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var sc *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == sessionCookie {
					sc = c
				}
			}
			if resp.StatusCode != http.StatusSeeOther || sc == nil {
				t.Fatalf("sign-in: %d, cookie %v", resp.StatusCode, sc)
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Secure != secure || sc.Path != "/dashboard/" {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Secure=%v, Path=/dashboard/", sc, secure)
			}
			if strings.Contains(sc.Value, h.env.KeyA) || strings.Contains(h.env.KeyA, sc.Value) || len(sc.Value) < 40 {
				t.Errorf("cookie value %q is not a random session id", sc.Value)
			}
		}
	})
	t.Run("ErrBadKey", func(t *testing.T) {
		h := newHarness(t, Options{})
		b := h.browser(t)
		_, body := b.get("/dashboard/signin")
		status, body := b.post("/dashboard/signin", url.Values{"csrf": {find(t, csrfPattern, body)}, "key": {h.env.KeyA + "x"}})
		if status != http.StatusUnauthorized {
			t.Fatalf("bad key: %d", status)
		}
		mustContain(t, body, refundry.MsgUnknownAPIKey)
	})
	t.Run("Next", func(t *testing.T) {
		h := newHarness(t, Options{})
		sale := h.env.Sale(testenvSaleSpec{Reference: "NEXT-1"})
		b := h.browser(t)
		_, body := b.get("/dashboard/sales/" + sale.ID) // sent to sign in, and back after
		status, body := b.post("/dashboard/signin", url.Values{"csrf": {find(t, csrfPattern, body)}, "key": {h.env.KeyA},
			"next": {find(t, regexpNext, body)}})
		if status != http.StatusOK || !strings.Contains(body, "Order NEXT-1") {
			t.Fatalf("after sign-in: %d, not the sale page", status)
		}
		if localNext("https://evil.example/") != "/dashboard/" || localNext("//evil.example/") != "/dashboard/" {
			t.Error("localNext lets a foreign destination through")
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		h := newHarness(t, Options{})
		b := h.browser(t)
		tok := b.signIn(h.env.KeyA)
		if status, body := b.post("/dashboard/signout", url.Values{"csrf": {tok}}); status != http.StatusOK || !strings.Contains(body, "<h1>Sign in</h1>") {
			t.Fatalf("sign-out: %d", status)
		}
		if _, body := b.get("/dashboard/"); !strings.Contains(body, "<h1>Sign in</h1>") {
			t.Fatal("still signed in after sign-out")
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		h := newHarness(t, Options{SessionIdle: time.Minute, SessionMax: time.Hour})
		now := time.Now()
		h.env.Engine.Now = func() time.Time { return now }
		b := h.browser(t)
		b.signIn(h.env.KeyA)
		for i := 0; i < 3; i++ { // used within the idle time, it lives on
			now = now.Add(50 * time.Second)
			if _, body := b.get("/dashboard/sales"); !strings.Contains(body, "<h1>Sales</h1>") {
				t.Fatal("session ended while in use")
			}
		}
		now = now.Add(2 * time.Minute)
		if _, body := b.get("/dashboard/sales"); !strings.Contains(body, "<h1>Sign in</h1>") {
			t.Fatal("idle session still alive")
		}
	})
}

// TestRefund goes through the refund form over HTTP: review, confirm,
// a confirmation sent twice, and the over-refund guard's refusal.
func TestRefund(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := env.Sale(testenvSaleSpec{Reference: "REF-1", Currency: "KWD", Units: []int64{1234, 5000}})
	li := sale.LineItems[0]
	b := h.browser(t)
	tok := b.signIn(env.KeyA)

	for _, bad := range []struct{ amount, want string }{
		{"1.2345", "more than 3 decimals"}, {"-1", "must not be negative"}, {"0", "above zero"},
		{"1.235", "Refund refused: Refund amount (1.235 KWD) is greater than the amount that remains refundable (1.234 KWD)."},
		{"1e400", "is too large"}, {"abc", "not a decimal number"},
	} {
		status, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"line:" + li.ID}, "amount": {bad.amount}})
		if status != http.StatusUnprocessableEntity {
			t.Errorf("amount %q: %d, want 422", bad.amount, status)
		}
		mustContain(t, body, bad.want)
	}
	if status, _ := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"line:" + env.Sale(testenvSaleSpec{}).LineItems[0].ID}}); status != http.StatusUnprocessableEntity {
		t.Errorf("another sale's line item: %d, want 422", status)
	}

	_, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"line:" + li.ID}, "amount": {"1"},
		"reason": {"damaged"}, "notify": {"1"}})
	mustContain(t, body, "Refund <strong>1.000 KWD</strong>")
	confirm := url.Values{"csrf": {tok}, "token": {find(t, tokenPattern, body)}, "target": {"line:" + li.ID}, "amount": {find(t, amountField, body)},
		"reason": {"damaged"}, "notify": {"1"}}
	status, body := b.post("/dashboard/sales/"+sale.ID+"/refund", confirm)
	if status != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", status, body)
	}
	mustContain(t, body, `id="notice"`, "of 1.000 KWD: succeeded.", "0.234 KWD", "partially refunded")
	// The same confirmation again (a double click, a resent form) refunds once.
	b.post("/dashboard/sales/"+sale.ID+"/refund", confirm)
	refunds, _, err := env.Store.ListRefunds(context.Background(), env.A.ID, refundry.RefundFilter{SaleID: sale.ID})
	if err != nil || len(refunds) != 1 {
		t.Fatalf("refunds after a double confirmation: %d, %v", len(refunds), err)
	}
	r := refunds[0]
	if r.Source != refundry.SourceDashboard || r.Amount != 1000 || r.Reason != "damaged" || !r.NotifyCustomer || r.LineItemID != li.ID {
		t.Errorf("refund %+v", r)
	}

	// A confirmation for more than remains is the store's guard to refuse
	// (invariant 2), even if the review page was skipped.
	confirm.Set("token", "another-token")
	confirm.Set("amount", "0.235")
	status, body = b.post("/dashboard/sales/"+sale.ID+"/refund", confirm)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("over-refund confirm: %d", status)
	}
	mustContain(t, body, "Refund refused:", "0.234 KWD")
	if got := env.Reload(sale); got.RefundedAmount != 1000 {
		t.Errorf("sale refunded %d, want 1000", got.RefundedAmount)
	}

	// Whole sale, full: the review states the amount, the refund is exact.
	_, body = b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"sale:" + sale.ID}, "offsite": {"1"}})
	mustContain(t, body, "Refund <strong>5.234 KWD</strong>", "(all that remains)", "offsite")
	status, body = b.post("/dashboard/sales/"+sale.ID+"/refund", url.Values{"csrf": {tok}, "token": {find(t, tokenPattern, body)},
		"target": {"sale:" + sale.ID}, "amount": {find(t, amountField, body)}, "offsite": {"1"}})
	if status != http.StatusOK {
		t.Fatalf("full refund: %d", status)
	}
	mustContain(t, body, "Nothing remains to refund on this sale.", `id="sale-status" class="status status-refunded"`)
	if got := env.Reload(sale); got.RefundedAmount != got.Amount {
		t.Errorf("sale refunded %d of %d", got.RefundedAmount, got.Amount)
	}
}

// TestCancel: a pending refund is canceled in two steps, a page that
// names it and a button on that page, both without JavaScript; opening
// the page changes nothing.
func TestCancel(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := env.Sale(testenvSaleSpec{Reference: "PEND-1", PayRefs: []string{"sim_pending_cancel"}})
	b := h.browser(t)
	tok := b.signIn(env.KeyA)
	_, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"sale:" + sale.ID}, "amount": {"2.50"}})
	_, body = b.post("/dashboard/sales/"+sale.ID+"/refund", url.Values{"csrf": {tok}, "token": {find(t, tokenPattern, body)},
		"target": {"sale:" + sale.ID}, "amount": {"2.50"}})
	refunds, _, _ := env.Store.ListRefunds(context.Background(), env.A.ID, refundry.RefundFilter{SaleID: sale.ID})
	cancelPath := "/dashboard/refunds/" + refunds[0].ID + "/cancel"
	mustContain(t, body, "of 2.50 USD: pending.", `<a class="button" id="cancel-`+refunds[0].ID+`" href="`+cancelPath+`">Cancel this refund…</a>`)
	if strings.Contains(body, `method="post" action="`+cancelPath+`"`) {
		t.Error("the sale page cancels in one click")
	}

	status, body := b.get(cancelPath)
	if status != http.StatusOK {
		t.Fatalf("cancel page: %d", status)
	}
	mustContain(t, body, "Cancel the pending refund of <strong>2.50 USD</strong> on order PEND-1?",
		`<form method="post" action="`+cancelPath+`"`, `id="confirm-cancel"`, "Keep it")
	if r, _ := env.Store.FindRefund(context.Background(), env.A.ID, refunds[0].ID); r.Status != refundry.RefundPending {
		t.Fatalf("opening the cancel page made the refund %s", r.Status)
	}
	_, body = b.post(cancelPath, url.Values{"csrf": {find(t, csrfPattern, body)}})
	mustContain(t, body, "of 2.50 USD: canceled.", "refund.canceled")
	status, _ = b.post(cancelPath, url.Values{"csrf": {tok}})
	if status != http.StatusOK {
		t.Errorf("canceling twice: %d", status)
	}
	status, body = b.get(cancelPath)
	if status != http.StatusConflict {
		t.Errorf("cancel page of a canceled refund: %d, want 409", status)
	}
	mustContain(t, body, "This refund is canceled: only a pending refund, or one awaiting approval, can be canceled.")
	if status, _ := b.get("/dashboard/refunds/not-an-id/cancel"); status != http.StatusNotFound {
		t.Errorf("cancel page of no refund: %d, want 404", status)
	}
	_, body = b.get("/dashboard/")
	mustContain(t, body, "None: every refund has its gateway")
}

func TestLists(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	var sales []*refundry.Sale
	for i := range 30 {
		spec := testenvSaleSpec{Reference: "L-" + string(rune('A'+i/10)) + string(rune('0'+i%10))}
		if i%3 == 0 {
			spec.Gateway = refundry.GatewayOffsite
		}
		sales = append(sales, env.Sale(spec))
	}
	ctx := context.Background()
	for _, s := range sales[:4] {
		if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: s.ID}, Source: refundry.SourceNative}); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser(t)
	b.signIn(env.KeyA)

	// Unfiltered: 25, then the 5 oldest, and back.
	_, body := b.get("/dashboard/sales")
	mustContain(t, body, "L-C9", "L-A5", "Older →")
	if strings.Contains(body, "L-A4") || strings.Contains(body, "← Newer") {
		t.Error("first page shows the 26th sale or a Newer link")
	}
	older := strings.ReplaceAll(find(t, regexpOlder, body), "&amp;", "&")
	_, body = b.get(older)
	mustContain(t, body, "L-A4", "L-A0", "← Newer")
	_, body = b.get(strings.ReplaceAll(find(t, regexpNewer, body), "&amp;", "&"))
	mustContain(t, body, "L-C9", "L-A5")

	// Filtered by gateway in the handler: only offsite sales.
	_, body = b.get("/dashboard/sales?gateway=offsite")
	mustContain(t, body, "L-C7", "L-A0")
	if strings.Contains(body, "L-C8") {
		t.Error("gateway filter shows a simulator sale")
	}
	_, body = b.get("/dashboard/sales?status=refunded")
	mustContain(t, body, "L-A0", "L-A3")
	if strings.Contains(body, "L-A4") {
		t.Error("status filter shows a paid sale")
	}
	today := time.Now().UTC().Format(time.DateOnly)
	_, body = b.get("/dashboard/sales?from=" + today + "&to=" + today + "&gateway=simulator")
	mustContain(t, body, "L-C8", "L-A1")
	if strings.Contains(body, "L-C7") || strings.Contains(body, "Older →") {
		t.Error("date and gateway filters show an offsite sale or a needless Older link")
	}
	_, body = b.get("/dashboard/sales?to=2000-01-01")
	mustContain(t, body, "No sales match.")
	status, body := b.get("/dashboard/sales?from=tomorrow")
	if status != http.StatusBadRequest {
		t.Errorf("bad date: %d", status)
	}
	mustContain(t, body, "The start date must be a date")

	_, body = b.get("/dashboard/refunds?gateway=offsite")
	mustContain(t, body, sales[0].ID, sales[3].ID)
	if strings.Contains(body, sales[1].ID) {
		t.Error("refund gateway filter shows a simulator refund")
	}
	_, body = b.get("/dashboard/refunds?source=dashboard")
	mustContain(t, body, "No refunds match.")
	_, body = b.get("/dashboard/refunds?status=succeeded&source=native&from=" + today)
	mustContain(t, body, sales[2].ID)
	if status, _ := b.get("/dashboard/refunds?status=bogus"); status != http.StatusBadRequest {
		t.Errorf("bad status: %d", status)
	}
}

func TestScale(t *testing.T) {
	for _, c := range []struct {
		v, max int64
		px     int
		want   int
	}{
		{0, 10, 100, 0}, {5, 10, 100, 50}, {10, 10, 100, 100}, {11, 10, 100, 100},
		{math.MaxInt64, math.MaxInt64, 170, 170}, {math.MaxInt64 / 2, math.MaxInt64, 170, 84}, {1, math.MaxInt64, 170, 0},
	} {
		if got := scale(c.v, c.max, c.px); got != c.want {
			t.Errorf("scale(%d, %d, %d) = %d, want %d", c.v, c.max, c.px, got, c.want)
		}
	}
	if satAdd(math.MaxInt64-1, 5) != math.MaxInt64 {
		t.Error("satAdd wrapped")
	}
	c := newRateChart([]rateRow{{Gateway: "a", Payments: 3, Refunded: 2}, {Gateway: "b", Payments: 0}})
	if c.Rows[0].Percent != "66.6%" || c.Rows[1].Percent != "0.0%" || c.Rows[0].BarW != 239 {
		t.Errorf("rate rows %+v", c.Rows)
	}
}

// TestSearchAnyCase: the search box and the sales list find a sale by the
// start of its order number, its customer's email or name, in any case;
// never another merchant's (invariant 5).
func TestSearchAnyCase(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	env.Sale(testenvSaleSpec{Reference: "ORDER-1003", Email: "Ann@Example.com", FirstName: "Ann", LastName: "Smith"})
	env.Sale(testenvSaleSpec{Reference: "ORDER-2001", Email: "bob@example.com", FirstName: "Bob", LastName: "Annan"})
	env.Sale(testenvSaleSpec{Merchant: env.B, Reference: "ORDER-1003X", Email: "ann@example.com", FirstName: "Ann", LastName: "Other"})
	b := h.browser(t)
	b.signIn(env.KeyA)
	for _, q := range []string{"Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM", "ann@", "order-1003", "Order-100", "ann sm", "SMITH"} {
		status, body := b.get("/dashboard/search?q=" + url.QueryEscape(q))
		if status != http.StatusOK || !strings.Contains(body, "<h1>Order ORDER-1003</h1>") {
			t.Errorf("search %q: %d, not the sale page", q, status)
		}
	}
	for _, q := range []string{"ann", "order-"} {
		status, body := b.get("/dashboard/search?q=" + url.QueryEscape(q))
		if status != http.StatusOK {
			t.Errorf("search %q: %d", q, status)
		}
		mustContain(t, body, "2 sales match", ">ORDER-1003</a>", ">ORDER-2001</a>")
		if strings.Contains(body, "ORDER-1003X") {
			t.Errorf("search %q shows merchant B's sale", q)
		}
	}
	_, body := b.get("/dashboard/sales?q=ANN")
	mustContain(t, body, ">ORDER-1003</a>", ">ORDER-2001</a>", `name="q" value="ANN"`)
	_, body = b.get("/dashboard/sales?email=ANN%40example.COM")
	mustContain(t, body, ">ORDER-1003</a>")
	if strings.Contains(body, "ORDER-2001") {
		t.Error("the email filter matches another email")
	}
	if status, body := b.get("/dashboard/search?q=nobody"); status != http.StatusNotFound || !strings.Contains(body, "No sale or refund matches") {
		t.Errorf("search for nobody: %d", status)
	}
	for _, path := range []string{"/dashboard/search?q=a%00b", "/dashboard/search?q=%ff", "/dashboard/sales?q=%ff", "/dashboard/sales?email=%00"} {
		if status, body := b.get(path); status != http.StatusBadRequest || !strings.Contains(body, "UTF-8 text without NUL bytes") {
			t.Errorf("%s: %d, want 400 saying why", path, status)
		}
	}
}

// TestReadOnlyKey: a session of a read key sees no refund form, no refund
// links and no cancel button, and is told why; a refund key's session sees
// them all.
func TestReadOnlyKey(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	ctx := context.Background()
	sale := env.Sale(testenvSaleSpec{Reference: "RO-1", PayRefs: []string{"sim_pending_ro"}})
	amount := int64(100)
	res, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		t.Fatal(err)
	}
	pending := res.Refunds[0]
	keys := map[refundry.Scope]string{}
	for _, scope := range []refundry.Scope{refundry.ScopeRead, refundry.ScopeRefund} {
		_, text, err := env.Engine.CreateAPIKey(ctx, env.A.ID, engine.KeySpec{Name: string(scope), Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		keys[scope] = text
	}
	refundForm := []string{`id="review"`, `action="/dashboard/sales/` + sale.ID + `/refund/review"`, `?target=line:`, `?target=txn:`, `id="cancel-` + pending.ID + `"`}

	b := h.browser(t)
	tok := b.signIn(keys[refundry.ScopeRead])
	_, body := b.get("/dashboard/sales/" + sale.ID)
	mustContain(t, body, `id="read-only"`, "This key can read but not refund")
	for _, part := range refundForm {
		if strings.Contains(body, part) {
			t.Errorf("a read key's sale page has %s", part)
		}
	}
	status, body := b.get("/dashboard/refunds/" + pending.ID + "/cancel")
	if status != http.StatusForbidden || strings.Contains(body, `id="confirm-cancel"`) {
		t.Errorf("a read key's cancel page: %d, with a cancel button", status)
	}
	mustContain(t, body, "This key can read but not refund")
	status, body = b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"sale:" + sale.ID}})
	if status != http.StatusForbidden {
		t.Errorf("a read key's review: %d, want 403", status)
	}
	mustContain(t, body, "This key can read but not refund")
	if got := env.Reload(sale); got.RefundedAmount != 100 {
		t.Errorf("sale refunded %d, want 100", got.RefundedAmount)
	}

	b = h.browser(t)
	b.signIn(keys[refundry.ScopeRefund])
	_, body = b.get("/dashboard/sales/" + sale.ID)
	mustContain(t, body, refundForm...)
	if strings.Contains(body, "can read but not refund") {
		t.Error("a refund key is told it cannot refund")
	}
}

// TestWording: lists name a sale by its order number and customer, a
// customer without a name is shown by email alone, counts agree with
// their nouns, and the review says plainly whether the customer is
// emailed.
func TestWording(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	ctx := context.Background()
	named := env.Sale(testenvSaleSpec{Reference: "W-1", Email: "ann@example.com", FirstName: "Ann", LastName: "Smith", PayRefs: []string{"sim_pending_w1"}})
	unnamed := env.Sale(testenvSaleSpec{Email: "c3@example.com"})
	amount := int64(100)
	for _, id := range []string{named.ID, unnamed.ID} {
		if _, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: id}, Amount: &amount, Source: refundry.SourceNative}); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser(t)
	tok := b.signIn(env.KeyA)

	_, body := b.get("/dashboard/sales/" + unnamed.ID)
	mustContain(t, body, `<dd id="customer">c3@example.com</dd>`)
	if strings.Contains(body, "&lt;c3@example.com&gt;") {
		t.Error("an unnamed customer is shown as <email>")
	}
	_, body = b.get("/dashboard/sales/" + named.ID)
	mustContain(t, body, `<dd id="customer">Ann Smith <span class="muted email">ann@example.com</span></dd>`)

	// Refund lists: the order number (or the sale's id, when it has none)
	// and the customer, not the sale's id beside the refund's.
	for _, path := range []string{"/dashboard/refunds", "/dashboard/"} {
		_, body = b.get(path)
		mustContain(t, body, "<th>Order</th><th>Customer</th>", ">W-1</a>", `Ann Smith <span class="muted email">ann@example.com</span>`)
	}
	_, body = b.get("/dashboard/refunds")
	mustContain(t, body, ">"+unnamed.ID+"</a>", "<td>c3@example.com</td>")

	_, body = b.get("/dashboard/")
	mustContain(t, body, `</span> refunds</div>`, `<span class="big">1</span> refund pending</div>`, `</span> sales</div>`)

	_, body = b.post("/dashboard/sales/"+named.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"sale:" + named.ID}, "amount": {"1"}})
	mustContain(t, body, `<dd id="notify-text">None: the customer is not told by email</dd>`)
	_, body = b.post("/dashboard/sales/"+named.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"sale:" + named.ID}, "amount": {"1"}, "notify": {"1"}})
	mustContain(t, body, `<dd id="notify-text">Sent to ann@example.com</dd>`)

	if plural(1, "refund", "refunds") != "refund" || plural(0, "refund", "refunds") != "refunds" || plural(2, "sale", "sales") != "sales" {
		t.Error("plural")
	}
}
