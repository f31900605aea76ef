package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/sqlite"
)

// cliRun runs refundry with args on db and returns its output, failing
// the test on an error.
func cliRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append(args, "--db", db), noEnv, &out, &errb); err != nil {
		t.Fatalf("refundry %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// refundry policy set|show: a flag left out leaves its rule, none
// removes it, and the policy the engine applies is the one printed. A
// value the policy refuses exits 2 naming the flag, and changes nothing.
func TestPolicyCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "policy.db")
	cliRun(t, db, "merchant", "create", "--slug", "ruled", "--name", "Ruled")
	type policy struct {
		Merchant            string            `json:"merchant"`
		MaxAgeDays          *int64            `json:"max_age_days"`
		MaxRefundsPerSale   *int64            `json:"max_refunds_per_sale"`
		ApprovalThreshold   map[string]*int64 `json:"approval_threshold"`
		ApprovalForSources  []string          `json:"approval_for_sources"`
		ApprovalExpiryHours *int64            `json:"approval_expiry_hours"`
		Updated             *string           `json:"updated"`
	}
	parse := func(out string) policy {
		t.Helper()
		var p policy
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("policy output %q: %v", out, err)
		}
		return p
	}
	if p := parse(cliRun(t, db, "policy", "show", "--merchant", "ruled")); p.Merchant != "ruled" || p.MaxAgeDays != nil || p.ApprovalThreshold != nil || p.Updated != nil {
		t.Fatalf("a policy never set: %+v", p)
	}
	p := parse(cliRun(t, db, "policy", "set", "--merchant", "ruled", "--max-age-days", "90", "--max-refunds-per-sale", "3",
		"--approval-threshold", "USD=100000,JPY=10000", "--approval-for-sources", "bulk,dialects", "--approval-expiry-hours", "24"))
	if p.MaxAgeDays == nil || *p.MaxAgeDays != 90 || p.MaxRefundsPerSale == nil || *p.MaxRefundsPerSale != 3 ||
		p.ApprovalThreshold["USD"] == nil || *p.ApprovalThreshold["USD"] != 100000 || *p.ApprovalThreshold["JPY"] != 10000 ||
		strings.Join(p.ApprovalForSources, ",") != "bulk,dialects" || *p.ApprovalExpiryHours != 24 || p.Updated == nil {
		t.Fatalf("policy set printed %+v", p)
	}
	// Left out: unchanged; none: removed; one currency removed alone.
	p = parse(cliRun(t, db, "policy", "set", "--merchant", "ruled", "--max-age-days", "none", "--approval-threshold", "JPY=none"))
	if p.MaxAgeDays != nil || p.MaxRefundsPerSale == nil || *p.MaxRefundsPerSale != 3 || len(p.ApprovalThreshold) != 1 || p.ApprovalThreshold["USD"] == nil {
		t.Fatalf("after removing the window and JPY: %+v", p)
	}
	if shown := parse(cliRun(t, db, "policy", "show", "--merchant", "ruled")); shown.MaxRefundsPerSale == nil || *shown.MaxRefundsPerSale != 3 || len(shown.ApprovalThreshold) != 1 {
		t.Fatalf("policy show after set: %+v", shown)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-age-days", "0"}, "--max-age-days"},
		{[]string{"--max-age-days", "-3"}, "--max-age-days"},
		{[]string{"--max-refunds-per-sale", "1.5"}, "-max-refunds-per-sale"},
		{[]string{"--approval-threshold", "USD=12.50"}, "-approval-threshold"},
		{[]string{"--approval-threshold", "XXX=100"}, "--approval-threshold"},
		{[]string{"--approval-threshold", "USD=-1"}, "--approval-threshold"},
		{[]string{"--approval-for-sources", "fax"}, "--approval-for-sources"},
		{[]string{"--approval-expiry-hours", "lots"}, "-approval-expiry-hours"},
		{nil, "changes nothing"},
	} {
		args := append([]string{"policy", "set", "--merchant", "ruled", "--db", db}, c.args...)
		err := run(context.Background(), args, noEnv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("policy set %v: %v (exit %d), want a usage error naming %s", c.args, err, exitCode(err), c.want)
		}
	}
	if after := parse(cliRun(t, db, "policy", "show", "--merchant", "ruled")); after.MaxRefundsPerSale == nil || *after.MaxRefundsPerSale != 3 || len(after.ApprovalThreshold) != 1 || *after.ApprovalExpiryHours != 24 {
		t.Fatalf("refused changes changed the policy: %+v", after)
	}
	for _, bad := range [][]string{{"policy"}, {"policy", "drop"}, {"policy", "show"}} {
		if err := run(context.Background(), bad, noEnv, io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("refundry %v: %v, want a usage error", bad, err)
		}
	}
	// Each change is audited as the command line's.
	store, err := sqlite.Open(context.Background(), strings.TrimPrefix(db, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := store.FindMerchantBySlug(context.Background(), "ruled")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := store.ListAuditLog(context.Background(), m.ID, refundry.AuditFilter{Action: refundry.AuditPolicyUpdate})
	if err != nil || len(entries) != 2 || entries[0].Actor.KeyID != refundry.ActorCLI {
		t.Fatalf("policy audit rows: %d, %v", len(entries), err)
	}
}

// refundry user add|list|disable: the password comes from a file or the
// first line of stdin, never argv; list never shows a hash; a disabled
// user can no longer sign in.
func TestUserCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "users.db")
	cliRun(t, db, "merchant", "create", "--slug", "people", "--name", "People")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse battery\nignored second line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ana struct{ ID, Name, Email, Role, Created string }
	if err := json.Unmarshal([]byte(cliRun(t, db, "user", "add", "--merchant", "people", "--email", "ana@example.com", "--name", "Ana",
		"--role", "approver", "--password-file", pwFile)), &ana); err != nil {
		t.Fatal(err)
	}
	if ana.Role != "approver" || ana.Email != "ana@example.com" || ana.ID == "" {
		t.Fatalf("user add printed %+v", ana)
	}
	// From stdin's first line.
	var out, errb bytes.Buffer
	cmd := &userCommand{stdin: strings.NewReader("another long password\r\n")}
	if err := cmd.Run(ctx, []string{"add", "--merchant", "people", "--email", "ben@example.com", "--name", "Ben", "--role", "viewer", "--db", db}, noEnv, &out, &errb); err != nil {
		t.Fatalf("user add from stdin: %v\n%s", err, errb.String())
	}

	list := cliRun(t, db, "user", "list", "--merchant", "people")
	if strings.Count(list, "\n") != 2 || strings.Contains(list, "password") || strings.Contains(list, "$2a$") {
		t.Fatalf("user list printed %s", list)
	}
	store, err := sqlite.Open(ctx, strings.TrimPrefix(db, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng := engine.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, _, err := eng.SignIn(ctx, "people", "ANA@example.com", "correct horse battery"); err != nil {
		t.Fatalf("Ana signs in with the password from the file's first line: %v", err)
	}
	if _, _, err := eng.SignIn(ctx, "people", "ben@example.com", "another long password"); err != nil {
		t.Fatalf("Ben signs in with the password from stdin, its line ending dropped: %v", err)
	}

	cliRun(t, db, "user", "disable", "--merchant", "people", "--email", "ana@example.com")
	if _, _, err := eng.SignIn(ctx, "people", "ana@example.com", "correct horse battery"); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED {
		t.Fatalf("a disabled user signs in: %v", err)
	}
	if list := cliRun(t, db, "user", "list", "--merchant", "people"); !strings.Contains(list, `"disabled_at"`) {
		t.Fatalf("user list does not show Ana disabled: %s", list)
	}

	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"add", "--merchant", "people", "--email", "c@example.com", "--name", "C", "--role", "boss"}, "a long enough password\n", "--role"},
		{[]string{"add", "--merchant", "people", "--email", "c@example.com", "--name", "C", "--role", "agent"}, "short\n", "password"},
		{[]string{"add", "--merchant", "people", "--email", "c@example.com", "--name", "C", "--role", "agent"}, "", "no password"},
		{[]string{"add", "--merchant", "people", "--email", "not-an-email", "--name", "C", "--role", "agent"}, "a long enough password\n", "--email"},
		{[]string{"add", "--merchant", "people", "--email", "c@example.com", "--role", "agent"}, "a long enough password\n", "--name"},
		{[]string{"add", "--merchant", "people", "--email", "c@example.com", "--name", "C", "--role", "agent", "hunter2hunter2"}, "", "no arguments"},
	} {
		cmd := &userCommand{stdin: strings.NewReader(c.stdin)}
		err := cmd.Run(ctx, append(c.args, "--db", db), noEnv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("user %v: %v (exit %d), want a usage error naming %s", c.args, err, exitCode(err), c.want)
		}
	}
	// The same email in another case is taken.
	cmd = &userCommand{stdin: strings.NewReader("a long enough password\n")}
	if err := cmd.Run(ctx, []string{"add", "--merchant", "people", "--email", "BEN@example.com", "--name", "Ben 2", "--role", "agent", "--db", db}, noEnv, io.Discard, io.Discard); err == nil {
		t.Error("a second user with Ben's email was added")
	}
	if list := cliRun(t, db, "user", "list", "--merchant", "people"); strings.Count(list, "\n") != 2 {
		t.Fatalf("refused adds added users: %s", list)
	}
}

