package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/secrets"
)

// gatewayCommand is "refundry gateway add|list|remove|reseal": merchants'
// gateway accounts, managed on the database directly, as "key" does.
// Credentials are sealed by the engine under the secrets key file before
// the store sees them, and never printed. Its writes are audited with the
// actor "cli".
type gatewayCommand struct {
	// stdin is where add reads the credentials, as a JSON object, when
	// no --credential is given: a credential on the command line is seen
	// by other users of the machine (ps) and kept by shells (history).
	stdin io.Reader
}

const gatewayUsage = `Usage:
  refundry gateway add    --merchant SLUG --kind KIND [--base-url URL] [--credential NAME=VALUE ...] --secrets-key-file FILE [--db URL]
  refundry gateway list   --merchant SLUG [--db URL]
  refundry gateway remove --merchant SLUG --id ACCOUNT_ID [--db URL]
  refundry gateway reseal --secrets-key-file FILE [--db URL]

add stores a merchant's account with a provider: KIND is stripe, payop,
revcent, jetti, keepup, simulator or talkable; --base-url defaults to the
provider's documented address. Its credentials are the --credential
flags, or without any, a JSON object read from standard input, e.g.
{"token": "..."} (the safer way: a command line is visible to ps and kept
in shell history). They are sealed with the first key of the secrets key
file and never printed: answers show their last four characters.
list prints the merchant's active accounts, one JSON object a line.
remove refuses while a refund of the account's payments is not final.
reseal re-seals every account sealed under an older key with the key
file's first key: the step of a key rotation before the old key is
dropped (see docs/gateways.md, "Accounts").
`

// kindCredentials lists the credentials a kind needs, for the error that
// asks for them.
func kindCredentials(kind string) string {
	k := refundry.AccountKinds[kind]
	if len(k.Credentials) == 0 {
		return "none"
	}
	return strings.Join(k.Credentials, ", ")
}

// credentialFlag collects repeated --credential NAME=VALUE flags. Set
// never fails: the flag package would quote the value in its error, and
// the value is a secret; the first mistake is kept in err instead.
type credentialFlag struct {
	values map[string]string
	err    error
}

func (c *credentialFlag) String() string {
	// Never the values: flag prints defaults.
	if c == nil {
		return ""
	}
	names := make([]string, 0, len(c.values))
	for n := range c.values {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func (c *credentialFlag) Set(v string) error {
	if c.err != nil {
		return nil
	}
	name, value, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	switch _, dup := c.values[name]; {
	case !ok || name == "":
		c.err = usageError{"--credential: want NAME=VALUE, e.g. token=..."}
	case dup:
		c.err = usageError{fmt.Sprintf("--credential %s given twice", name)}
	default:
		c.values[name] = value
	}
	return nil
}

func (c *gatewayCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, gatewayUsage)
		return nil
	}
	subs := []string{"add", "list", "remove", "reseal"}
	if len(args) == 0 || !slices.Contains(subs, args[0]) {
		fmt.Fprint(stderr, gatewayUsage)
		return usageError{"gateway takes a subcommand: add, list, remove or reseal"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("refundry gateway "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	var slug, kind, baseURL, id, keyFile *string
	creds := &credentialFlag{values: map[string]string{}}
	if sub != "reseal" {
		slug = fs.String("merchant", "", "the merchant's slug (required)")
	}
	switch sub {
	case "add":
		kind = fs.String("kind", "", "the provider: "+strings.Join(refundry.AccountKindNames(), ", ")+" (required)")
		baseURL = fs.String("base-url", "", "the provider's API address, http(s); default: the one its document names (required for jetti)")
		fs.Var(creds, "credential", "a credential, `NAME=VALUE`, once per field the kind needs (stripe: secret_key; payop, jetti: token; revcent, keepup: api_key; talkable: api_key and site_slug); without any, a JSON object of them is read from standard input")
	case "remove":
		id = fs.String("id", "", "the account's id (required)")
	}
	if sub == "add" || sub == "reseal" {
		keyFile = fs.String("secrets-key-file", "", "file of the keys credentials are sealed with, one 64-hex-character key a line, the first sealing (required)")
	}
	fs.Usage = func() { fmt.Fprint(fs.Output(), gatewayUsage); fs.PrintDefaults() }
	if err := parseFlagsEnv(fs, args[1:], getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("gateway %s takes no arguments, got %q", sub, fs.Arg(0))}
	}
	if creds.err != nil {
		return creds.err
	}
	if err := requireFlags(fs, "gateway "+sub, []requiredFlag{{"--merchant SLUG", slug}, {"--kind KIND", kind}, {"--id ACCOUNT_ID", id}, {"--secrets-key-file FILE", keyFile}}); err != nil {
		return err
	}
	var keyring *secrets.Keyring
	if keyFile != nil {
		k, err := secrets.Load(*keyFile)
		if err != nil {
			return usageError{"--secrets-key-file: " + err.Error()}
		}
		keyring = k
	}
	account := &refundry.GatewayAccount{}
	if sub == "add" {
		if _, ok := refundry.AccountKinds[*kind]; !ok {
			return usageError{fmt.Sprintf("--kind must be one of %s, got %q", strings.Join(refundry.AccountKindNames(), ", "), *kind)}
		}
		account.Kind, account.BaseURL, account.Credentials = *kind, *baseURL, creds.values
		if len(creds.values) == 0 && len(refundry.AccountKinds[*kind].Credentials) > 0 {
			read, err := readCredentials(c.stdin, *kind)
			if err != nil {
				return err
			}
			account.Credentials = read
		}
	}

	store, err := openStore(ctx, dbFlag(*db, getenv), getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(store, slog.New(slog.NewTextHandler(stderr, nil)))
	if keyring != nil {
		eng.Secrets = keyring
	}
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorCLI, Method: "gateway " + sub})
	enc := json.NewEncoder(stdout)
	if sub == "reseal" {
		n, err := eng.ResealGatewayAccounts(ctx)
		if err != nil {
			return fmt.Errorf("reseal: %s", refundry.ErrorMessage(err))
		}
		return enc.Encode(struct {
			Resealed int    `json:"resealed"`
			KeyID    string `json:"key_id"`
		}{n, keyring.KeyID()})
	}
	m, err := eng.FindMerchantBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("merchant %q: %s", *slug, refundry.ErrorMessage(err))
	}
	switch sub {
	case "add":
		account.MerchantID = m.ID
		a, err := eng.CreateGatewayAccount(ctx, account)
		if err != nil {
			return accountFlagError(err)
		}
		return printAccount(stdout, a)
	case "remove":
		a, err := eng.RemoveGatewayAccount(ctx, m.ID, *id)
		if err != nil {
			return fmt.Errorf("remove gateway account %s: %s", *id, refundry.ErrorMessage(err))
		}
		return printAccount(stdout, a)
	}
	accounts, err := eng.GatewayAccounts(ctx, m.ID)
	if err != nil {
		return fmt.Errorf("list gateway accounts: %s", refundry.ErrorMessage(err))
	}
	for _, a := range accounts {
		if err := printAccount(stdout, a); err != nil {
			return err
		}
	}
	return nil
}

