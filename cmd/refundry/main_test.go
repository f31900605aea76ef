package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// buildBinary builds refundry once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "refundry")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestMerchantCreate(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"merchant", "create", "--slug", "my-store", "--name", "My Store", "--currency", "eur", "--db", db},
		func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	var got struct {
		Merchant struct{ ID, Slug, Name, Currency string }
		APIKey   string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %q", out.String())
	}
	if got.Merchant.Slug != "my-store" || got.Merchant.Currency != "EUR" || len(got.Merchant.ID) != refundry.IDLength {
		t.Fatalf("merchant = %+v", got.Merchant)
	}
	if _, _, ok := refundry.ParseAPIKey(got.APIKey); !ok {
		t.Fatalf("api_key %q does not parse", got.APIKey)
	}
	// REFUNDRY_DB names the same database: the slug is taken there.
	env := func(k string) string {
		if k == "REFUNDRY_DB" {
			return db
		}
		return ""
	}
	err = run(context.Background(), []string{"merchant", "create", "--slug", "my-store", "--name", "Again"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "taken") && !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second create with the same slug: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nonsense"}, {"merchant"}, {"merchant", "create", "--slug", "x"}, {"serve", "extra"}, {"serve", "--bogus"}} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err %v, exit %d; want a usage error", args, err, exitCode(err))
		}
	}
}

var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServe runs the built binary's serve and returns its base URL once it
// logs the address it listens on.
func startServe(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	// Rate limiting off unless a test turns it on with --rate-limit: the
	// load tests here hammer one key far past serve's default.
	cmd.Env = append(os.Environ(), "REFUNDRY_DB=", "REFUNDRY_ADDR=", "REFUNDRY_RATE_LIMIT=0")
	stdout := &syncBuffer{}
	cmd.Stdout = stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logs := &syncBuffer{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteLine(sc.Text())
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a, stdout, logs
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not log its address; logs:\n%s", logs.String())
	}
	return nil, "", nil, nil
}

// runPrintedRequests runs every request serve --demo printed, as printed
// and in order, and checks that each succeeds.
func runPrintedRequests(t *testing.T, printed, key string) {
	t.Helper()
	curls := regexp.MustCompile(`(?m)^curl .*$`).FindAllString(printed, -1)
	if len(curls) != 7 {
		t.Fatalf("demo printed %d requests, want one per API (7):\n%s", len(curls), printed)
	}
	for _, line := range curls {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sh := exec.CommandContext(ctx, "bash", "-c", line+` -o /dev/stderr -w '%{http_code}'`)
		sh.Env = append(os.Environ(), "REFUNDRY_KEY="+key)
		var body bytes.Buffer
		sh.Stderr = &body
		code, err := sh.Output()
		cancel()
		if err != nil || (string(code) != "200" && string(code) != "201") {
			t.Errorf("%s\n→ %s %v: %s", line, code, err, body.String())
		}
	}
}

func TestServeAnswersAndStopsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd, base, stdout, logs := startServe(t, bin, "--db", filepath.Join(dir, "r.db"), "--demo")
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()

	// Every background loop of the real process is running: ready.
	var readyCode int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			readyCode = res.StatusCode
			res.Body.Close()
			if readyCode == 200 {
				break
			}
		}
	}
	if readyCode != 200 {
		t.Fatalf("/readyz answered %d; logs:\n%s", readyCode, logs.String())
	}

	// The demo printed a key that works, and a sample refund that succeeds.
	keyLine := regexp.MustCompile(`REFUNDRY_KEY=(\S+)`)
	key := stdout.await(t, keyLine)
	req, _ := http.NewRequest("GET", base+"/v1/sales?reference=B00K2EOONI", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("list sales with the demo key: %v %v", res, err)
	}
	var list struct{ Data []struct{ ID string } }
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Data) != 1 {
		t.Fatalf("demo sale B00K2EOONI: %+v", list)
	}

	runPrintedRequests(t, stdout.String(), key)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown line in logs:\n%s", logs.String())
	}

	// A second --demo start on the same database keeps the one merchant,
	// hands out a fresh key, revokes the first, and prints requests that
	// work though the first start's refunded their sales in full.
	_, base2, stdout2, _ := startServe(t, bin, "--db", filepath.Join(dir, "r.db"), "--demo")
	key2 := stdout2.await(t, keyLine)
	if key2 == key {
		t.Fatal("second demo start printed the same key")
	}
	for k, want := range map[string]int{key: http.StatusUnauthorized, key2: http.StatusOK} {
		req, _ := http.NewRequest("GET", base2+"/v1/api_keys?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+k)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var keys struct {
			Data []struct {
				Name    string
				Revoked *int64 `json:"revoked_at"`
			}
		}
		_ = json.NewDecoder(res.Body).Decode(&keys)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("GET /v1/api_keys with the key of the %s start: %d, want %d", map[bool]string{true: "first", false: "second"}[k == key], res.StatusCode, want)
		}
		live := 0
		for _, kj := range keys.Data {
			if kj.Revoked == nil {
				live++
			}
		}
		if want == http.StatusOK && live != 1 {
			t.Fatalf("after two demo starts %d keys are live, want 1: %+v", live, keys.Data)
		}
	}
	runPrintedRequests(t, stdout2.String(), key2)
	req, _ = http.NewRequest("GET", base2+"/v1/sales?reference=B00K2EOONI", nil)
	req.Header.Set("Authorization", "Bearer "+key2)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	list.Data = nil
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list.Data) != 1 {
		t.Fatalf("demo data seeded twice or lost: %+v", list)
	}
}
