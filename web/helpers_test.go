package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// harness is a live dashboard over a real SQLite store, mounted the way
// cmd/refundry mounts it.
type harness struct {
	env *testenv.Env
	srv *httptest.Server
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	env := testenv.New(t)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", NewHandler(env.Engine, env.Logger, opts))
	srv := httptest.NewServer(edge.Observe(env.Logger, mux))
	t.Cleanup(srv.Close)
	return &harness{env: env, srv: srv}
}

// browser is an HTTP client with cookies, like a user's browser.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (h *harness) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}, base: h.srv.URL}
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfPattern  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	tokenPattern = regexp.MustCompile(`name="token" value="([^"]+)"`)
	amountField  = regexp.MustCompile(`name="amount" value="([^"]+)"`)
)

func find(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no match for %s in:\n%s", re, body)
	}
	return m[1]
}

// signIn signs in with key and returns the session's CSRF token.
func (b *browser) signIn(key string) string {
	b.t.Helper()
	_, body := b.get("/dashboard/signin")
	status, body := b.post("/dashboard/signin", url.Values{"csrf": {find(b.t, csrfPattern, body)}, "key": {key}})
	if status != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
		b.t.Fatalf("sign-in: %d\n%s", status, body)
	}
	return find(b.t, csrfPattern, body)
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
		t.FailNow()
	}
}

type testenvSaleSpec = testenv.SaleSpec

var (
	regexpNext  = regexp.MustCompile(`name="next" value="([^"]+)"`)
	regexpOlder = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	regexpNewer = regexp.MustCompile(`<a href="([^"]+)" rel="prev">`)
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
