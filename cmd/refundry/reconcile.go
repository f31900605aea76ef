package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/stripe"
)

// reconcileWindow is how far back serve's sweep looks for payments with
// activity: long enough to outlast a weekend of missed webhooks.
const reconcileWindow = 72 * time.Hour

type reconcileCommand struct{}

func (c *reconcileCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refundry reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.Duration("since", reconcileWindow, "compare the payments with activity (the sale, a refund) in this last span")
	slug := fs.String("merchant", "", "only this merchant's payments, by slug (default: every merchant's)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	stripeKey := fs.String("stripe-key", "", "Stripe secret key: Stripe's payments are compared (env REFUNDRY_STRIPE_KEY)")
	stripeBase := fs.String("stripe-api-base", "", "Stripe API base URL (env REFUNDRY_STRIPE_API_BASE; default Stripe itself)")
	asJSON := fs.Bool("json", false, "print the runs as JSON, one object a line")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: refundry reconcile [--since 72h] [--merchant SLUG] [--db URL] [--json]

Lists the gateway's refunds of each payment with recent activity, applies
what the ledger lacks (a refund made at the gateway is adopted, a late
failure corrected), stores one run per merchant and prints its counts and
every mismatch it could not resolve. Stripe is compared when --stripe-key
is given; the simulator's refunds live in serve's memory, so serve's own
sweep (--reconcile-interval) compares those.`)
		fs.PrintDefaults()
	}
	if err := parseFlagsEnv(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("reconcile takes no arguments, got %q", fs.Arg(0))}
	}
	if *since <= 0 {
		return usageError{fmt.Sprintf("--since must be above zero, got %v", *since)}
	}
	if *stripeBase != "" && *stripeKey == "" {
		return usageError{"--stripe-api-base needs --stripe-key"}
	}
	var gateways []refundry.Gateway
	if *stripeKey != "" {
		g, err := stripe.New(stripe.Config{SecretKey: *stripeKey, APIBase: *stripeBase})
		if err != nil {
			return usageError{"--stripe-key/--stripe-api-base: " + refundry.ErrorMessage(err)}
		}
		gateways = append(gateways, g)
	}
	store, err := openStore(ctx, dbFlag(*db, getenv), getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	logger := slog.New(edge.LogHandler{Handler: slog.NewTextHandler(stderr, nil)})
	eng := engine.New(store, logger, gateways...)
	merchantID := ""
	if *slug != "" {
		m, err := eng.FindMerchantBySlug(ctx, *slug)
		if err != nil {
			if refundry.ErrorCode(err) == refundry.ENOTFOUND {
				return usageError{fmt.Sprintf("--merchant %q: no such merchant", *slug)}
			}
			return err
		}
		merchantID = m.ID
	}
	runs, err := eng.Reconcile(ctx, merchantID, eng.Now().Add(-*since), engine.TriggerCommand)
	if err != nil {
		return fmt.Errorf("reconcile: %s", refundry.ErrorMessage(err))
	}
	if len(gateways) == 0 && !*asJSON {
		fmt.Fprintln(stderr, "refundry: no gateway to compare with: give --stripe-key (the simulator is compared by serve's sweep)")
	}
	return printRuns(stdout, runs, *asJSON)
}

// runJSON is a run as the command prints it: with its merchant, which the
// API leaves out since a key sees only its own.
type runJSON struct {
	Merchant string `json:"merchant"`
	*refundry.ReconciliationRun
}

func printRuns(w io.Writer, runs []*refundry.ReconciliationRun, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range runs {
			if err := enc.Encode(runJSON{r.MerchantID, r}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no payments with activity to compare")
		return err
	}
	for _, r := range runs {
		fmt.Fprintf(w, "run %s merchant %s: %d charges, %d matched, %d adopted, %d corrected, %d mismatched\n",
			r.ID, r.MerchantID, r.Charges, r.Matched, r.Adopted, r.Corrected, r.Mismatched)
		for _, m := range r.Mismatches {
			fmt.Fprintf(w, "  %s sale %s transaction %s refund %s gateway refund %s: %s\n",
				m.Kind, orDash(m.SaleID), orDash(m.TransactionID), orDash(m.RefundID), orDash(m.GatewayRefundID), m.Detail)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
