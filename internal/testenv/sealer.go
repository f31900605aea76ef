package testenv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"

	"github.com/refundry/refundry"
)

// SealerKeyID is the key id Sealer's sealed values carry.
const SealerKeyID = "testenv-key"

// Sealer is a refundry.Sealer for tests: AES-256-GCM under one fixed
// key, a random nonce before the ciphertext, as the server's keyring
// seals with its newest key. Credentials a test stores are then really
// sealed, without a key file.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns the test Sealer.
func NewSealer() *Sealer {
	block, err := aes.NewCipher([]byte("refundry-tests-fixed-key-32bytes"))
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead}
}

// Seal seals plain under the test key.
func (s *Sealer) Seal(plain []byte) ([]byte, string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	return s.aead.Seal(nonce, nonce, plain, nil), SealerKeyID, nil
}

// Open opens what Seal sealed; EINTERNAL for anything else.
func (s *Sealer) Open(sealed []byte, keyID string) ([]byte, error) {
	n := s.aead.NonceSize()
	if keyID != SealerKeyID || len(sealed) < n {
		return nil, refundry.Errorf(refundry.EINTERNAL, "not sealed with the test key")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, refundry.Errorf(refundry.EINTERNAL, "sealed credentials do not open: %v", err)
	}
	return plain, nil
}

var _ refundry.Sealer = (*Sealer)(nil)