// A key of scope approve is made from the command line and approves a
// refund another key asked for; the key that asked cannot.
func TestKeyCreateApproveScope(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	amount := int64(100)
	if _, err := env.Engine.SetRefundPolicy(ctx, env.A.ID, refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{
		Set: true, Value: &map[string]*int64{"USD": &amount}}}); err != nil {
		t.Fatal(err)
	}
	key, _, err := env.Engine.CreateAPIKey(ctx, env.A.ID, engine.KeySpec{Name: "approver", Scope: refundry.ScopeApprove})
	if err != nil || key.Scope != refundry.ScopeApprove {
		t.Fatalf("CreateAPIKey(approve) = %+v, %v", key, err)
	}
	sale := env.Sale(testenv.SaleSpec{})
	asker := refundry.WithActor(ctx, refundry.Actor{KeyID: "keyasker000000000001"})
	res, err := env.Engine.Refund(asker, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil || res.Refunds[0].Status != refundry.RefundRequiresApproval {
		t.Fatalf("refund: %+v, %v", res, err)
	}
	id := res.Refunds[0].ID
	if _, err := env.Engine.Approve(asker, env.A.ID, id, ""); refundry.ErrorCode(err) != refundry.EFORBIDDEN {
		t.Fatalf("the asking key approves: %v", err)
	}
	r, err := env.Engine.Approve(refundry.WithActor(ctx, refundry.Actor{KeyID: key.ID}), env.A.ID, id, "ok")
	if err != nil || r.Status != refundry.RefundSucceeded || r.DecidedBy != "key:"+key.ID {
		t.Fatalf("approve with the approve key: %+v, %v", r, err)
	}

	// And from the command line.
	db := "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	cliRun(t, db, "merchant", "create", "--slug", "k", "--name", "K")
	var created struct{ Scope string }
	if err := json.Unmarshal([]byte(cliRun(t, db, "key", "create", "--merchant", "k", "--name", "second-pair", "--scope", "approve")), &created); err != nil || created.Scope != "approve" {
		t.Fatalf("key create --scope approve: %+v, %v", created, err)
	}
}

