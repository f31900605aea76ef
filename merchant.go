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

// APIKey is a merchant's credential. Only a hash of its secret is kept;
// the full key text is shown once, when it is made.
type APIKey struct {
	ID         string
	MerchantID string
	Hash       []byte // SHA-256 of the secret part
	Created    time.Time
}

const apiKeyPrefix = "rfk_"

// NewAPIKey makes a key for a merchant and returns it with the text to hand
// to the merchant, of the form rfk_<id>_<secret>.
func NewAPIKey(merchantID string, now time.Time) (*APIKey, string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	k := &APIKey{ID: NewID(), MerchantID: merchantID, Hash: sum[:], Created: now}
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
