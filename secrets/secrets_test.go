package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// Keys of the tests, as a key file holds them.
var (
	hexA = strings.Repeat("a1", 32)
	hexB = strings.Repeat("b2", 32)
)

func mustParse(tb testing.TB, text string) *Keyring {
	tb.Helper()
	k, err := Parse([]byte(text))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestKeyID(t *testing.T) {
	// SHA-256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20...
	if got, want := KeyID(make([]byte, 32)), "66687aadf862bd77"; got != want {
		t.Errorf("KeyID(zeros) = %q, want %q", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		text string
		ids  int    // keys expected; 0 for an error
		line string // what the error must say
	}{
		{"OK", hexA + "\n", 1, ""},
		{"OKNoNewline", hexA, 1, ""},
		{"OKCommentsBlanksCRLF", "# rotated 2026-12-06\r\n\r\n  " + hexB + "  \r\n# old\r\n" + hexA + "\r\n", 2, ""},
		{"OKUpperCase", strings.ToUpper(hexA), 1, ""},
		{"ErrEmpty", "", 0, "no key"},
		{"ErrOnlyComments", "# nothing\n\n", 0, "no key"},
		{"ErrShort", hexA[:62] + "\n", 0, "line 1 "},
		{"ErrLong", hexA + "00\n", 0, "line 1 "},
		{"ErrNotHex", "# k\n" + strings.Repeat("zz", 32) + "\n", 0, "line 2 "},
		{"ErrSpaceInside", hexA[:32] + " " + hexA[32:], 0, "line 1 "},
		{"ErrRepeated", hexA + "\n" + hexB + "\n\n" + hexA + "\n", 0, "line 4 repeats the key of line 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse([]byte(tt.text))
			if tt.ids == 0 {
				if err == nil {
					t.Fatalf("Parse = %v, want an error", k.KeyIDs())
				}
				if refundry.ErrorCode(err) != refundry.EINVALID || !strings.Contains(err.Error(), tt.line) {
					t.Errorf("Parse error = %v (%s), want EINVALID saying %q", err, refundry.ErrorCode(err), tt.line)
				}
				// A line that is almost a key is still a secret.
				for _, part := range []string{hexA[:16], hexA[40:], "zzzz"} {
					if strings.Contains(err.Error(), part) {
						t.Errorf("Parse error quotes the key file: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(k.KeyIDs()) != tt.ids {
				t.Errorf("keys = %v, want %d", k.KeyIDs(), tt.ids)
			}
		})
	}
}

func TestParseOrder(t *testing.T) {
	k := mustParse(t, "# new\n"+hexB+"\n# old\n"+hexA+"\n")
	a, b := mustParse(t, hexA), mustParse(t, hexB)
	if k.KeyID() != b.KeyID() {
		t.Errorf("sealing key = %s, want the first line's %s", k.KeyID(), b.KeyID())
	}
	if ids := k.KeyIDs(); len(ids) != 2 || ids[0] != b.KeyID() || ids[1] != a.KeyID() {
		t.Errorf("KeyIDs = %v, want [%s %s]", ids, b.KeyID(), a.KeyID())
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		name string
		keys [][]byte
		ok   bool
	}{
		{"OK", [][]byte{make([]byte, 32)}, true},
		{"ErrNone", nil, false},
		{"ErrAES128", [][]byte{make([]byte, 16)}, false},
		{"ErrRepeated", [][]byte{make([]byte, 32), make([]byte, 32)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys...)
			if (err == nil) != tt.ok {
				t.Errorf("New = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	if err := os.WriteFile(good, []byte(hexA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := Load(good)
	if err != nil || k.KeyID() != mustParse(t, hexA).KeyID() {
		t.Errorf("Load(good) = %v, %v", k, err)
	}
	for _, path := range []string{bad, filepath.Join(dir, "missing")} {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) error = %v, want one naming the file", path, err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	k := mustParse(t, hexA)
	plain := []byte(`{"token":"tok_live_0123456789abcdef"}`)
	sealed, id, err := k.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if id != k.KeyID() {
		t.Errorf("Seal key id = %s, want %s", id, k.KeyID())
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("0123456789abcdef")) {
		t.Fatal("the sealed value holds the clear text")
	}
	if len(sealed) != 12+len(plain)+16 {
		t.Errorf("sealed is %d bytes, want nonce 12 + %d + tag 16", len(sealed), len(plain))
	}
	again, _, err := k.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again[:12], sealed[:12]) || bytes.Equal(again, sealed) {
		t.Error("two seals share a nonce")
	}
	got, err := k.Open(sealed, id)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}

	flipped := bytes.Clone(sealed)
	flipped[20] ^= 1
	nonce := bytes.Clone(sealed)
	nonce[0] ^= 1
	tag := bytes.Clone(sealed)
	tag[len(tag)-1] ^= 1
	for _, tt := range []struct {
		name   string
		sealed []byte
		keyID  string
		says   string
	}{
		{"ErrAltered", flipped, id, "altered"},
		{"ErrNonceAltered", nonce, id, "altered"},
		{"ErrTagAltered", tag, id, "altered"},
		{"ErrTruncated", sealed[:20], id, "too short"},
		{"ErrEmpty", nil, id, "too short"},
		{"ErrUnknownKey", sealed, mustParse(t, hexB).KeyID(), "does not hold"},
		{"ErrNoKeyID", sealed, "", "does not hold"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(tt.sealed, tt.keyID)
			if err == nil {
				t.Fatalf("Open = %q, want an error", got)
			}
			if refundry.ErrorCode(err) != refundry.EINTERNAL || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Open error = %v, want EINTERNAL saying %q", err, tt.says)
			}
		})
	}
}

// TestRotation follows the documented steps: seal under A; put B first
// and keep A below, so that A's values still open while new ones are
// sealed under B; re-seal A's values under B; drop A.
func TestRotation(t *testing.T) {
	plain := []byte(`{"api_key":"rc_live_abcdefghijklmnop"}`)
	a := mustParse(t, hexA)
	sealedA, idA, err := a.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}

	ba := mustParse(t, hexB+"\n"+hexA+"\n")
	if ba.KeyID() == idA {
		t.Fatal("the rotated keyring still seals under A")
	}
	if got, err := ba.Open(sealedA, idA); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("B+A cannot open A's value: %q, %v", got, err)
	}
	resealed, idB, err := ba.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if idB != ba.KeyID() || idB == idA {
		t.Fatalf("re-sealed under %s, want B's %s", idB, ba.KeyID())
	}

	b := mustParse(t, hexB)
	if got, err := b.Open(resealed, idB); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("B alone cannot open the re-sealed value: %q, %v", got, err)
	}
	if _, err := b.Open(sealedA, idA); err == nil || !strings.Contains(err.Error(), "reseal") {
		t.Errorf("B alone opening a value left under A: %v, want an error saying to reseal", err)
	}
}

func TestEphemeral(t *testing.T) {
	k1, err := Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	if k1.KeyID() == k2.KeyID() {
		t.Error("two ephemeral keyrings share a key")
	}
	sealed, id, err := k1.Seal([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(sealed, id); err == nil {
		t.Error("one ephemeral keyring opens another's value")
	}
}