// The approval and review queues in /metrics: sizes and the age of the
// oldest refund in each follow the ledger, 0 when empty.
func TestRefundQueueMetrics(t *testing.T) {
	env := testenv.New(t)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "keyasker000000000001"})
	expect := func(when string, approval, review float64) {
		t.Helper()
		got := scrape(t, srv.URL)
		if got["refundry_refund_queue_scrape_ok"] != 1 {
			t.Fatalf("%s: queues not read", when)
		}
		for queue, want := range map[string]float64{"approval": approval, "review": review} {
			size, ok := got[`refundry_refund_queue_size{queue="`+queue+`"}`]
			if !ok || size != want {
				t.Errorf("%s: %s queue size %v (present %v), want %v", when, queue, size, ok, want)
			}
			oldest, ok := got[`refundry_refund_queue_oldest_seconds{queue="`+queue+`"}`]
			if !ok || want == 0 && oldest != 0 {
				t.Errorf("%s: %s queue oldest %v (present %v) with %v waiting", when, queue, oldest, ok, want)
			}
		}
	}
	expect("empty", 0, 0)
	amount := int64(100)
	if _, err := env.Engine.SetRefundPolicy(ctx, env.A.ID, refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{
		Set: true, Value: &map[string]*int64{"USD": &amount}}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		sale := env.Sale(testenv.SaleSpec{})
		res, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Refunds[0].ID)
	}
	time.Sleep(1100 * time.Millisecond) // the oldest has waited a second
	expect("two awaiting approval", 2, 0)
	got := scrape(t, srv.URL)
	if age := got[`refundry_refund_queue_oldest_seconds{queue="approval"}`]; age < 1 {
		t.Errorf("oldest awaiting approval: %v s, want at least 1", age)
	}
	approver := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "keyapprover000000001"})
	if _, err := env.Engine.Reject(approver, env.A.ID, ids[0], "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Engine.Reject(approver, env.A.ID, ids[1], "no"); err != nil {
		t.Fatal(err)
	}
	expect("both rejected", 0, 0)
	env.Store.Close()
	if got := scrape(t, srv.URL); got["refundry_refund_queue_scrape_ok"] != 0 {
		t.Errorf("closed database: refund_queue_scrape_ok = %v, want 0", got["refundry_refund_queue_scrape_ok"])
	}
}

// serve refuses review limits and a sweep interval that cannot work, from
// a flag or its twin, before it opens anything.
func TestServeControlFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--review-after-attempts", "-1"}, nil, "--review-after-attempts"},
		{[]string{"--review-after", "-1h"}, nil, "--review-after"},
		{[]string{"--approval-sweep-interval", "0s"}, nil, "--approval-sweep-interval"},
		{nil, map[string]string{"REFUNDRY_REVIEW_AFTER": "soon"}, "REFUNDRY_REVIEW_AFTER"},
		{nil, map[string]string{"REFUNDRY_APPROVAL_SWEEP_INTERVAL": "-5s"}, "--approval-sweep-interval"},
	} {
		getenv := func(k string) string { return c.env[k] }
		db := "sqlite:" + filepath.Join(t.TempDir(), "never.db")
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, c.args...), getenv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %v %v: %v (exit %d), want a usage error naming %s", c.args, c.env, err, exitCode(err), c.want)
		}
		if _, statErr := os.Stat(strings.TrimPrefix(db, "sqlite:")); statErr == nil {
			t.Errorf("serve %v %v opened its database before refusing", c.args, c.env)
		}
	}
}
