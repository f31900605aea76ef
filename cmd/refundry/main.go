// Command refundry runs the Refundry refunds engine and administers it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "refundry:", err)
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake in the command line; it exits 2 with a hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	var f failedRowsError
	if errors.As(err, &f) {
		return exitFailedRows
	}
	return 1
}

// parseFlags parses a subcommand's flags; a bad flag is a usage error
// (the flag package has already printed what is wrong and the usage).
// Asked for with -h, the usage is the answer: it goes to stdout, where
// "refundry serve -h | less" finds it, and run exits 0.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = buf.WriteTo(stdout)
		return err
	}
	_, _ = buf.WriteTo(out)
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}

const usage = `Refundry: a self-hosted refunds engine.

Usage:
  refundry serve [--addr :8080] [--db URL] [--demo]
  refundry merchant create --slug SLUG --name NAME [--currency USD] [--db URL]
  refundry key create --merchant SLUG --name NAME --scope read|refund|approve|write [--expires RFC3339] [--db URL]
  refundry key list|revoke --merchant SLUG [--id KEY_ID] [--db URL]
  refundry policy show|set --merchant SLUG [--max-age-days N|none] [--approval-threshold USD=100000 ...] [--db URL]
  refundry user add|list|disable --merchant SLUG [--email EMAIL --name NAME --role ROLE] [--db URL]
  refundry gateway add|list|remove|reseal [--merchant SLUG] [--kind KIND --credential NAME=VALUE ...] [--secrets-key-file FILE] [--db URL]
  refundry backup --out FILE [--db sqlite:PATH]
  refundry bench [--target URL --key KEY | --db URL] [--concurrency 64] [--refunds 10000] [--json]
  refundry refund --csv FILE [--out OUTCOME.csv] --target URL --key KEY
  refundry reconcile [--since 72h] [--merchant SLUG] [--db URL] [--json]
  refundry export refunds --since DATE [--until DATE] --merchant SLUG [--db URL] [--out FILE]
  refundry version

--db is sqlite:PATH (or a bare path) or postgres://...; default sqlite:refundry.db.
Environment: every flag has a twin, REFUNDRY_ and its name in capitals
(--db is REFUNDRY_DB, --stripe-api-base is REFUNDRY_STRIPE_API_BASE), but
for names that mean one thing per command (REFUNDRY_MERCHANT_NAME,
REFUNDRY_KEY_NAME, REFUNDRY_KEY_ID, REFUNDRY_BACKUP_OUT, REFUNDRY_REFUND_OUT,
REFUNDRY_EXPORT_SINCE, REFUNDRY_EXPORT_UNTIL, REFUNDRY_EXPORT_OUT,
REFUNDRY_GATEWAY_KIND, REFUNDRY_GATEWAY_BASE_URL, REFUNDRY_GATEWAY_CREDENTIAL,
REFUNDRY_GATEWAY_ID)
and bench's (REFUNDRY_BENCH_...); a flag on the command line wins.
"refundry COMMAND -h" lists them.
Run "refundry COMMAND -h" for a command's flags; "refundry version" prints
the version and the source revision it was built from.
`

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// versionLine names the build: the module's version ("(devel)" for a
// build from a checkout) and the VCS revision, time and state the go
// command stamped into the binary, so that a bug report can name the
// exact source.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "refundry (no build information)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	line := "refundry " + version
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	if rev := s["vcs.revision"]; rev != "" {
		line += " revision " + rev
		if s["vcs.modified"] == "true" {
			line += " (modified)"
		}
		if t := s["vcs.time"]; t != "" {
			line += " " + t
		}
	} else {
		line += " revision unknown"
	}
	return line + " " + bi.GoVersion
}

// run is the whole program, so that tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		// Help was asked for and given: that is success.
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return (&serveCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "merchant":
		if len(args) > 1 && args[1] == "create" {
			return (&merchantCreateCommand{}).Run(ctx, args[2:], getenv, stdout, stderr)
		}
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(stderr, usage)
		return usageError{"merchant takes a subcommand: create"}
	case "key":
		return (&keyCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "policy":
		return (&policyCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return (&userCommand{stdin: os.Stdin}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "gateway":
		return (&gatewayCommand{stdin: os.Stdin}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return (&benchCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "refund":
		return (&refundCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return (&backupCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "reconcile":
		return (&reconcileCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		if len(args) > 1 && args[1] == "refunds" {
			return (&exportRefundsCommand{}).Run(ctx, args[2:], getenv, stdout, stderr)
		}
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(stderr, usage)
		return usageError{"export takes a subcommand: refunds"}
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
