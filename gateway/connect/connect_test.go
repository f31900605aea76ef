package connect_test

import (
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/connect"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		creds   map[string]string
		base    string
		name    string
		oneShot bool
		code    string
	}{
		{kind: refundry.KindStripe, creds: map[string]string{"secret_key": "sk_test_123456789012"}, base: "http://127.0.0.1:12111", name: "stripe"},
		{kind: refundry.KindPayop, creds: map[string]string{"token": "jwt-0123456789"}, base: "https://api.payop.com", name: "payop", oneShot: true},
		{kind: refundry.KindRevCent, creds: map[string]string{"api_key": "rc-0123456789"}, base: "https://api.revcent.com", name: "revcent", oneShot: true},
		{kind: refundry.KindJetti, creds: map[string]string{"token": "jt-0123456789"}, base: "https://jetti.example", name: "jetti", oneShot: true},
		{kind: refundry.KindKeepUp, creds: map[string]string{"api_key": "ku-0123456789"}, base: "https://api.keepup.store", name: "keepup"},
		{kind: refundry.KindSimulator, name: "simulator"},
		{kind: refundry.KindTalkable, creds: map[string]string{"api_key": "k", "site_slug": "s"}, base: "https://www.talkable.com", code: refundry.EINVALID},
		{kind: "paypal", code: refundry.EINVALID},
		// A credential missing (a store's row cannot lack one, but a
		// sealed value opened wrong could) is refused, not called with.
		{kind: refundry.KindPayop, creds: map[string]string{}, base: "https://api.payop.com", code: refundry.EINVALID},
		{kind: refundry.KindJetti, creds: map[string]string{"token": "jt"}, base: "ftp://jetti.example", code: refundry.EINVALID},
	} {
		t.Run(tc.kind+"/"+tc.code, func(t *testing.T) {
			g, err := connect.New(&refundry.GatewayAccount{ID: refundry.NewID(), Kind: tc.kind, BaseURL: tc.base, Credentials: tc.creds}, nil)
			if tc.code != "" {
				if refundry.ErrorCode(err) != tc.code || g != nil {
					t.Fatalf("New = %v, %v, want %s", g, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Name() != tc.name {
				t.Fatalf("Name = %q, want %q", g.Name(), tc.name)
			}
			o, ok := g.(refundry.OneShot)
			if (ok && o.OneShot()) != tc.oneShot {
				t.Fatalf("OneShot = %v, want %v", ok && o.OneShot(), tc.oneShot)
			}
			_, checks := g.(refundry.RefundChecker)
			if checks != (tc.kind == refundry.KindKeepUp) {
				t.Fatalf("RefundChecker = %v", checks)
			}
		})
	}
}
