package refundry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func TestMerchantValidate(t *testing.T) {
	valid := func() *refundry.Merchant {
		return &refundry.Merchant{Slug: "my-store", Name: "My Store", Currency: "USD"}
	}
	for _, tt := range []struct {
		name   string
		mutate func(m *refundry.Merchant)
		param  string // "" when valid
	}{
		{"OK", func(m *refundry.Merchant) {}, ""},
		{"OKOneCharSlug", func(m *refundry.Merchant) { m.Slug = "a" }, ""},
		{"OKDigitSlug", func(m *refundry.Merchant) { m.Slug = "7-eleven" }, ""},
		{"OKLongestSlug", func(m *refundry.Merchant) { m.Slug = strings.Repeat("a", 63) }, ""},
		{"OKLowerCaseCurrency", func(m *refundry.Merchant) { m.Currency = "jpy" }, ""},
		{"ErrSlugRequired", func(m *refundry.Merchant) { m.Slug = "" }, "slug"},
		{"ErrSlugTooLong", func(m *refundry.Merchant) { m.Slug = strings.Repeat("a", 64) }, "slug"},
		{"ErrSlugUpperCase", func(m *refundry.Merchant) { m.Slug = "My-Store" }, "slug"},
		{"ErrSlugLeadingDash", func(m *refundry.Merchant) { m.Slug = "-store" }, "slug"},
		{"ErrSlugUnderscore", func(m *refundry.Merchant) { m.Slug = "my_store" }, "slug"},
		{"ErrSlugSlash", func(m *refundry.Merchant) { m.Slug = "my/store" }, "slug"},
		{"ErrSlugTrailingNewline", func(m *refundry.Merchant) { m.Slug = "store\n" }, "slug"},
		{"ErrSlugDots", func(m *refundry.Merchant) { m.Slug = ".." }, "slug"},
		{"ErrNameRequired", func(m *refundry.Merchant) { m.Name = "" }, "name"},
		{"ErrNameBlank", func(m *refundry.Merchant) { m.Name = " \t\n" }, "name"},
		{"ErrCurrencyRequired", func(m *refundry.Merchant) { m.Currency = "" }, "currency"},
		{"ErrCurrencyUnknown", func(m *refundry.Merchant) { m.Currency = "XYZ" }, "currency"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.mutate(m)
			checkValidate(t, m.Validate(), refundry.EINVALID, tt.param)
		})
	}
}

// checkValidate asserts that err is nil when param is "", and otherwise an
// error with the given code naming param.
func checkValidate(t *testing.T, err error, code, param string) {
	t.Helper()
	if param == "" {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate() = nil, want %s on %s", code, param)
	}
	if got := refundry.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode = %q, want %q (%v)", got, code, err)
	}
	if got := refundry.ErrorParam(err); got != param {
		t.Fatalf("ErrorParam = %q, want %q (%v)", got, param, err)
	}
	if refundry.ErrorMessage(err) == "" {
		t.Fatal("error has no client-safe message")
	}
}

func TestAPIKey(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	merchantID := refundry.NewID()
	k, text := refundry.NewAPIKey(merchantID, now)

	t.Run("OK", func(t *testing.T) {
		if k.MerchantID != merchantID || !k.Created.Equal(now) || !refundry.ValidID(k.ID) {
			t.Fatalf("key = %+v", k)
		}
		if !strings.HasPrefix(text, "rfk_"+k.ID+"_") {
			t.Fatalf("key text %q does not start with rfk_<id>_", text)
		}
		id, secret, ok := refundry.ParseAPIKey(text)
		if !ok || id != k.ID {
			t.Fatalf("ParseAPIKey(%q) = %q, %q, %v; want id %q", text, id, secret, ok, k.ID)
		}
		if !k.Verify(secret) {
			t.Fatal("Verify(secret) = false")
		}
		if strings.Contains(string(k.Hash), secret) || len(k.Hash) != 32 {
			t.Fatal("the key must keep a SHA-256 hash, not the secret")
		}
	})
	t.Run("OKKeysDiffer", func(t *testing.T) {
		k2, text2 := refundry.NewAPIKey(merchantID, now)
		_, secret2, _ := refundry.ParseAPIKey(text2)
		if text2 == text || k2.ID == k.ID || k.Verify(secret2) {
			t.Fatal("two keys share an id or a secret")
		}
	})
	t.Run("ErrChangedSecret", func(t *testing.T) {
		_, secret, _ := refundry.ParseAPIKey(text)
		for _, bad := range []string{"", secret[:len(secret)-1], secret + "x", "x" + secret[1:], strings.ToUpper(secret)} {
			if bad != secret && k.Verify(bad) {
				t.Fatalf("Verify(%q) = true", bad)
			}
		}
	})
	t.Run("ErrJunk", func(t *testing.T) {
		id := refundry.NewID()
		for _, junk := range []string{
			"",
			"rfk_",
			"rfk_" + id,
			"rfk_" + id + "_",
			"rfk_" + id + "x_secret",
			"rfk_" + id[:19] + "_secret",
			"rfk_" + strings.ToUpper(id) + "_secret",
			"RFK_" + id + "_secret",
			"sk_" + id + "_secret",
			id + "_secret",
			"Bearer rfk_" + id + "_secret",
			"rfk_../../../../../etc/p_secret",
		} {
			if gotID, secret, ok := refundry.ParseAPIKey(junk); ok {
				t.Fatalf("ParseAPIKey(%q) = %q, %q, true", junk, gotID, secret)
			}
		}
	})
}
