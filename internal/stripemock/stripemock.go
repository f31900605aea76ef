// Package stripemock runs stripe-mock, Stripe's own mock of its API, for
// tests. It is driven by Stripe's OpenAPI spec: it checks requests against
// the spec and answers with fixtures. It keeps no state, so it shows what
// Refundry sends and that Stripe's answers parse, not what Stripe would
// decide. .ci/run installs it with
// `go install github.com/stripe/stripe-mock@v0.203.0`.
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKey is a test-mode secret key stripe-mock accepts.
const TestKey = "sk_test_123"

// Server is a running stripe-mock, or why none could start.
type Server struct {
	Base string // http://127.0.0.1:port, "" if it could not start
	Err  error
	stop func()
}

// Start starts stripe-mock on loopback ports the system chooses, reads the
// HTTP address it prints, and waits until it answers. Both listeners are
// given explicitly: with -http-addr alone stripe-mock also opens HTTPS on
// port 12112 of every interface. A Server with Err set is returned when the
// binary is missing or does not start; Require turns that into a skip or,
// in CI, a failure.
func Start() *Server {
	s := &Server{}
	s.Err = s.start()
	return s
}

// Stop ends the process.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
	}
}

// Require returns the base URL, or skips the test (fails it when the CI
// environment variable is set) when stripe-mock is not running.
func (s *Server) Require(t testing.TB) string {
	t.Helper()
	if s.Base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("stripe-mock is required in CI: %v", s.Err)
		}
		t.Skipf("stripe-mock not available: %v", s.Err)
	}
	return s.Base
}

// find looks for the binary on PATH, then in each GOPATH's bin, where
// `go install` puts it.
func find() (string, error) {
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

func (s *Server) start() error {
	bin, err := find()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
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
		_, _ = io.Copy(io.Discard, out) // keep the pipe drained until exit
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		s.stop()
		return errors.New("stripe-mock printed no HTTP address within 30s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if answers(ctx, base) {
			s.Base = base
			return nil
		}
		select {
		case <-ctx.Done():
			s.stop()
			return fmt.Errorf("stripe-mock at %s did not answer within 30s", base)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func answers(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/refunds/re_ready", nil)
	if err != nil {
		return false
	}
	req.SetBasicAuth(TestKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
