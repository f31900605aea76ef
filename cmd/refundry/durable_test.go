package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry/internal/pgtest"
)

// TestInvariant3AsyncCommitRefused: on a PostgreSQL database whose commits
// are not durable when they return (synchronous_commit off), serve and the
// commands that write refuse to start and say why and how to go on, unless
// --allow-async-commit or its twin accepts the risk; serve then warns.
func TestInvariant3AsyncCommitRefused(t *testing.T) {
	db := pgtest.NewDatabase(t)
	if strings.Contains(db, "?") {
		db += "&synchronous_commit=off"
	} else {
		db += "?synchronous_commit=off"
	}
	serve := []string{"serve", "--addr", "127.0.0.1:0", "--rate-limit", "0", "--db", db}
	create := []string{"merchant", "create", "--slug", "async", "--name", "Async", "--db", db}
	for _, tc := range []struct {
		name   string
		args   []string
		allow  string // REFUNDRY_ALLOW_ASYNC_COMMIT
		starts bool
		code   int // exit code when refused
	}{
		{name: "Serve", args: serve, code: 1},
		{name: "MerchantCreate", args: create, code: 1},
		{name: "ServeEnvNotBool", args: serve, allow: "maybe", code: 2},
		{name: "ServeEnvFalse", args: serve, allow: "false", code: 1},
		{name: "ServeFlag", args: append(serve[:len(serve):len(serve)], "--allow-async-commit"), starts: true},
		{name: "ServeEnv", args: serve, allow: "true", starts: true},
		{name: "MerchantCreateEnv", args: create, allow: "true", starts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "REFUNDRY_ALLOW_ASYNC_COMMIT" {
					return tc.allow
				}
				return ""
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			logs := &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- run(ctx, tc.args, getenv, io.Discard, logs) }()
			if !tc.starts {
				err := <-done
				if err == nil || exitCode(err) != tc.code {
					t.Fatalf("run: %v (exit %d), want it refused with exit %d", err, exitCode(err), tc.code)
				}
				if want := []string{"synchronous_commit", "--allow-async-commit"}; tc.code == 1 &&
					(!strings.Contains(err.Error(), want[0]) || !strings.Contains(err.Error(), want[1])) {
					t.Errorf("refused with %q; want it to name %q and %q", err, want[0], want[1])
				}
				return
			}
			if tc.args[0] == "serve" {
				logs.await(t, listenLine)
				if !strings.Contains(logs.String(), "commits are not durable") {
					t.Errorf("serve started without a warning; logs:\n%s", logs.String())
				}
				cancel()
			}
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
		})
	}
}
