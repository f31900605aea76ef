package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var noEnv = func(string) string { return "" }

// A --db with a scheme Refundry does not store in is refused, naming the
// two it does, and leaves nothing behind (it used to become a SQLite file
// in a directory named "mysql:").
func TestUnknownDBSchemeRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"serve", "--db", "mysql://x"},
		{"merchant", "create", "--slug", "s", "--name", "S", "--db", "mysql://root@localhost/refundry"},
		{"key", "list", "--merchant", "s", "--db", "file:r.db"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, noEnv, io.Discard, &stderr)
		if err == nil || exitCode(err) != 2 {
			t.Fatalf("%v: err %v (exit %d), want a usage error", args, err, exitCode(err))
		}
		for _, want := range []string{"unknown scheme", "sqlite:PATH", "postgres://"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %q does not say %q", args, err, want)
			}
		}
	}
	if left, _ := os.ReadDir("."); len(left) != 0 {
		t.Errorf("refused --db left %v behind", left)
	}
	// The schemes that exist still work: a bare path and sqlite:PATH.
	for _, db := range []string{"bare.db", "sqlite:prefixed.db"} {
		if err := run(context.Background(), []string{"merchant", "create", "--slug", "s", "--name", "S", "--db", db}, noEnv, io.Discard, io.Discard); err != nil {
			t.Errorf("--db %s: %v", db, err)
		}
	}
}

// Asked for, help is the answer: every command's -h and --help prints its
// usage on stdout and succeeds.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range [][]string{{"serve"}, {"merchant", "create"}, {"merchant"}, {"key"}, {"key", "create"},
		{"key", "list"}, {"key", "revoke"}, {"backup"}, {"bench"}, {"refund"}, {"reconcile"}, {"export"}, {"export", "refunds"},
		{"gateway"}, {"gateway", "add"}, {"gateway", "list"}, {"gateway", "remove"}, {"gateway", "reseal"}, {}} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), h)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, noEnv, &stdout, &stderr)
			if err != nil {
				t.Errorf("%v: %v, want success", args, err)
			}
			if !strings.Contains(stdout.String(), "Usage") || stderr.Len() != 0 {
				t.Errorf("%v: stdout %q, stderr %q; want the usage on stdout only", args, stdout.String(), stderr.String())
			}
		}
	}
	// A mistake still prints the usage, on stderr, and exits 2.
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--bogus"}, noEnv, &stdout, &stderr)
	if exitCode(err) != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "Usage") {
		t.Errorf("serve --bogus: exit %d, stdout %q, stderr %q", exitCode(err), stdout.String(), stderr.String())
	}
}

// version names the module version and the source revision the binary
// was built from, as the go command stamped them (go version -m reads the
// same stamp).
func TestVersion(t *testing.T) {
	bin := buildBinary(t)
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "refundry " + regexp.MustCompile(`(?m)^\tmod\t\S+\t(\S+)`).FindStringSubmatch(string(info))[1] + " revision "
	if m := regexp.MustCompile(`(?m)^\tbuild\tvcs.revision=(\S+)`).FindStringSubmatch(string(info)); m != nil {
		want += m[1]
	} else {
		want += "unknown" // built without VCS stamping (-buildvcs=false, or outside a checkout)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("refundry %s = %q, want it to start %q", arg, out, want)
		}
	}
}

// No environment variable means one thing to one command and another to
// the next: REFUNDRY_NAME exported for a key would have named the next
// merchant. Only the database and the merchant a key command acts on are
// shared, and they mean the same everywhere.
func TestEnvTwinsUnambiguous(t *testing.T) {
	shared := map[string]bool{"REFUNDRY_DB": true, "REFUNDRY_MERCHANT": true, "REFUNDRY_STRIPE_KEY": true, "REFUNDRY_STRIPE_API_BASE": true, "REFUNDRY_SECRETS_KEY_FILE": true}
	twin := regexp.MustCompile(`\(env (REFUNDRY_[A-Z_]+)\)`)
	owner := map[string]string{}
	for _, cmd := range []string{"serve", "merchant create", "key create", "key list", "key revoke", "backup", "bench", "refund", "reconcile", "export refunds", "gateway add", "gateway list", "gateway remove", "gateway reseal"} {
		var stdout bytes.Buffer
		if err := run(context.Background(), append(strings.Fields(cmd), "-h"), noEnv, &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, m := range twin.FindAllStringSubmatch(stdout.String(), -1) {
			name := m[1]
			if prev, ok := owner[name]; ok && prev != cmd && !shared[name] {
				t.Errorf("%s is the twin of a flag of both %q and %q", name, prev, cmd)
			}
			owner[name] = cmd
		}
	}
	for _, name := range []string{"REFUNDRY_MERCHANT_NAME", "REFUNDRY_KEY_NAME", "REFUNDRY_KEY_ID", "REFUNDRY_BACKUP_OUT", "REFUNDRY_REFUND_OUT", "REFUNDRY_EXPORT_SINCE", "REFUNDRY_EXPORT_OUT", "REFUNDRY_GATEWAY_KIND", "REFUNDRY_GATEWAY_ID", "REFUNDRY_SECRETS_KEY_FILE"} {
		if owner[name] == "" {
			t.Errorf("no command has the twin %s", name)
		}
	}
	// The renamed twins work: REFUNDRY_KEY_NAME names a key, and
	// REFUNDRY_MERCHANT_NAME, not REFUNDRY_KEY_NAME, names a merchant.
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	env := map[string]string{"REFUNDRY_DB": db, "REFUNDRY_MERCHANT_NAME": "Shop", "REFUNDRY_KEY_NAME": "ci", "REFUNDRY_SCOPE": "read"}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"merchant", "create", "--slug", "shop"}, getenv, &out, io.Discard); err != nil || !strings.Contains(out.String(), `"name":"Shop"`) {
		t.Fatalf("merchant create from REFUNDRY_MERCHANT_NAME: %v %s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"key", "create", "--merchant", "shop"}, getenv, &out, io.Discard); err != nil || !strings.Contains(out.String(), `"name":"ci"`) {
		t.Fatalf("key create from REFUNDRY_KEY_NAME: %v %s", err, out.String())
	}
}

