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
	"github.com/refundry/refundry/engine"
)

type merchantCreateCommand struct{}

func (c *merchantCreateCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refundry merchant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("slug", "", "the merchant's slug, e.g. my-store (required)")
	name := fs.String("name", "", "the merchant's display name (required)")
	currency := fs.String("currency", "USD", "default ISO 4217 currency of its sales")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: refundry merchant create --slug SLUG --name NAME [--currency USD] [--db URL]\n\nPrints the merchant and its API key as JSON; the key is shown only this once.")
		fs.PrintDefaults()
	}
	if err := parseFlagsEnv(fs, args, getenv, stdout); err != nil {
		return err
	}
	if *slug == "" || *name == "" {
		fs.Usage()
		return usageError{"--slug and --name are required"}
	}
	store, err := openStore(ctx, dbFlag(*db, getenv), getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(store, slog.New(slog.NewTextHandler(stderr, nil)))
	m := &refundry.Merchant{Slug: *slug, Name: *name, Currency: *currency}
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorCLI, Method: "merchant create"})
	key, err := eng.CreateMerchant(ctx, m)
	if err != nil {
		// A value the engine refuses is named by the flag that carried
		// it, as the user typed it.
		if f, ok := merchantFlags[refundry.ErrorParam(err)]; ok && refundry.ErrorCode(err) == refundry.EINVALID {
			return usageError{fmt.Sprintf("%s: %s", f, refundry.ErrorMessage(err))}
		}
		return fmt.Errorf("create merchant: %s", refundry.ErrorMessage(err))
	}
	return printMerchant(stdout, m, key)
}

// merchantFlags are the flags that carry each field the engine may refuse.
var merchantFlags = map[string]string{"slug": "--slug", "name": "--name", "currency": "--currency"}

// merchantJSON is how the command line shows a merchant.
type merchantJSON struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Created  string `json:"created"`
}

func printMerchant(w io.Writer, m *refundry.Merchant, key string) error {
	enc := json.NewEncoder(w)
	return enc.Encode(struct {
		Merchant merchantJSON `json:"merchant"`
		APIKey   string       `json:"api_key"`
	}{merchantJSON{m.ID, m.Slug, m.Name, m.Currency, m.Created.UTC().Format(time.RFC3339)}, key})
}
