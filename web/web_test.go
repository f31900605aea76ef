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
		"error":    errorData{Status: 404, Message: "No such page."},
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
	mustContain(t, body, "B00L", "B00M", "2 sales of this customer")
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

func TestCancel(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	sale := env.Sale(testenvSaleSpec{Reference: "PEND-1", PayRefs: []string{"sim_pending_cancel"}})
	b := h.browser(t)
	tok := b.signIn(env.KeyA)
	_, body := b.post("/dashboard/sales/"+sale.ID+"/refund/review", url.Values{"csrf": {tok}, "target": {"sale:" + sale.ID}, "amount": {"2.50"}})
	_, body = b.post("/dashboard/sales/"+sale.ID+"/refund", url.Values{"csrf": {tok}, "token": {find(t, tokenPattern, body)},
		"target": {"sale:" + sale.ID}, "amount": {"2.50"}})
	mustContain(t, body, "of 2.50 USD: pending.", "Cancel this refund")
	refunds, _, _ := env.Store.ListRefunds(context.Background(), env.A.ID, refundry.RefundFilter{SaleID: sale.ID})
	_, body = b.post("/dashboard/refunds/"+refunds[0].ID+"/cancel", url.Values{"csrf": {tok}})
	mustContain(t, body, "of 2.50 USD: canceled.", "refund.canceled")
	status, _ := b.post("/dashboard/refunds/"+refunds[0].ID+"/cancel", url.Values{"csrf": {tok}})
	if status != http.StatusOK {
		t.Errorf("canceling twice: %d", status)
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
