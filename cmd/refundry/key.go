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
  refundry key create --merchant SLUG --name NAME --scope read|refund|approve|write [--expires RFC3339] [--db URL]
  refundry key list   --merchant SLUG [--db URL]
  refundry key revoke --merchant SLUG --id KEY_ID [--db URL]

create prints the key as JSON with its secret, shown only this once; list
prints one JSON object a line, newest first, never a secret.
`

func (c *keyCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, keyUsage)
		return nil
	}
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
		scope = fs.String("scope", "", "read, refund, approve or write (required)")
		expires = fs.String("expires", "", "when the key stops working, RFC 3339; default never")
	case "revoke":
		id = fs.String("id", "", "the key's id (required)")
	}
	fs.Usage = func() { fmt.Fprint(fs.Output(), keyUsage); fs.PrintDefaults() }
	if err := parseFlagsEnv(fs, args[1:], getenv, stdout); err != nil {
		return err
	}
	if err := requireFlags(fs, "key "+sub, []requiredFlag{{"--merchant SLUG", slug}, {"--name NAME", name}, {"--scope read|refund|approve|write", scope}, {"--id KEY_ID", id}}); err != nil {
		return err
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
			return keyFlagError(err)
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

// keyFlags are the flags that carry each field the engine may refuse.
var keyFlags = map[string]string{"name": "--name", "scope": "--scope", "expires_at": "--expires"}

// keyFlagError says what is wrong with a key in the command line's words:
// the engine speaks of the API's fields (expires_at), the user typed
// flags (--expires).
func keyFlagError(err error) error {
	flagName, ok := keyFlags[refundry.ErrorParam(err)]
	if !ok || refundry.ErrorCode(err) != refundry.EINVALID {
		return fmt.Errorf("create key: %s", refundry.ErrorMessage(err))
	}
	var msg string
	switch flagName {
	case "--name":
		msg = "--name: " + refundry.ErrorMessage(err)
	case "--scope":
		msg = "--scope must be read, refund, approve or write"
	case "--expires":
		msg = "--expires must be in the future"
	}
	return usageError{msg}
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
