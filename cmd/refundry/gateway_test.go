package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKeyA and testKeyB are secrets key file lines.
var (
	testKeyA = strings.Repeat("0a", 32)
	testKeyB = strings.Repeat("0b", 32)
)

// writeKeyFile writes a secrets key file of the given keys, first
// sealing, and returns its path.
func writeKeyFile(t *testing.T, dir, name string, keys ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("# refundry secrets\n"+strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gatewayRun runs "refundry gateway ..." with stdin.
func gatewayRun(stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	c := &gatewayCommand{stdin: strings.NewReader(stdin)}
	err := c.Run(context.Background(), args, noEnv, &out, io.Discard)
	return out.String(), err
}

// Mistakes in the command line are usage errors naming the flag, found
// before anything is opened, and never quote a credential.
func TestGatewayCommandUsage(t *testing.T) {
	dir := t.TempDir()
	key := writeKeyFile(t, dir, "key", testKeyA)
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("s3cr3t-not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The database must never be created: each case fails first.
	db := "sqlite:" + filepath.Join(dir, "never.db")
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"ErrNoSubcommand", nil, "", "subcommand"},
		{"ErrUnknownSubcommand", []string{"delete"}, "", "subcommand"},
		{"ErrAddNeedsFlags", []string{"add"}, "", "--merchant SLUG and --kind KIND and --secrets-key-file FILE"},
		{"ErrAddNeedsKeyFile", []string{"add", "--merchant", "m", "--kind", "payop"}, "", "--secrets-key-file"},
		{"ErrRemoveNeedsID", []string{"remove", "--merchant", "m"}, "", "--id ACCOUNT_ID"},
		{"ErrResealNeedsKeyFile", []string{"reseal"}, "", "--secrets-key-file"},
		{"ErrListNoKeyFileFlag", []string{"list", "--merchant", "m", "--secrets-key-file", key}, "", "-secrets-key-file"},
		{"ErrArgument", []string{"list", "--merchant", "m", "extra"}, "", "no arguments"},
		{"ErrKeyFileMissing", []string{"reseal", "--secrets-key-file", filepath.Join(dir, "missing")}, "", "--secrets-key-file"},
		{"ErrKeyFileNotKeys", []string{"reseal", "--secrets-key-file", bad}, "", "line 1 is not a key"},
		{"ErrUnknownKind", []string{"add", "--merchant", "m", "--kind", "paypal", "--secrets-key-file", key}, "", "--kind must be one of jetti, keepup, payop, revcent, simulator, stripe, talkable"},
		{"ErrCredentialNoEquals", []string{"add", "--merchant", "m", "--kind", "payop", "--secrets-key-file", key, "--credential", "token"}, "", "NAME=VALUE"},
		{"ErrCredentialTwice", []string{"add", "--merchant", "m", "--kind", "payop", "--secrets-key-file", key, "--credential", "token=tok_aaaaaaaaaaaaaaaa", "--credential", "token=tok_bbbbbbbbbbbbbbbb"}, "", "--credential token given twice"},
		{"ErrStdinEmpty", []string{"add", "--merchant", "m", "--kind", "payop", "--secrets-key-file", key}, "", "a payop account needs token"},
		{"ErrStdinNotJSON", []string{"add", "--merchant", "m", "--kind", "payop", "--secrets-key-file", key}, "token=tok_cccccccccccccccc", "not one JSON object"},
		{"ErrStdinTwoObjects", []string{"add", "--merchant", "m", "--kind", "payop", "--secrets-key-file", key}, `{"token":"tok_cccccccccccccccc"} {}`, "not one JSON object"},
		{"ErrStdinArray", []string{"add", "--merchant", "m", "--kind", "payop", "--secrets-key-file", key}, `["tok_cccccccccccccccc"]`, "not one JSON object"},
		{"ErrStdinNumber", []string{"add", "--merchant", "m", "--kind", "jetti", "--secrets-key-file", key}, `{"token": 1234567890123}`, `"token" must be a string`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gatewayRun(tt.stdin, append(tt.args, "--db", db)...)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("gateway %v: %v (exit %d), want a usage error saying %q", tt.args, err, exitCode(err), tt.want)
			}
			for _, secret := range []string{"tok_", "s3cr3t", "1234567890123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error quotes a credential: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "never.db")); err == nil {
				t.Fatal("a refused command opened the database")
			}
		})
	}
}

