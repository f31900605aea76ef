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

// keyCommand is "refundry key create|list|revoke": a merchant's API keys,
// managed on the database directly, as "merchant create" does. Its writes
// are audited with the actor "cli".
type keyCommand struct{}

const keyUsage = `Usage:
  refundry key create --merchant SLUG --name NAME --scope read|refund|write [--expires RFC3339] [--db URL]
  refundry key list   --merchant SLUG [--db URL]
  refundry key revoke --merchant SLUG --id KEY_ID [--db URL]

create prints the key as JSON with its secret, shown only this once; list
prints one JSON object a line, newest first, never a secret.
`

func (c *keyCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprint(stderr, keyUsage)
		return usageError{"key takes a subcommand: create, list or revoke"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("refundry key "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("merchant", "", "the merchant's slug (required)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	var name, scope, expires, id *string
	switch sub {
	case "create":
		name = fs.String("name", "", "the key's name (required)")
		scope = fs.String("scope", "", "read, refund or write (required)")
		expires = fs.String("expires", "", "when the key stops working, RFC 3339; default never")
	case "revoke":
		id = fs.String("id", "", "the key's id (required)")
	}
	fs.Usage = func() { fmt.Fprint(stderr, keyUsage); fs.PrintDefaults() }
	if err := parseFlagsEnv(fs, args[1:], getenv); err != nil {
		return err
	}
	if *slug == "" || (sub == "create" && (*name == "" || *scope == "")) || (sub == "revoke" && *id == "") {
		fs.Usage()
		return usageError{"missing a required flag"}
	}
	spec := engine.KeySpec{}
	if sub == "create" {
		spec.Name, spec.Scope = *name, refundry.Scope(*scope)
		if *expires != "" {
			t, err := time.Parse(time.RFC3339, *expires)
			if err != nil {
				return usageError{"--expires must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z"}
			}
			spec.Expires = t
		}
	}
	store, err := openStore(ctx, dbFlag(*db, getenv), getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(store, slog.New(slog.NewTextHandler(stderr, nil)))
	m, err := store.FindMerchantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("merchant %q: %s", *slug, refundry.ErrorMessage(err))
	}
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorCLI, Method: "key " + sub})
	enc := json.NewEncoder(stdout)
	switch sub {
	case "create":
		key, text, err := eng.CreateAPIKey(ctx, m.ID, spec)
		if err != nil {
			return fmt.Errorf("create key: %s", refundry.ErrorMessage(err))
		}
		out := keyJSON(key)
		out.Secret = text
		return enc.Encode(out)
	case "revoke":
		key, err := eng.RevokeAPIKey(ctx, m.ID, *id)
		if err != nil {
			return fmt.Errorf("revoke key: %s", refundry.ErrorMessage(err))
		}
		return enc.Encode(keyJSON(key))
	}
	page := refundry.Page{Limit: refundry.MaxPageLimit}
	for {
		keys, more, err := eng.ListAPIKeys(ctx, m.ID, page)
		if err != nil {
			return fmt.Errorf("list keys: %s", refundry.ErrorMessage(err))
		}
		for _, k := range keys {
			if err := enc.Encode(keyJSON(k)); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		page.StartingAfter = keys[len(keys)-1].ID
	}
}

// keyLine is how the command line shows a key: never its hash, and its
// secret only when it is made.
type keyLine struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Scope   string `json:"scope"`
	Prefix  string `json:"prefix"`
	Created string `json:"created"`
	Expires string `json:"expires_at,omitempty"`
	Revoked string `json:"revoked_at,omitempty"`
	Secret  string `json:"secret,omitempty"`
}

func keyJSON(k *refundry.APIKey) keyLine {
	out := keyLine{ID: k.ID, Name: k.Name, Scope: string(k.Scope), Prefix: k.Prefix(), Created: k.Created.UTC().Format(time.RFC3339)}
	if !k.Expires.IsZero() {
		out.Expires = k.Expires.UTC().Format(time.RFC3339)
	}
	if !k.Revoked.IsZero() {
		out.Revoked = k.Revoked.UTC().Format(time.RFC3339)
	}
	return out
}
