package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
)

// policyCommand is "refundry policy show|set": a merchant's refund
// policy, read and changed on the database directly, as "key" does. A
// change is audited with the actor "cli".
type policyCommand struct{}

const policyUsage = `Usage:
  refundry policy show --merchant SLUG [--db URL]
  refundry policy set --merchant SLUG [--max-age-days N|none] [--max-refunds-per-sale N|none]
                      [--approval-threshold USD=100000,JPY=none] [--approval-for-sources bulk,dialects|none]
                      [--approval-expiry-hours N|none] [--db URL]

set changes only the rules it names; "none" removes a rule. Amounts of
--approval-threshold are minor units (100000 is USD 1,000.00); a refund
at or above its currency's threshold waits for approval. Both print the
policy as JSON.
`

func (c *policyCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, policyUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "show" && args[0] != "set") {
		fmt.Fprint(stderr, policyUsage)
		return usageError{"policy takes a subcommand: show or set"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("refundry policy "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("merchant", "", "the merchant's slug (required)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	var change refundry.PolicyChange
	if sub == "set" {
		fs.Func("max-age-days", "refuse refunds this many days after the sale, or none", intChange(&change.MaxAgeDays))
		fs.Func("max-refunds-per-sale", "refuse a refund once the sale has this many, or none", intChange(&change.MaxRefundsPerSale))
		fs.Func("approval-threshold", "CUR=MINOR,...: a refund at or above it needs approval; CUR=none removes a currency's, none all", thresholdChange(&change.ApprovalThreshold))
		fs.Func("approval-for-sources", "apply the thresholds only to refunds from these sources (native, dashboard, bulk, dialects, keepup, ...), or none for every source", sourcesChange(&change.ApprovalForSources))
		fs.Func("approval-expiry-hours", "release a refund nobody approved after this many hours, or none for the default (72)", intChange(&change.ApprovalExpiryHours))
	}
	fs.Usage = func() { fmt.Fprint(fs.Output(), policyUsage); fs.PrintDefaults() }
	if err := parseFlagsEnv(fs, args[1:], getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("policy %s takes no arguments, got %q", sub, fs.Arg(0))}
	}
	if *slug == "" {
		fs.Usage()
		return usageError{fmt.Sprintf("policy %s needs --merchant SLUG", sub)}
	}
	if sub == "set" && change.Empty() {
		fs.Usage()
		return usageError{"policy set changes nothing: name at least one rule"}
	}
	store, err := openStore(ctx, dbFlag(*db, getenv), getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(store, slog.New(slog.NewTextHandler(stderr, nil)))
	m, err := eng.FindMerchantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("merchant %q: %s", *slug, refundry.ErrorMessage(err))
	}
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorCLI, Method: "policy " + sub})
	var p *refundry.RefundPolicy
	if sub == "set" {
		p, err = eng.SetRefundPolicy(ctx, m.ID, change)
		if err != nil {
			return policyFlagError(err)
		}
	} else if p, err = eng.RefundPolicy(ctx, m.ID); err != nil {
		return fmt.Errorf("policy: %s", refundry.ErrorMessage(err))
	}
	return json.NewEncoder(stdout).Encode(policyJSON(m.Slug, p))
}

// none is the word that removes a rule.
const none = "none"

// intChange reads N or none into a change of a whole-number rule.
// Whether N is in range is the policy's to say (RefundPolicy.Apply).
func intChange(dst *refundry.Change[int64]) func(string) error {
	return func(s string) error {
		*dst = refundry.Change[int64]{Set: true}
		if strings.TrimSpace(s) == none {
			return nil
		}
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number or none, got %q", s)
		}
		dst.Value = &v
		return nil
	}
}

// thresholdChange reads CUR=MINOR pairs (CUR=none removes one), comma
// separated or in repeated flags, or none alone for every currency.
func thresholdChange(dst *refundry.Change[map[string]*int64]) func(string) error {
	return func(s string) error {
		if strings.TrimSpace(s) == none {
			*dst = refundry.Change[map[string]*int64]{Set: true}
			return nil
		}
		if dst.Value == nil {
			*dst = refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{}}
		}
		for _, pair := range strings.Split(s, ",") {
			cur, amount, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || cur == "" {
				return fmt.Errorf("want CURRENCY=MINOR_UNITS (USD=100000) or CURRENCY=none, got %q", pair)
			}
			cur = strings.ToUpper(strings.TrimSpace(cur))
			if strings.TrimSpace(amount) == none {
				(*dst.Value)[cur] = nil
				continue
			}
			v, err := strconv.ParseInt(strings.TrimSpace(amount), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: want a whole number of minor units (100000 is 1,000.00 in a currency of cents) or none, got %q", cur, amount)
			}
			(*dst.Value)[cur] = &v
		}
		return nil
	}
}

// sourcesChange reads a comma-separated list of sources, or none.
func sourcesChange(dst *refundry.Change[[]string]) func(string) error {
	return func(s string) error {
		*dst = refundry.Change[[]string]{Set: true}
		if strings.TrimSpace(s) == none {
			return nil
		}
		var list []string
		for _, src := range strings.Split(s, ",") {
			if src = strings.TrimSpace(src); src != "" {
				list = append(list, src)
			}
		}
		if len(list) == 0 {
			return fmt.Errorf("want sources such as bulk,dialects, or none")
		}
		dst.Value = &list
		return nil
	}
}

// policyFlagError says which flag carried a value the policy refuses:
// the policy names its JSON fields (approval_threshold.USD), the user
// typed flags.
func policyFlagError(err error) error {
	param := refundry.ErrorParam(err)
	if refundry.ErrorCode(err) != refundry.EINVALID || param == "" {
		return fmt.Errorf("policy set: %s", refundry.ErrorMessage(err))
	}
	field, _, _ := strings.Cut(param, ".")
	field, _, _ = strings.Cut(field, "[")
	return usageError{fmt.Sprintf("--%s: %s", strings.ReplaceAll(field, "_", "-"), refundry.ErrorMessage(err))}
}

// policyLine is how the command line shows a policy: the API's fields,
// and the merchant's slug.
type policyLine struct {
	Merchant string `json:"merchant"`
	*refundry.RefundPolicy
	Updated *string `json:"updated"`
}

func policyJSON(slug string, p *refundry.RefundPolicy) policyLine {
	out := policyLine{Merchant: slug, RefundPolicy: p}
	if !p.Updated.IsZero() {
		t := p.Updated.UTC().Format(time.RFC3339)
		out.Updated = &t
	}
	return out
}