func TestReadCredentials(t *testing.T) {
	got, err := readCredentials(strings.NewReader(`{"api_key": "tk_live_0123456789", "site_slug": "my-site"}`+"\n"), "talkable")
	if err != nil || len(got) != 2 || got["api_key"] != "tk_live_0123456789" || got["site_slug"] != "my-site" {
		t.Fatalf("readCredentials = %v, %v", got, err)
	}
	long := `{"token": "` + strings.Repeat("x", maxCredentialsJSON) + `"}`
	if _, err := readCredentials(strings.NewReader(long), "payop"); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("readCredentials(%d bytes) = %v, want refused as too long", len(long), err)
	}
}

// gateway add|list|remove on a database, as an operator runs them: what
// the engine refuses is named by the flag that carried it, the twins
// REFUNDRY_SECRETS_KEY_FILE and REFUNDRY_GATEWAY_... work, and removal
// is answered for the merchant's own accounts only.
func TestGatewayCommand(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "gw.db")
	key := writeKeyFile(t, dir, "key", testKeyA)
	merchantKey(t, db, "shop")
	merchantKey(t, db, "other")
	ctx := context.Background()
	runEnv := func(env map[string]string, stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		c := &gatewayCommand{stdin: strings.NewReader(stdin)}
		err := c.Run(ctx, append(args, "--db", db), func(k string) string { return env[k] }, &out, io.Discard)
		return out.String(), err
	}
	keyEnv := map[string]string{"REFUNDRY_SECRETS_KEY_FILE": key}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"ErrBaseURL", []string{"--kind", "payop", "--base-url", "ftp://payop.example", "--credential", "token=tok_0123456789abcdef"}, "--base-url"},
		{"ErrJettiNeedsBaseURL", []string{"--kind", "jetti", "--credential", "token=tok_0123456789abcdef"}, "--base-url"},
		{"ErrMissingCredential", []string{"--kind", "talkable", "--credential", "api_key=tk_0123456789abcdef"}, "--credential site_slug"},
		{"ErrUnknownCredential", []string{"--kind", "payop", "--credential", "token=tok_0123456789abcdef", "--credential", "pin=1234"}, "--credential pin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runEnv(keyEnv, "", append([]string{"add", "--merchant", "shop"}, tt.args...)...)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "0123456789") {
				t.Errorf("gateway add %v: %v (exit %d), want a usage error naming %s", tt.args, err, exitCode(err), tt.want)
			}
		})
	}
	if out, _ := runEnv(nil, "", "list", "--merchant", "shop"); out != "" {
		t.Fatalf("refused adds stored accounts: %s", out)
	}

	// The kind and a credential from the environment; the simulator
	// needs none, and reads nothing from standard input.
	out, err := runEnv(map[string]string{"REFUNDRY_SECRETS_KEY_FILE": key, "REFUNDRY_GATEWAY_KIND": "keepup", "REFUNDRY_GATEWAY_CREDENTIAL": "api_key=ku_live_0123456789abcdef"}, "", "add", "--merchant", "shop")
	if err != nil {
		t.Fatal(err)
	}
	var ku accountLine
	if err := json.Unmarshal([]byte(out), &ku); err != nil || ku.Kind != "keepup" || ku.BaseURL == nil || *ku.BaseURL != "https://api.keepup.store" || ku.Credentials["api_key"] != "…cdef" || ku.Status != "active" || ku.RemovedAt != nil || ku.Created == 0 {
		t.Fatalf("gateway add keepup printed %q (%v)", out, err)
	}
	out, err = runEnv(keyEnv, "not read", "add", "--merchant", "shop", "--kind", "simulator")
	if err != nil {
		t.Fatal(err)
	}
	var sim accountLine
	if err := json.Unmarshal([]byte(out), &sim); err != nil || sim.Kind != "simulator" || len(sim.Credentials) != 0 || sim.BaseURL != nil || !strings.Contains(out, `"base_url":null`) {
		t.Fatalf("gateway add simulator printed %q (%v)", out, err)
	}
	if out, _ := runEnv(nil, "", "list", "--merchant", "shop"); strings.Count(out, "\n") != 2 || !strings.Contains(out, ku.ID) || !strings.Contains(out, sim.ID) {
		t.Fatalf("gateway list: %q", out)
	}
	if out, _ := runEnv(nil, "", "list", "--merchant", "other"); out != "" {
		t.Fatalf("another merchant lists the shop's accounts: %q", out)
	}

	// Another merchant's account is answered as a missing one.
	if _, err := runEnv(map[string]string{"REFUNDRY_GATEWAY_ID": ku.ID}, "", "remove", "--merchant", "other"); err == nil || exitCode(err) != 1 {
		t.Errorf("other merchant removing the shop's account: %v", err)
	}
	out, err = runEnv(nil, "", "remove", "--merchant", "shop", "--id", ku.ID)
	var removed accountLine
	if err != nil || json.Unmarshal([]byte(out), &removed) != nil || removed.Status != "removed" || removed.RemovedAt == nil {
		t.Fatalf("gateway remove printed %q (%v)", out, err)
	}
	if _, err := runEnv(nil, "", "remove", "--merchant", "shop", "--id", ku.ID); err == nil {
		t.Error("an account removed twice")
	}
	if out, _ := runEnv(nil, "", "list", "--merchant", "shop"); strings.Contains(out, ku.ID) || !strings.Contains(out, sim.ID) {
		t.Fatalf("gateway list after remove: %q", out)
	}
}

