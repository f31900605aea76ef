package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
)

// userCommand is "refundry user add|list|disable": the people who sign in
// to a merchant's dashboard, managed on the database directly, as "key"
// does. Its writes are audited with the actor "cli".
type userCommand struct {
	// stdin is where add reads the password when no --password-file is
	// given: never from the command line, which other users of the
	// machine can read (ps) and shells keep (history).
	stdin io.Reader
}

const userUsage = `Usage:
  refundry user add --merchant SLUG --email EMAIL --name NAME --role viewer|agent|approver|admin [--password-file FILE] [--db URL]
  refundry user list --merchant SLUG [--db URL]
  refundry user disable --merchant SLUG --email EMAIL [--db URL]

add reads the password from the first line of --password-file, or of
standard input without it (12 to 72 bytes); never from the command line.
A viewer reads; an agent also refunds; an approver also approves, rejects
and resolves refunds; an admin does everything. Each prints JSON, list
one user a line, newest first; never a password or its hash.
`

func (c *userCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, userUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "disable") {
		fmt.Fprint(stderr, userUsage)
		return usageError{"user takes a subcommand: add, list or disable"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("refundry user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("merchant", "", "the merchant's slug (required)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB)")
	var email, name, role, passwordFile *string
	switch sub {
	case "add":
		email = fs.String("email", "", "the user's email, with which they sign in (required)")
		name = fs.String("name", "", "the user's name, as the audit log shows it (required)")
		role = fs.String("role", "", "viewer, agent, approver or admin (required)")
		passwordFile = fs.String("password-file", "", "file whose first line is the password; default: standard input's first line")
	case "disable":
		email = fs.String("email", "", "the user's email (required)")
	}
	fs.Usage = func() { fmt.Fprint(fs.Output(), userUsage); fs.PrintDefaults() }
	if err := parseFlagsEnv(fs, args[1:], getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("user %s takes no arguments (a password never goes on the command line), got %q", sub, fs.Arg(0))}
	}
	if err := requireFlags(fs, "user "+sub, []requiredFlag{{"--merchant SLUG", slug}, {"--email EMAIL", email}, {"--name NAME", name}, {"--role ROLE", role}}); err != nil {
		return err
	}
	var spec engine.UserSpec
	if sub == "add" {
		spec = engine.UserSpec{Name: *name, Email: *email, Role: refundry.Role(*role)}
		if !spec.Role.Valid() {
			return usageError{fmt.Sprintf("--role must be viewer, agent, approver or admin, got %q", *role)}
		}
		password, err := readPassword(*passwordFile, c.stdin)
		if err != nil {
			return err
		}
		spec.Password = password
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
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorCLI, Method: "user " + sub})
	enc := json.NewEncoder(stdout)
	switch sub {
	case "add":
		u, err := eng.CreateUser(ctx, m.ID, spec)
		if err != nil {
			if f, ok := userFlags[refundry.ErrorParam(err)]; ok && refundry.ErrorCode(err) == refundry.EINVALID {
				return usageError{fmt.Sprintf("%s: %s", f, refundry.ErrorMessage(err))}
			}
			return fmt.Errorf("add user: %s", refundry.ErrorMessage(err))
		}
		return enc.Encode(userJSON(u))
	case "disable":
		u, err := eng.FindUserByEmail(ctx, m.ID, *email)
		if err != nil {
			return fmt.Errorf("user %q: %s", *email, refundry.ErrorMessage(err))
		}
		if u, err = eng.DisableUser(ctx, m.ID, u.ID); err != nil {
			return fmt.Errorf("disable user: %s", refundry.ErrorMessage(err))
		}
		return enc.Encode(userJSON(u))
	}
	page := refundry.Page{Limit: refundry.MaxPageLimit}
	for {
		users, more, err := eng.ListUsers(ctx, m.ID, page)
		if err != nil {
			return fmt.Errorf("list users: %s", refundry.ErrorMessage(err))
		}
		for _, u := range users {
			if err := enc.Encode(userJSON(u)); err != nil {
				return err
			}
		}
		if !more || len(users) == 0 {
			return nil
		}
		page.StartingAfter = users[len(users)-1].ID
	}
}

// userFlags are the flags that carry each field the engine may refuse.
var userFlags = map[string]string{"name": "--name", "email": "--email", "role": "--role", "password": "the password"}

// readPassword reads the first line of the file, or of stdin when file is
// "", without its line ending. A password is all of that line: spaces at
// its ends are its own.
func readPassword(file string, stdin io.Reader) (string, error) {
	from := "standard input"
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", usageError{fmt.Sprintf("--password-file: %v", err)}
		}
		defer f.Close()
		stdin, from = f, "--password-file "+file
	}
	if stdin == nil {
		return "", usageError{"no password: give --password-file FILE or the password on standard input"}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from %s: %w", from, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageError{fmt.Sprintf("no password on the first line of %s", from)}
	}
	return line, nil
}

// userLine is how the command line shows a user: never the password's
// hash.
type userLine struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Created  string `json:"created"`
	Disabled string `json:"disabled_at,omitempty"`
}

func userJSON(u *refundry.User) userLine {
	out := userLine{ID: u.ID, Name: u.Name, Email: u.Email, Role: string(u.Role), Created: u.Created.UTC().Format(time.RFC3339)}
	if !u.Disabled.IsZero() {
		out.Disabled = u.Disabled.UTC().Format(time.RFC3339)
	}
	return out
}
