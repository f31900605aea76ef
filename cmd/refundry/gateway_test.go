package main

import (
	"bytes"
	"context"
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
