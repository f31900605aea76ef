package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

type exportRefundsCommand struct{}

// Run writes a merchant's refunds made in [--since, --until) as CSV,
// through the engine's export (the writer GET /v1/refunds/export uses),
// to --out or standard output.
func (c *exportRefundsCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refundry export refunds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.String("since", "", "first day or time: 2026-01-31 (UTC midnight) or RFC 3339 (required)")
	until := fs.String("until", "", "day or time the export stops before, as --since (default: now)")
	slug := fs.String("merchant", "", "the merchant, by slug (required)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	out := fs.String("out", "", "file to write; replaced whole once the export is complete (default: standard output)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: refundry export refunds --since DATE [--until DATE] --merchant SLUG [--db URL] [--out FILE]

Writes the merchant's refunds created from --since up to (not including)
--until as CSV, newest first, with the columns of GET /v1/refunds/export:
id, created, sale, transaction, amount, amount_major, currency, status,
reason, description, source, gateway, gateway_refund_id, fee, lines.`)
		fs.PrintDefaults()
	}
	if err := parseFlagsEnv(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("export refunds takes no arguments, got %q", fs.Arg(0))}
	}
	if *since == "" || *slug == "" {
		fs.Usage()
		return usageError{"--since and --merchant are required"}
	}
	from, err := parseDay("--since", *since)
	if err != nil {
		return err
	}
	to := time.Now().UTC()
	if *until != "" {
		if to, err = parseDay("--until", *until); err != nil {
			return err
		}
	}
	if !from.Before(to) {
		return usageError{fmt.Sprintf("--until (%s) must come after --since (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))}
	}
	store, err := openStore(ctx, dbFlag(*db, getenv), getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(store, slog.New(edge.LogHandler{Handler: slog.NewTextHandler(stderr, nil)}))
	m, err := eng.FindMerchantBySlug(ctx, *slug)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		return usageError{fmt.Sprintf("--merchant %q: no such merchant", *slug)}
	} else if err != nil {
		return err
	}
	f := refundry.RefundFilter{CreatedFrom: from, CreatedTo: to}
	if *out == "" {
		return eng.ExportRefundsCSV(ctx, m.ID, f, stdout, nil)
	}
	// Written beside the file and renamed over it only when whole, so
	// that a failed export never leaves a short file looking complete.
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone by then once renamed
	if err := eng.ExportRefundsCSV(ctx, m.ID, f, tmp, nil); err != nil {
		tmp.Close()
		return fmt.Errorf("export refunds: %s", refundry.ErrorMessage(err))
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), *out)
}

// parseDay reads a day (2026-01-31, midnight UTC) or an RFC 3339 time.
func parseDay(flagName, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageError{fmt.Sprintf("%s %q: want a day (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z)", flagName, s)}
}
