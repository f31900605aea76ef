package refundry

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Gateway account kinds: the providers a merchant can hold an account
// with. Every kind but Talkable takes payments and is a Gateway; a
// Talkable account is told of refunded sales so that it voids their
// referrals (see KindTalkable).
const (
	KindStripe    = "stripe"
	KindPayop     = "payop"
	KindRevCent   = "revcent"
	KindJetti     = "jetti"
	KindKeepUp    = "keepup"
	KindSimulator = "simulator"
	KindTalkable  = "talkable"
)

// AccountKind describes what an account of one kind needs.
type AccountKind struct {
	Name string
	// DefaultBaseURL is the provider's documented API base; "" when its
	// document names none (Jetti, the simulator) and base_url is then
	// required, except for the simulator, which needs no address.
	DefaultBaseURL string
	// Credentials are the fields the kind requires, in the order they are
	// documented; Optional are those it accepts besides.
	Credentials []string
	Optional    []string
}

// AccountKinds lists every kind, by name.
var AccountKinds = map[string]AccountKind{
	KindStripe:    {Name: KindStripe, DefaultBaseURL: "https://api.stripe.com", Credentials: []string{"secret_key"}},
	KindPayop:     {Name: KindPayop, DefaultBaseURL: "https://api.payop.com", Credentials: []string{"token"}},
	KindRevCent:   {Name: KindRevCent, DefaultBaseURL: "https://api.revcent.com", Credentials: []string{"api_key"}},
	KindJetti:     {Name: KindJetti, Credentials: []string{"token"}},
	KindKeepUp:    {Name: KindKeepUp, DefaultBaseURL: "https://api.keepup.store", Credentials: []string{"api_key"}},
	KindSimulator: {Name: KindSimulator},
	KindTalkable:  {Name: KindTalkable, DefaultBaseURL: "https://www.talkable.com", Credentials: []string{"api_key", "site_slug"}},
}

// MaxCredential bounds one credential's length.
const MaxCredential = 4096

// GatewayAccount is a merchant's account with a provider: where its API
// is and the credentials Refundry calls it with. Credentials are clear
// text in memory only: the engine seals them (Sealed, KeyID) before a
// store sees the account, and no answer ever shows more of them than
// Hints.
type GatewayAccount struct {
	ID         string
	MerchantID string
	Kind       string
	BaseURL    string
	// Credentials holds the clear text, by field name; nil when the
	// account was read from a store and not yet opened.
	Credentials map[string]string
	// Hints holds each credential's last four characters, by field name:
	// all an answer shows of it.
	Hints map[string]string
	// Sealed is the credentials as stored: AES-256-GCM over their JSON,
	// under the key KeyID names.
	Sealed []byte
	KeyID  string
	// Removed is when the account was removed; zero while it is active.
	// A removed account is kept, so that refunds made through it can
	// still be read and settled, but no new payment may name it.
	Removed time.Time
	Created time.Time
}

// Active reports whether payments may name the account.
func (a *GatewayAccount) Active() bool { return a.Removed.IsZero() }