// maxCredentialsJSON bounds what add reads from standard input: every
// credential of every kind, at their longest, fits well within it.
const maxCredentialsJSON = 64 << 10

// readCredentials reads a JSON object of credential fields, each a
// string, from stdin. Its errors never quote a value.
func readCredentials(stdin io.Reader, kind string) (map[string]string, error) {
	hint := fmt.Sprintf("give --credential NAME=VALUE or a JSON object on standard input (a %s account needs %s)", kind, kindCredentials(kind))
	if stdin == nil {
		return nil, usageError{"no credentials: " + hint}
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, maxCredentialsJSON+1))
	if err != nil {
		return nil, fmt.Errorf("reading credentials from standard input: %w", err)
	}
	if len(raw) > maxCredentialsJSON {
		return nil, usageError{fmt.Sprintf("credentials on standard input are longer than %d bytes", maxCredentialsJSON)}
	}
	if strings.TrimSpace(string(raw)) == "" {
		return nil, usageError{"no credentials: " + hint}
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil || dec.More() || fields == nil {
		return nil, usageError{"credentials on standard input are not one JSON object: " + hint}
	}
	out := make(map[string]string, len(fields))
	for name, v := range fields {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, usageError{fmt.Sprintf("credentials on standard input: %q must be a string", name)}
		}
		out[name] = s
	}
	return out, nil
}

// accountFlagError says what the engine refused in the command line's
// words: it names the API's fields (base_url, credentials.token), the
// user typed flags.
func accountFlagError(err error) error {
	param := refundry.ErrorParam(err)
	if refundry.ErrorCode(err) != refundry.EINVALID {
		return fmt.Errorf("add gateway account: %s", refundry.ErrorMessage(err))
	}
	switch {
	case param == "kind":
		return usageError{"--kind: " + refundry.ErrorMessage(err)}
	case param == "base_url":
		return usageError{"--base-url: " + refundry.ErrorMessage(err)}
	case strings.HasPrefix(param, "credentials."):
		return usageError{fmt.Sprintf("--credential %s: %s", strings.TrimPrefix(param, "credentials."), refundry.ErrorMessage(err))}
	}
	return usageError{refundry.ErrorMessage(err)}
}

// printAccount shows an account as the native API does: credentials as
// hints only, never the secrets themselves.
func printAccount(w io.Writer, a *refundry.GatewayAccount) error {
	line, err := api.GatewayAccountJSON(a)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}
