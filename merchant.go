package refundry

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"strings"
	"time"
)

// Merchant is a tenant. Everything else belongs to exactly one merchant,
// and an API key sees only its own (invariant 5).
type Merchant struct {
	ID       string    `json:"id"`
	Slug     string    `json:"slug"`
	Name     string    `json:"name"`
	Currency string    `json:"currency"`
	Created  time.Time `json:"created"`
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate returns EINVALID if the merchant's fields are unusable.
func (m *Merchant) Validate() error {
	if !slugPattern.MatchString(m.Slug) {
		return ParamErrorf(EINVALID, "slug", "Slug must be 1 to 63 lower-case letters, digits or dashes, starting with a letter or digit.")
	}
	if err := checkTexts(255, "name", m.Name); err != nil {
		return err
	}
	if strings.TrimSpace(m.Name) == "" {
		return ParamErrorf(EINVALID, "name", "Name is required.")
	}
	if _, err := LookupCurrency(m.Currency); err != nil {
		return err
	}
	return nil
}

// Scope is what an API key (or a dashboard user's role) may do. Scopes
// nest: write allows everything approve allows, approve everything refund
// allows, refund everything read allows.
type Scope string

const (
	// ScopeRead reads: GET routes only.
	ScopeRead Scope = "read"
	// ScopeRefund reads, and creates and cancels refunds and refund
	// batches, on the native API and on every dialect.
	ScopeRefund Scope = "refund"
	// ScopeApprove also approves and rejects refunds held for approval
	// and resolves refunds in manual review: never a refund its own key
	// or person asked for (see DecideSettlement).
	ScopeApprove Scope = "approve"
	// ScopeWrite does everything, managing API keys and webhook endpoints
	// included.
	ScopeWrite Scope = "write"
)

var scopeRank = map[Scope]int{ScopeRead: 1, ScopeRefund: 2, ScopeApprove: 3, ScopeWrite: 4}

// Valid reports whether s is one of the four scopes.
func (s Scope) Valid() bool { return scopeRank[s] > 0 }

// Allows reports whether a key of scope s may do what needs scope need.
// An unknown scope allows nothing.
func (s Scope) Allows(need Scope) bool {
	return s.Valid() && need.Valid() && scopeRank[s] >= scopeRank[need]
}

// APIKey is a merchant's credential. Only a hash of its secret is kept;
// the full key text is shown once, when it is made.
type APIKey struct {
	ID         string
	MerchantID string
	Name       string
	Scope      Scope
	Hash       []byte // SHA-256 of the secret part
	Created    time.Time
	Expires    time.Time // zero: never
	Revoked    time.Time // zero: not revoked
}

// DefaultKeyName is the name of a merchant's first key, and of every key
// made before keys had names.
const DefaultKeyName = "default"

// Prefix is the part of the key text that names the key without
// revealing it: rfk_<id>. Lists show it, never the secret.
func (k *APIKey) Prefix() string { return apiKeyPrefix + k.ID }

// Validate returns EINVALID if the key's name, scope or expiry is unusable.
func (k *APIKey) Validate(now time.Time) error {
	if err := checkTexts(255, "name", k.Name); err != nil {
		return err
	}
	if strings.TrimSpace(k.Name) == "" {
		return ParamErrorf(EINVALID, "name", "Name is required.")
	}
	if !k.Scope.Valid() {
		return ParamErrorf(EINVALID, "scope", "Scope must be read, refund, approve or write.")
	}
	if !k.Expires.IsZero() && !k.Expires.After(now) {
		return ParamErrorf(EINVALID, "expires_at", "expires_at must be in the future.")
	}
	return nil
}

// Usable returns EUNAUTHORIZED if the key is revoked or expired at now,
// saying which, so that its holder knows to ask for a new key rather than
// to check what they pasted. Only a caller who proved the secret is told
// (see engine.Authenticate): a stranger learns nothing of the key.
func (k *APIKey) Usable(now time.Time) error {
	if !k.Revoked.IsZero() {
		return Errorf(EUNAUTHORIZED, "This API key was revoked at %s; ask for a new one.", k.Revoked.UTC().Format(time.RFC3339))
	}
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		return Errorf(EUNAUTHORIZED, "This API key expired at %s; ask for a new one.", k.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// The messages of the two ways a request fails to name a usable key
// before its key is found: none sent, or one that matches no key.
const (
	MsgNoAPIKey      = "No API key provided; send it as Authorization: Bearer KEY."
	MsgUnknownAPIKey = "Invalid API key provided: no key has this id and secret."
)

const apiKeyPrefix = "rfk_"

// NewAPIKey makes a key for a merchant and returns it with the text to hand
// to the merchant, of the form rfk_<id>_<secret>. The key is named
// "default" with scope write; callers making a narrower key set both.
func NewAPIKey(merchantID string, now time.Time) (*APIKey, string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	k := &APIKey{ID: NewID(), MerchantID: merchantID, Name: DefaultKeyName, Scope: ScopeWrite, Hash: sum[:], Created: now}
	return k, apiKeyPrefix + k.ID + "_" + secret
}

// ParseAPIKey splits key text into the key's id and its secret.
func ParseAPIKey(text string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(text, apiKeyPrefix)
	if !found || len(rest) < IDLength+2 || rest[IDLength] != '_' {
		return "", "", false
	}
	id, secret = rest[:IDLength], rest[IDLength+1:]
	if !ValidID(id) || secret == "" {
		return "", "", false
	}
	return id, secret, true
}

// Verify reports whether secret is this key's, in constant time.
func (k *APIKey) Verify(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], k.Hash) == 1
}