// serve refuses a bad key file at start, naming the line and never
// quoting it; a demo without one gets a key of its own, any other server
// none.
func TestServeSecretsKeyFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("# k\n"+testKeyA+"\n"+testKeyA[:40]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "never.db")
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--db", db, "--secrets-key-file", bad},
		{"serve", "--addr", "127.0.0.1:0", "--db", db, "--secrets-key-file", filepath.Join(dir, "missing.key")},
	} {
		err := run(context.Background(), args, noEnv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "--secrets-key-file") || strings.Contains(err.Error(), testKeyA[:40]) {
			t.Errorf("%v: %v (exit %d), want a usage error naming the flag, not the key", args, err, exitCode(err))
		}
	}
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, func(k string) string {
		if k == "REFUNDRY_SECRETS_KEY_FILE" {
			return bad
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("serve with REFUNDRY_SECRETS_KEY_FILE naming a bad file: %v, want it refused naming line 3", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "never.db")); err == nil {
		t.Error("serve opened the database before checking its key file")
	}
	if k, err := serveKeyring("", true); err != nil || k == nil {
		t.Errorf("a demo without a key file: %v, %v; want a key of its own", k, err)
	}
	if k, err := serveKeyring("", false); err != nil || k != nil {
		t.Errorf("a server without a key file: %v, %v; want none", k, err)
	}
}

func TestKeyFileExposed(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o400, false}, {0o640, true}, {0o644, true}, {0o606, true}} {
		path := filepath.Join(dir, tt.mode.String())
		if err := os.WriteFile(path, []byte(testKeyA+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		if got := keyFileExposed(path); (got != "") != tt.warn {
			t.Errorf("mode %v: warning %q, want one %v", tt.mode, got, tt.warn)
		}
	}
	if got := keyFileExposed(""); got != "" {
		t.Errorf("no key file: %q", got)
	}
}

// accountLine is what `refundry gateway` prints for an account: the
// native API's object, credentials as hints.
type accountLine struct {
	ID          string            `json:"id"`
	Object      string            `json:"object"`
	Kind        string            `json:"kind"`
	BaseURL     *string           `json:"base_url"`
	Credentials map[string]string `json:"credentials"`
	Status      string            `json:"status"`
	Created     int64             `json:"created"`
	RemovedAt   *int64            `json:"removed_at"`
}
