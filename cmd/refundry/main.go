// Command refundry runs the Refundry refunds engine and administers it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "refundry:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake in the command line; it exits 2 with a hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// parseFlags parses a subcommand's flags; a bad flag is a usage error
// (the flag package has already printed what is wrong and the usage).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err.Error()}
	}
	return err
}

const usage = `Refundry: a self-hosted refunds engine.

Usage:
  refundry serve [--addr :8080] [--db URL] [--demo]
  refundry merchant create --slug SLUG --name NAME [--currency USD] [--db URL]
  refundry key create --merchant SLUG --name NAME --scope read|refund|write [--expires RFC3339] [--db URL]
  refundry key list|revoke --merchant SLUG [--id KEY_ID] [--db URL]
  refundry backup --out FILE [--db sqlite:PATH]
  refundry bench [--target URL --key KEY | --db URL] [--concurrency 64] [--refunds 10000] [--json]
  refundry refund --csv FILE [--out OUTCOME.csv] --target URL --key KEY

--db is sqlite:PATH (or a bare path) or postgres://...; default sqlite:refundry.db.
Environment: every flag has a twin, REFUNDRY_ and its name in capitals
(--db is REFUNDRY_DB, --stripe-api-base is REFUNDRY_STRIPE_API_BASE); a flag
on the command line wins. "refundry COMMAND -h" lists them.
Run "refundry COMMAND -h" for a command's flags.
`

// run is the whole program, so that tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
		fmt.Fprint(stderr, usage)
		return usageError{"merchant takes a subcommand: create"}
	case "key":
		return (&keyCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return (&benchCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "refund":
		return (&refundCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return (&backupCommand{}).Run(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
