// Package secrets seals gateway credentials at rest with AES-256-GCM from
// the standard library, under keys read from a key file.
//
// A key file holds one key a line, each 64 hexadecimal characters (32
// bytes); blank lines and lines starting with # are ignored. The first
// key seals; every key opens what it sealed. A key is named by its id,
// the first 16 hexadecimal characters of the SHA-256 of the key, which is
// stored beside each sealed value so that the key that opens it is found
// without trying each one, and so that rotation can tell which values are
// still sealed under an older key (see docs/gateways.md, "Accounts").
package secrets

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/refundry/refundry"
)

// KeySize is the length of a key in bytes: AES-256.
const KeySize = 32

// Keyring holds the keys credentials are sealed with: the first seals,
// every one opens what it sealed. It is a refundry.Sealer, safe for
// concurrent use.
type Keyring struct {
	keys []key
}

type key struct {
	id   string
	aead cipher.AEAD
}

var _ refundry.Sealer = (*Keyring)(nil)

// New returns a keyring of the given keys, each KeySize bytes; the first
// seals. It refuses no key, a key of another size, and a key given twice
// (a sign of a mistaken rotation, since the second copy would never be
// used).
func New(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, refundry.Errorf(refundry.EINVALID, "a keyring needs at least one key")
	}
	k := &Keyring{}
	seen := map[string]int{}
	for i, b := range keys {
		if len(b) != KeySize {
			return nil, refundry.Errorf(refundry.EINVALID, "key %d is %d bytes; a key is %d bytes (64 hexadecimal characters)", i+1, len(b), KeySize)
		}
		id := KeyID(b)
		if j, ok := seen[id]; ok {
			return nil, refundry.Errorf(refundry.EINVALID, "key %d repeats key %d", i+1, j+1)
		}
		seen[id] = i
		block, err := aes.NewCipher(b)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, key{id: id, aead: aead})
	}
	return k, nil
}

// Parse reads the text of a key file. Its errors name the line at fault
// and never quote it: a line that is almost a key is still a secret.
func Parse(text []byte) (*Keyring, error) {
	var keys [][]byte
	lines := map[int]int{} // key index → line number
	sc := bufio.NewScanner(bytes.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != KeySize {
			return nil, refundry.Errorf(refundry.EINVALID, "line %d is not a key: a key is %d hexadecimal characters (%d bytes), e.g. the output of openssl rand -hex %d", n, 2*KeySize, KeySize, KeySize)
		}
		lines[len(keys)] = n
		keys = append(keys, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, refundry.Errorf(refundry.EINVALID, "no key in it: a key file holds one key a line, %d hexadecimal characters each", 2*KeySize)
	}
	seen := map[string]int{}
	for i, b := range keys {
		if j, ok := seen[string(b)]; ok {
			return nil, refundry.Errorf(refundry.EINVALID, "line %d repeats the key of line %d", lines[i], lines[j])
		}
		seen[string(b)] = i
	}
	return New(keys...)
}

// Load reads a key file (see the package comment). Its errors name the
// file.
func Load(path string) (*Keyring, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	k, err := Parse(text)
	if err != nil {
		return nil, fmt.Errorf("secrets key file %s: %s", path, refundry.ErrorMessage(err))
	}
	return k, nil
}

// Ephemeral returns a keyring of one random key that lives only in this
// process: what it seals cannot be opened after a restart. For a demo
// server, which has no key file.
func Ephemeral() (*Keyring, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return New(b)
}

// KeyID names a key: the first 16 hexadecimal characters of its SHA-256.
// It identifies the key without revealing it.
func KeyID(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:8])
}

// KeyID is the id of the key that seals.
func (k *Keyring) KeyID() string { return k.keys[0].id }

// KeyIDs lists the ids of every key, the sealing one first.
func (k *Keyring) KeyIDs() []string {
	out := make([]string, len(k.keys))
	for i, key := range k.keys {
		out[i] = key.id
	}
	return out
}

// Seal encrypts plain under the first key and returns a random 12-byte
// nonce followed by the ciphertext and its tag, and the key's id. What
// plain holds is the caller's: the engine seals the account's id with
// its credentials and checks it on opening, so that a sealed value moved
// onto another account's row is refused.
func (k *Keyring) Seal(plain []byte) ([]byte, string, error) {
	first := k.keys[0]
	nonce := make([]byte, first.aead.NonceSize(), first.aead.NonceSize()+len(plain)+first.aead.Overhead())
	// Random nonces under one key are safe for far more values than a
	// merchant's accounts will ever be re-sealed (2^32 by NIST's bound).
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	return first.aead.Seal(nonce, nonce, plain, nil), first.id, nil
}

// Open decrypts a value Seal made with the key keyID names. It refuses,
// with EINTERNAL and without a word of the value, a key the keyring does
// not hold (dropped from the key file before its values were re-sealed)
// and a value that does not authenticate (altered).
func (k *Keyring) Open(sealed []byte, keyID string) ([]byte, error) {
	for _, key := range k.keys {
		if key.id != keyID {
			continue
		}
		ns := key.aead.NonceSize()
		if len(sealed) < ns+key.aead.Overhead() {
			return nil, refundry.Errorf(refundry.EINTERNAL, "sealed credentials are too short to open")
		}
		plain, err := key.aead.Open(nil, sealed[:ns], sealed[ns:], nil)
		if err != nil {
			return nil, refundry.Errorf(refundry.EINTERNAL, "sealed credentials do not open under key %s: they were altered", keyID)
		}
		return plain, nil
	}
	return nil, refundry.Errorf(refundry.EINTERNAL, "credentials are sealed under key %s, which the secrets key file does not hold: put it back (below the newest) and run refundry gateway reseal before dropping it", keyID)
}