// Validate checks an account about to be created: a known kind, an
// absolute http(s) base URL (filled with the kind's default when empty),
// every credential the kind requires and none it does not know. It fills
// Hints. It returns EINVALID naming the field at fault ("kind",
// "base_url", "credentials.token").
func (a *GatewayAccount) Validate() error {
	k, ok := AccountKinds[a.Kind]
	if !ok {
		return ParamErrorf(EINVALID, "kind", "Kind %q is not one of %s.", truncate(a.Kind, 32), strings.Join(AccountKindNames(), ", "))
	}
	if a.BaseURL == "" {
		a.BaseURL = k.DefaultBaseURL
	}
	if a.BaseURL == "" && a.Kind != KindSimulator {
		return ParamErrorf(EINVALID, "base_url", "base_url is required for a %s account: its API has no documented address.", a.Kind)
	}
	if a.BaseURL != "" {
		u, err := url.Parse(a.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(a.BaseURL) > MaxEndpointURL {
			return ParamErrorf(EINVALID, "base_url", "base_url must be an absolute http or https URL.")
		}
		a.BaseURL = strings.TrimRight(a.BaseURL, "/")
	}
	for _, f := range k.Credentials {
		if strings.TrimSpace(a.Credentials[f]) == "" {
			return ParamErrorf(EINVALID, "credentials."+f, "credentials.%s is required for a %s account.", f, a.Kind)
		}
	}
	names := make([]string, 0, len(a.Credentials))
	for f := range a.Credentials {
		names = append(names, f)
	}
	slices.Sort(names)
	a.Hints = make(map[string]string, len(names))
	for _, f := range names {
		v := a.Credentials[f]
		if !slices.Contains(k.Credentials, f) && !slices.Contains(k.Optional, f) {
			return ParamErrorf(EINVALID, "credentials."+f, "credentials.%s is not a credential of a %s account.", truncate(f, 32), a.Kind)
		}
		if len(v) > MaxCredential {
			return ParamErrorf(EINVALID, "credentials."+f, "credentials.%s is longer than %d bytes.", f, MaxCredential)
		}
		a.Hints[f] = CredentialHint(v)
	}
	return nil
}

// CredentialHint is all an answer shows of a credential: its last four
// characters, or nothing of one shorter than twelve.
func CredentialHint(v string) string {
	r := []rune(v)
	if len(r) < 12 {
		return ""
	}
	return string(r[len(r)-4:])
}

// AccountKindNames lists the kinds in name order.
func AccountKindNames() []string {
	out := make([]string, 0, len(AccountKinds))
	for k := range AccountKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Sealer seals and opens credentials (AES-256-GCM, see package secrets).
// KeyID names the key a sealed value was made with, so that a key can be
// rotated: values sealed with an older key still open while it is kept,
// and Seal always uses the newest.
type Sealer interface {
	Seal(plain []byte) (sealed []byte, keyID string, err error)
	Open(sealed []byte, keyID string) ([]byte, error)
}

// GatewayAccountStore keeps merchants' gateway accounts. It only ever
// sees sealed credentials.
type GatewayAccountStore interface {
	// CreateGatewayAccount stores a validated, sealed account, assigning
	// Created, audited as AuditGatewayAccountCreate in the same
	// transaction, with the endpoint a.Endpoint() returns, if any.
	// ENOTFOUND if the merchant does not exist.
	CreateGatewayAccount(ctx context.Context, a *GatewayAccount) error
	// FindGatewayAccount returns a merchant's account, removed or not;
	// ENOTFOUND if the merchant has none with that id.
	FindGatewayAccount(ctx context.Context, merchantID, id string) (*GatewayAccount, error)
	// ListGatewayAccounts returns a merchant's active accounts, oldest
	// first.
	ListGatewayAccounts(ctx context.Context, merchantID string) ([]*GatewayAccount, error)
	// RemoveGatewayAccount marks an active account removed at now,
	// audited as AuditGatewayAccountRemove, and deletes the endpoint a
	// Talkable account keeps. It refuses with ECONFLICT, changing
	// nothing, while a refund of a payment that names the account may
	// still call its gateway (its status is one of UnsettledStatuses):
	// those must settle first. ENOTFOUND if there is no such active
	// account.
	RemoveGatewayAccount(ctx context.Context, merchantID, id string, now time.Time) (*GatewayAccount, error)
	// SealedGatewayAccounts returns up to limit accounts of any merchant,
	// removed or not, whose KeyID is not keyID, for re-sealing under the
	// newest key.
	SealedGatewayAccounts(ctx context.Context, keyID string, limit int) ([]*GatewayAccount, error)
	// ResealGatewayAccount replaces an account's sealed credentials if
	// they are still those sealed under oldKeyID; it reports whether it
	// did (false: another process re-sealed it first).
	ResealGatewayAccount(ctx context.Context, id, oldKeyID string, sealed []byte, keyID string) (bool, error)
}

// UnsettledStatuses lists the statuses from which a refund may still be
// sent to, or settled through, its gateway: every status that is not
// final (see FinalStatus). An account whose payments have refunds in one
// of them is not removed, so that nothing is left owing a call to an
// account nobody can use any more. Read off the transition table.
func UnsettledStatuses() []string {
	var out []string
	for _, t := range Transitions {
		if t.To != StatusNew && !slices.Contains(out, t.To) && !FinalStatus(t.To) {
			out = append(out, t.To)
		}
	}
	return out
}

// Endpoint is the delivery endpoint an account keeps, made and removed
// with it, or nil for an account of a kind that keeps none. A Talkable
// account hears of sales wholly refunded (sale.refunded) and voids their
// referrals at Talkable; a partial refund voids nothing. Its id is the
// account's, so that its deliveries are found from the account alone.
func (a *GatewayAccount) Endpoint() *WebhookEndpoint {
	if a.Kind != KindTalkable {
		return nil
	}
	return &WebhookEndpoint{ID: a.ID, MerchantID: a.MerchantID, URL: a.BaseURL, EnabledEvents: []string{EventSaleRefunded},
		Status: EndpointEnabled, GatewayAccount: a.ID}
}
