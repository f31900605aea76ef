package failover

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildRefundry builds the refundry command, as an operator installs
// it, once for every test of the package.
func buildRefundry(t *testing.T) string {
	t.Helper()
	if err := build(); err != nil {
		t.Fatal(err)
	}
	return built.bin
}

// build builds the command once; a test may start it early.
func build() error {
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "refundry-failover-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir, built.bin = dir, filepath.Join(dir, "refundry")
		out, err := exec.Command("go", "build", "-o", built.bin, "github.com/refundry/refundry/cmd/refundry").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return built.err
}

var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// newMerchant creates a merchant with the command line and returns its
// API key and id.
func newMerchant(t *testing.T, bin, db, slug string) (key, id string) {
	t.Helper()
	cmd := exec.Command(bin, "merchant", "create", "--slug", slug, "--name", slug, "--db", db)
	cmd.Env = append(os.Environ(), "REFUNDRY_DB=")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("merchant create: %v\n%s", err, stderr)
	}
	var mc struct {
		Merchant struct {
			ID string `json:"id"`
		} `json:"merchant"`
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &mc); err != nil {
		t.Fatal(err)
	}
	return mc.APIKey, mc.Merchant.ID
}

// node is one running `refundry serve`.
type node struct {
	name string
	cmd  *exec.Cmd
	base string
	logs *logBuffer
}

var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startNode runs serve on a port of its own and returns once it listens.
// Rate limiting is off unless args turn it on: the load here is one key
// far past serve's default.
func startNode(t *testing.T, bin, name string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--rate-limit", "0"}, args...)...)
	cmd.Env = append(os.Environ(), "REFUNDRY_DB=", "REFUNDRY_ADDR=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, cmd: cmd, logs: &logBuffer{}}
	t.Cleanup(func() { n.stop() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.logs.add(sc.Text())
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		n.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not listen in 60s; logs:\n%s", name, n.logs.tail(4000))
	}
	return n
}

// stop kills the node (it may be killed twice).
func (n *node) stop() {
	if n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

// logBuffer keeps a node's log lines; a failure shows their end.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *logBuffer) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return tail([]byte(strings.Join(l.lines, "\n")), n)
}

// answer is one HTTP answer, its JSON body kept exact (json.Number).
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// api calls the native API with a merchant's key.
type api struct {
	key    string
	client *http.Client
}

func newAPI(key string) *api {
	// The request's whole life is bounded: a node that hangs past it is
	// seen as an error, never waited for.
	return &api{key: key, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
}

func (a *api) call(method, url, body, idempotencyKey string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	ans := answer{status: res.StatusCode, header: res.Header, raw: raw}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	_ = dec.Decode(&ans.body)
	return ans, nil
}

// must calls and fails the test unless the answer is 2xx.
func (a *api) must(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	ans, err := a.call(method, url, body, "")
	if err != nil || ans.status >= 300 {
		t.Fatalf("%s %s: %d %s %v", method, url, ans.status, ans.raw, err)
	}
	return ans.body
}

// all pages through a list route of the native API.
func (a *api) all(t *testing.T, url string) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := ""
	for {
		u := url + "&limit=100"
		if after != "" {
			u += "&starting_after=" + after
		}
		page := a.must(t, "GET", u, "")
		for _, d := range page["data"].([]any) {
			out = append(out, d.(map[string]any))
			after = d.(map[string]any)["id"].(string)
		}
		if page["has_more"] != true {
			return out
		}
	}
}

// newSale records a paid sale of one line and returns its id.
func (a *api) newSale(t *testing.T, base string, amount int64, reference string) string {
	t.Helper()
	s := a.must(t, "POST", base+"/v1/sales", fmt.Sprintf(`{"currency": "USD", "line_items": [{"name": "ticket", "quantity": 1, "unit_amount": %d}], "payment": {"reference": %q}}`, amount, reference))
	return s["id"].(string)
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}
