package stripe_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/refundry/refundry/internal/stripemock"
)

// mock is the stripe-mock process the package's tests share, started once
// by TestMain (see internal/stripemock for what it can and cannot show).
var mock *stripemock.Server

func TestMain(m *testing.M) {
	mock = stripemock.Start()
	code := m.Run()
	mock.Stop()
	os.Exit(code)
}

// mockBase returns stripe-mock's base URL. Without the binary the test is
// skipped, except in CI (env CI set), where that is a failure.
func mockBase(t *testing.T) string {
	t.Helper()
	return mock.Require(t)
}

// recorder is an http.RoundTripper that keeps what each request sent, to
// show what reaches Stripe (stripe-mock itself remembers nothing).
type recorder struct {
	mu   sync.Mutex
	reqs []sent
}

type sent struct {
	Method, Path string
	Header       http.Header
	Form         url.Values // the form body, or the query of a GET
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	s := sent{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Form: req.URL.Query()}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if f, err := url.ParseQuery(string(b)); err == nil && len(b) > 0 {
			s.Form = f
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, s)
	rec.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (rec *recorder) all() []sent {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]sent(nil), rec.reqs...)
}

func (rec *recorder) last(t *testing.T) sent {
	t.Helper()
	all := rec.all()
	if len(all) == 0 {
		t.Fatal("no request reached Stripe")
	}
	return all[len(all)-1]
}
