package stripe_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripe-mock is Stripe's own mock of its API, driven by Stripe's OpenAPI
// spec: it checks requests against the spec and answers with fixtures. It
// is stateless, so it shows what Refundry sends and that Stripe's answers
// parse, not what Stripe would decide. .ci/run installs it with
// `go install github.com/stripe/stripe-mock@v0.203.0`.

// mock is the stripe-mock process the package's tests share, started once
// by TestMain.
var mock struct {
	base string // http://127.0.0.1:port, "" if it could not start
	err  error  // why it could not start
}

func TestMain(m *testing.M) {
	stop, err := startStripeMock()
	if err != nil {
		mock.err = err
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// mockBase returns stripe-mock's base URL. Without the binary the test is
// skipped, except in CI (env CI set), where that is a failure.
func mockBase(t *testing.T) string {
	t.Helper()
	if mock.base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("stripe-mock is required in CI: %v", mock.err)
		}
		t.Skipf("stripe-mock not available: %v", mock.err)
	}
	return mock.base
}

// findStripeMock looks for the binary on PATH, then in each GOPATH's bin,
// where `go install` puts it.
func findStripeMock() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("no stripe-mock on PATH or in $GOPATH/bin (go install github.com/stripe/stripe-mock@v0.203.0)")
}

// startStripeMock starts stripe-mock on loopback ports the system chooses,
// reads the HTTP address it prints, and waits until it answers. Both
// listeners are given explicitly: with -http-addr alone stripe-mock also
// opens HTTPS on port 12112 of every interface.
func startStripeMock() (stop func(), err error) {
	bin, err := findStripeMock()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
				break
			}
		}
		io.Copy(io.Discard, out) // keep the pipe drained until exit
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		stop()
		return nil, errors.New("stripe-mock printed no HTTP address within 30s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if answers(ctx, base) {
			mock.base = base
			return stop, nil
		}
		select {
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("stripe-mock at %s did not answer within 30s", base)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func answers(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/refunds/re_ready", nil)
	if err != nil {
		return false
	}
	req.SetBasicAuth(testKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
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