// key create names the flags it misses and the flag whose value it
// refuses, never the API's field names.
func TestKeyCreateNamesFlags(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	if err := run(context.Background(), []string{"merchant", "create", "--slug", "shop", "--name", "Shop", "--db", db}, noEnv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "ci"}, "--scope"},
		{[]string{"--scope", "read"}, "--name"},
		{[]string{"--name", "ci", "--scope", "admin"}, "--scope must be read, refund, approve or write"},
		{[]string{"--name", " ", "--scope", "read"}, "--name: "},
		{[]string{"--name", "ci", "--scope", "read", "--expires", "2001-01-01T00:00:00Z"}, "--expires must be in the future"},
	} {
		args := append([]string{"key", "create", "--merchant", "shop", "--db", db}, c.args...)
		err := run(context.Background(), args, noEnv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "expires_at") {
			t.Errorf("%v: %v (exit %d), want a usage error naming %s", c.args, err, exitCode(err), c.want)
		}
	}
}

// merchant create names the flag whose value it refuses.
func TestMerchantCreateNamesFlags(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--slug", "Bad Slug", "--name", "S"}, "--slug: "},
		{[]string{"--slug", "ok", "--name", "S", "--currency", "XYZ"}, "--currency: "},
		{[]string{"--slug", "ok", "--name", " "}, "--name: "},
	} {
		err := run(context.Background(), append([]string{"merchant", "create", "--db", db}, c.args...), noEnv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: %v (exit %d), want a usage error starting %q", c.args, err, exitCode(err), c.want)
		}
	}
}

// refund --csv tells a script that rows failed by its exit status, and
// each failed row's error is "code: message".
func TestRefundCSVExitStatus(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "r.db")
	key := newMerchantKey(t, db)
	base, _, _ := serveInProcess(t, "--db", db, "--rate-limit", "0")
	base = "http://" + base
	c := &client{t: t, base: base, key: key}
	sale := c.must("POST", "/v1/sales", `{"reference": "ORD-1", "currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 1000}], "payment": {"gateway": "simulator"}}`)
	id := sale["id"].(string)

	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte("target,amount,reason\n"+id+",100,other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"refund", "--csv", good, "--target", base, "--key", key}, noEnv, io.Discard, io.Discard); err != nil {
		t.Fatalf("every row refunded: %v, want success", err)
	}

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("target,amount,reason\n"+id+",100,other\nno-such-thing,100,other\n"+id+",99999,other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"refund", "--csv", bad, "--target", base, "--key", key}, noEnv, io.Discard, io.Discard)
	if exitCode(err) != exitFailedRows || !strings.Contains(err.Error(), "2 of 3 rows failed") {
		t.Fatalf("two rows failed: %v (exit %d), want exit %d", err, exitCode(err), exitFailedRows)
	}
	recs := readOutcome(t, filepath.Join(dir, "bad.outcome.csv"))
	codeMessage := regexp.MustCompile(`^[a-z_]+: \S`)
	for _, rec := range recs[1:] {
		if (rec[2] == "failed") != (rec[5] != "") || rec[5] != "" && !codeMessage.MatchString(rec[5]) {
			t.Errorf("row %v: the error is not \"code: message\"", rec)
		}
	}
	if recs[2][5][:len("resource_missing:")] != "resource_missing:" || recs[3][5][:len("amount_too_large:")] != "amount_too_large:" {
		t.Errorf("outcome errors %q, %q", recs[2][5], recs[3][5])
	}
	var help bytes.Buffer
	_ = run(context.Background(), []string{"refund", "-h"}, noEnv, &help, io.Discard)
	if !strings.Contains(help.String(), fmt.Sprintf("%d when every row was answered", exitFailedRows)) {
		t.Errorf("refund -h does not name exit status %d:\n%s", exitFailedRows, help.String())
	}
}

// bench against a server that limits its key stops with the way out.
func TestBenchTargetRateLimited(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	key := newMerchantKey(t, db)
	base, _, _ := serveInProcess(t, "--db", db, "--rate-limit", "1", "--rate-burst", "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"bench", "--target", "http://" + base, "--key", key, "--refunds", "20", "--concurrency", "4", "--json"}, noEnv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--rate-limit 0") {
		t.Fatalf("bench against a rate-limited server: %v, want the hint to run it with --rate-limit 0", err)
	}
	var help bytes.Buffer
	_ = run(ctx, []string{"bench", "-h"}, noEnv, &help, io.Discard)
	if !strings.Contains(help.String(), "--rate-limit 0") {
		t.Errorf("bench -h does not say how to run --target:\n%s", help.String())
	}
}
