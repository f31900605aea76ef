package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/secrets"
)

// stopServe stops a serve process as an operator would, SIGTERM, and
// waits for it, so that the next one opens the database alone.
func stopServe(t *testing.T, s *exec.Cmd) {
	t.Helper()
	if err := s.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// gatewayCLI runs "refundry gateway ..." in-process on db, with stdin,
// and returns its output, failing the test on an error.
func gatewayCLI(t *testing.T, db, stdin string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	c := &gatewayCommand{stdin: strings.NewReader(stdin)}
	if err := c.Run(context.Background(), append(args, "--db", db), noEnv, &out, &errb); err != nil {
		t.Fatalf("refundry gateway %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// merchantKey makes a merchant on db and returns its API key.
func merchantKey(t *testing.T, db, slug string) string {
	t.Helper()
	var mc struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(cliRun(t, db, "merchant", "create", "--slug", slug, "--name", slug)), &mc); err != nil {
		t.Fatal(err)
	}
	return mc.APIKey
}

// secretForms are the ways a credential could be written in clear: as
// it is, all but the last four characters (more than an answer shows),
// and hex or base64 encoded.
func secretForms(secret string) []string {
	return []string{secret, secret[:len(secret)-4], hex.EncodeToString([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret))}
}

// checkNoSecret fails the test if text holds any form of any secret.
func checkNoSecret(t *testing.T, where string, text []byte, secretValues []string) {
	t.Helper()
	for _, s := range secretValues {
		for _, form := range secretForms(s) {
			if bytes.Contains(bytes.ToLower(text), bytes.ToLower([]byte(form))) {
				t.Errorf("%s holds the credential %s…%s in clear (as %q)", where, s[:4], s[len(s)-4:], form)
			}
		}
	}
}

// storedText is everything the database holds: on SQLite every file of
// the database (the main file, its WAL and shared memory) byte for byte;
// on PostgreSQL every row of every table of the database, as text
// (bytea shows as hex, which checkNoSecret also looks for).
func storedText(t *testing.T, db string) []byte {
	t.Helper()
	if path, ok := strings.CutPrefix(db, "sqlite:"); ok {
		files, err := filepath.Glob(path + "*")
		if err != nil || len(files) == 0 {
			t.Fatalf("database files %s*: %v", path, err)
		}
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("tables: %v %v", tables, err)
	}
	var all bytes.Buffer
	for _, table := range tables {
		rows, err := conn.Query(ctx, "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range texts {
			all.WriteString(row + "\n")
		}
	}
	if !strings.Contains(all.String(), "gateway_account") && !bytes.Contains(all.Bytes(), []byte("payop")) {
		t.Fatal("the dump holds no gateway account: it read the wrong database")
	}
	return all.Bytes()
}

// Credentials are never stored in clear: accounts made through the
// command line and the native API with known credentials, then every
// byte the database holds is searched for them, as are the answers, the
// command line's output and the server's logs.
func TestCredentialsNeverStoredInClear(t *testing.T) {
	bin := buildBinary(t)
	t.Run("SQLite", func(t *testing.T) {
		credentialsNeverInClear(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "clear.db"))
	})
	t.Run("PostgreSQL", func(t *testing.T) { credentialsNeverInClear(t, bin, pgtest.NewDatabase(t)) })
}

func credentialsNeverInClear(t *testing.T, bin, db string) {
	dir := t.TempDir()
	keyFile := writeKeyFile(t, dir, "secrets.key", testKeyA)
	key := merchantKey(t, db, "sealed")
	var (
		payopToken  = "PAYOPTOKEN-cleartext-7f3a9c1e5b2d"
		talkableKey = "TALKABLEKEY-cleartext-0c4e8a6f21"
		talkSlug    = "talkable-site-cleartext-93b1"
		stripeKey   = "sk_test_STRIPE-cleartext-5d7e9f1a3c"
		revcentKey  = "REVCENTKEY-cleartext-b2c4d6e8f0a1"
		keepupKey   = "KEEPUPKEY-cleartext-11aa22bb33cc"
	)
	all := []string{payopToken, talkableKey, talkSlug, stripeKey, revcentKey, keepupKey}
	var printed bytes.Buffer
	// The command line: from standard input, and from --credential.
	printed.WriteString(gatewayCLI(t, db, `{"token": "`+payopToken+`"}`,
		"add", "--merchant", "sealed", "--kind", "payop", "--base-url", "http://127.0.0.1:1", "--secrets-key-file", keyFile))
	printed.WriteString(gatewayCLI(t, db, "", "add", "--merchant", "sealed", "--kind", "talkable",
		"--credential", "api_key="+talkableKey, "--credential", "site_slug="+talkSlug, "--secrets-key-file", keyFile))
	printed.WriteString(gatewayCLI(t, db, "", "add", "--merchant", "sealed", "--kind", "stripe",
		"--credential", "secret_key="+stripeKey, "--secrets-key-file", keyFile))
	var first accountLine
	if err := json.Unmarshal(bytes.SplitN(printed.Bytes(), []byte("\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	if first.Kind != "payop" || first.Status != "active" || first.Credentials["token"] != "…"+payopToken[len(payopToken)-4:] || first.BaseURL == nil || *first.BaseURL != "http://127.0.0.1:1" {
		t.Errorf("gateway add printed %+v, want the payop account with its token's last four characters", first)
	}

	cmd, base, stdout, logs := startServe(t, bin, "--db", db, "--secrets-key-file", keyFile)
	c := &client{t: t, base: base, key: key}
	// The native API, replayed with its Idempotency-Key: the stored
	// answer is searched too.
	for _, body := range []string{
		`{"kind": "revcent", "credentials": {"api_key": "` + revcentKey + `"}}`,
		`{"kind": "keepup", "credentials": {"api_key": "` + keepupKey + `"}}`,
	} {
		for range 2 {
			req, _ := http.NewRequest("POST", base+"/v1/gateway_accounts", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "acct-"+body[10:17])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer := new(bytes.Buffer)
			_, _ = answer.ReadFrom(res.Body)
			res.Body.Close()
			if res.StatusCode >= 300 {
				t.Fatalf("POST /v1/gateway_accounts: %d %s", res.StatusCode, answer)
			}
			printed.Write(answer.Bytes())
		}
	}
	status, listed, err := c.call("GET", "/v1/gateway_accounts", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /v1/gateway_accounts: %d %v", status, err)
	}
	raw, _ := json.Marshal(listed)
	printed.Write(raw)
	printed.WriteString(gatewayCLI(t, db, "", "list", "--merchant", "sealed"))
	// A refund through the Payop account, whose provider does not
	// answer: the account is opened and called, and what the failure
	// stores and logs is searched too.
	sale := c.must("POST", "/v1/sales", `{"reference": "SEALED-1", "currency": "USD", "customer": {"email": "ann@example.com"},
		"line_items": [{"name": "Ticket", "unit_amount": 2500}], "payment": {"gateway": "payop", "reference": "pay-sealed-1"}}`)
	if status, m, err := c.call("POST", "/v1/refunds", `{"sale": "`+sale["id"].(string)+`", "amount": 500}`); err != nil || status >= 300 || m["status"] == "succeeded" {
		t.Errorf("refund through an account whose provider does not answer: %d %v %v", status, m, err)
	} else {
		raw, _ := json.Marshal(m)
		printed.Write(raw)
	}
	// That refund is not final, so the account is not removed.
	var errb bytes.Buffer
	err = (&gatewayCommand{}).Run(context.Background(), []string{"remove", "--merchant", "sealed", "--id", first.ID, "--db", db}, noEnv, io.Discard, &errb)
	if err == nil || exitCode(err) != 1 {
		t.Errorf("gateway remove of an account with a refund not final: %v, want it refused", err)
	} else {
		t.Logf("gateway remove refused: %v", err)
	}
	if out := gatewayCLI(t, db, "", "list", "--merchant", "sealed"); !strings.Contains(out, first.ID) {
		t.Errorf("a refused removal removed the account: %s", out)
	}
	if n := strings.Count(printed.String(), `"object":"gateway_account"`); n < 4 {
		t.Errorf("accounts shown %d times, want at least the 3 added and the list:\n%s", n, printed.String())
	}

	// While serve runs, the WAL holds the newest pages.
	checkNoSecret(t, "the database (serving)", storedText(t, db), all)
	stopServe(t, cmd)
	checkNoSecret(t, "the database", storedText(t, db), all)
	checkNoSecret(t, "what the API and the command line printed", printed.Bytes(), all)
	checkNoSecret(t, "serve's output", []byte(stdout.String()+logs.String()), all)
}

// A refund through a merchant's Payop account, made through a second
// Refundry playing Payop (its Payop dialect, with its own ledger).
type rotationRig struct {
	t      *testing.T
	shop   string // the shop's API key
	saleID string
}

// refund makes a refund of amount through the running shop server and
// returns its status.
func (r *rotationRig) refund(base string, amount int64) string {
	r.t.Helper()
	c := &client{t: r.t, base: base, key: r.shop}
	status, m, err := c.call("POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": %d}`, r.saleID, amount))
	if err != nil || status >= 300 {
		r.t.Fatalf("refund: %d %v %v", status, m, err)
	}
	return fmt.Sprint(m["status"])
}

// refunded is what a sale of reference has refunded, as a server holds
// it.
func refunded(t *testing.T, c *client, reference string) int64 {
	t.Helper()
	page := c.must("GET", "/v1/sales?reference="+reference, "")
	data := page["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("sales of reference %s at %s: %v", reference, c.base, data)
	}
	return num(data[0].(map[string]any)["refunded_amount"])
}

// Key rotation end to end, as docs/gateways.md tells it: an account
// sealed under key A; the key file becomes B then A, and the account
// still refunds; reseal moves it under B; A is dropped, and refunds
// through the account still work, while a server holding only A can no
// longer open it.
func TestKeyRotationEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	eventStores(t, func(t *testing.T, db string) { keyRotation(t, bin, db) })
}

func keyRotation(t *testing.T, bin, db string) {
	dir := t.TempDir()
	// The provider: a Refundry with the payment the shop's sale was
	// paid by, whose Payop dialect refunds it.
	pdb := "sqlite:" + filepath.Join(dir, "payop.db")
	pkey := merchantKey(t, pdb, "payop-side")
	_, pbase, _, _ := startServe(t, bin, "--db", pdb)
	provider := &client{t: t, base: pbase, key: pkey}
	provider.must("POST", "/v1/sales", `{"reference": "P-1", "currency": "USD", "customer": {"email": "ann@example.com"},
		"line_items": [{"name": "Ticket", "unit_amount": 10000}], "payment": {"gateway": "simulator", "reference": "pay-rot-1"}}`)

	keyA := writeKeyFile(t, dir, "a.key", testKeyA)
	keyBA := writeKeyFile(t, dir, "ba.key", testKeyB, testKeyA)
	keyB := writeKeyFile(t, dir, "b.key", testKeyB)
	idA, idB := secrets.KeyID(mustHex(t, testKeyA)), secrets.KeyID(mustHex(t, testKeyB))

	r := &rotationRig{t: t, shop: merchantKey(t, db, "shop")}
	var acct accountLine
	out := gatewayCLI(t, db, `{"token": "`+pkey+`"}`, "add", "--merchant", "shop", "--kind", "payop", "--base-url", pbase, "--secrets-key-file", keyA)
	if err := json.Unmarshal([]byte(out), &acct); err != nil {
		t.Fatalf("gateway add: %v %q", err, out)
	}

	step := func(name, keyFile string, amount int64, want string) {
		t.Helper()
		cmd, base, _, logs := startServe(t, bin, "--db", db, "--secrets-key-file", keyFile)
		if r.saleID == "" {
			c := &client{t: t, base: base, key: r.shop}
			sale := c.must("POST", "/v1/sales", `{"reference": "S-1", "currency": "USD", "customer": {"email": "ann@example.com"},
				"line_items": [{"name": "Ticket", "unit_amount": 10000}], "payment": {"gateway": "payop", "reference": "pay-rot-1"}}`)
			r.saleID = sale["id"].(string)
			if txs := sale["transactions"].([]any); len(txs) != 1 {
				t.Fatalf("sale transactions: %v", txs)
			}
		}
		if got := r.refund(base, amount); got != want {
			t.Errorf("%s: refund status %s, want %s; logs:\n%s", name, got, want, tail(logs.String(), 20))
		}
		stopServe(t, cmd)
	}
	reseal := func(keyFile string, want int, wantKey string) {
		t.Helper()
		var got struct {
			Resealed int    `json:"resealed"`
			KeyID    string `json:"key_id"`
		}
		out := gatewayCLI(t, db, "", "reseal", "--secrets-key-file", keyFile)
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Resealed != want || got.KeyID != wantKey {
			t.Fatalf("gateway reseal printed %q, want %d re-sealed under %s", out, want, wantKey)
		}
	}
	shopLedger := func() int64 {
		t.Helper()
		cmd, base, _, _ := startServe(t, bin, "--db", db, "--secrets-key-file", keyB)
		defer stopServe(t, cmd)
		return refunded(t, &client{t: t, base: base, key: r.shop}, "S-1")
	}

	step("sealed under A", keyA, 1000, "succeeded")
	reseal(keyA, 0, idA)
	step("B first, A kept", keyBA, 1500, "succeeded")
	reseal(keyBA, 1, idB)
	reseal(keyBA, 0, idB) // run again: nothing left under A
	step("A dropped", keyB, 2000, "succeeded")
	if got := refunded(t, provider, "P-1"); got != 4500 {
		t.Errorf("the provider refunded %d, want 4500", got)
	}
	if got := shopLedger(); got != 4500 {
		t.Errorf("the shop refunded %d, want 4500, as the provider did", got)
	}

	// A server that holds only A can no longer open the account: its
	// refund is never sent, and the provider's ledger does not move.
	cmd, base, _, _ := startServe(t, bin, "--db", db, "--secrets-key-file", keyA)
	if got := r.refund(base, 700); got == "succeeded" {
		t.Errorf("a refund through an account re-sealed under B succeeded on a server holding only A")
	} else {
		t.Logf("on a server holding only A, the refund is %s", got)
	}
	stopServe(t, cmd)
	if got := refunded(t, provider, "P-1"); got != 4500 {
		t.Errorf("the provider refunded %d after the refused refund, want 4500", got)
	}
	if acct.ID == "" {
		t.Error("gateway add printed no id")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
