package failover

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// deployDoc is docs/deploy.md, whose examples these tests run.
func deployDoc(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// docBlock is the first fenced block of docs/deploy.md whose first line
// holds first. A first line that is a comment naming the file the block
// shows ("# /etc/haproxy/haproxy.cfg") is left out.
func docBlock(t *testing.T, doc, first string) string {
	t.Helper()
	var blocks []string
	var cur []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && strings.HasPrefix(line, "```"):
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	for _, b := range blocks {
		if line, rest, _ := strings.Cut(b, "\n"); strings.Contains(line, first) {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
				return rest
			}
			return b
		}
	}
	t.Fatalf("docs/deploy.md has no block starting with %q", first)
	return ""
}

// replace replaces each old with its new in s, failing the test if one
// is not there: a test that silently ran the unchanged example would run
// something else than it says.
func replace(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the example no longer holds %q:\n%s", pairs[i], s)
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// lookTool finds a tool the test needs; without it the test skips, or
// fails under CI, whose .ci/run installs it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed, but CI is: .ci/run installs it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after 30s: %v\n%s", addr, err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get asks url and returns its status.
func get(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}

var refundRounds atomic.Int64

// refundAll makes n refunds of 1 of the sale through base, from
// clients at once, and fails unless every one is answered 201.
func refundAll(t *testing.T, c *api, base, sale string, n, clients int) {
	t.Helper()
	round := refundRounds.Add(1)
	errs := make(chan error, n)
	jobs := make(chan int)
	done := make(chan struct{})
	for range clients {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range jobs {
				ans, err := c.call("POST", base+"/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 1}`, sale), fmt.Sprintf("%s-%d-%d", sale, round, i))
				switch {
				case err != nil:
					errs <- err
				case ans.status != 201:
					errs <- fmt.Errorf("refund %d: %d %s", i, ans.status, ans.raw)
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	for range clients {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
