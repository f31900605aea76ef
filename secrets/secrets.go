// Package secrets seals gateway credentials at rest with AES-256-GCM from
// the standard library, under keys read from a key file.
package secrets

import (
	"github.com/refundry/refundry"
)

// Keyring holds the keys credentials are sealed with: the newest seals,
// every one opens what it sealed. It is a refundry.Sealer.
type Keyring struct{}

var _ refundry.Sealer = (*Keyring)(nil)

// Load reads a key file (format documented in docs/gateways.md).
func Load(path string) (*Keyring, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

func (k *Keyring) Seal(plain []byte) ([]byte, string, error) {
	return nil, "", refundry.Errorf(refundry.EINTERNAL, "not built yet")
}

func (k *Keyring) Open(sealed []byte, keyID string) ([]byte, error) {
	return nil, refundry.Errorf(refundry.EINTERNAL, "not built yet")
}
