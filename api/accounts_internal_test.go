package api

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/refundry/refundry"
)

// FuzzDecodeGatewayAccount: POST /v1/gateway_accounts. An accepted
// account is answered with hints only: no credential of twelve
// characters or more shows more than its last four, a shorter one shows
// nothing, and an accepted request re-encodes to the same request.
func FuzzDecodeGatewayAccount(f *testing.F) {
	for _, s := range []string{
		`{"kind": "payop", "base_url": "https://api.payop.com", "credentials": {"token": "tok_live_0123456789abcdef"}}`,
		`{"kind": "talkable", "credentials": {"api_key": "tk_0123456789ab", "site_slug": "my-store"}}`,
		`{"kind": "simulator"}`, `{"kind": "jetti", "base_url": "http://jetti.local:8080/", "credentials": {"token": "t"}}`,
		`{"kind": "stripe", "credentials": {"secret_key": "sk_test_ééééééééééééé"}}`,
		`{"kind": "payop", "credentials": {"token": 5}}`, `{"kind": "payop", "credentials": []}`,
		`{"kind": "payop", "base_url": "javascript:alert(1)", "credentials": {"token": "x"}}`,
		`{"kind": "revcent", "credentials": {"api_key": "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}}`,
		`{"kind": "keepup", "credentials": {"api_key": "k", "other": "x"}}`, `{"bogus": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req accountRequest
		if err := DecodeStrict(body, &req); err != nil {
			return
		}
		roundTrip(t, body, &req, &accountRequest{})
		a := &refundry.GatewayAccount{ID: refundry.NewID(), Kind: req.Kind, BaseURL: req.BaseURL, Credentials: req.Credentials}
		if err := a.Validate(); err != nil {
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) == "" {
				t.Fatalf("%q refused without naming a field: %v", body, err)
			}
			return
		}
		out := renderAccount(a)
		if len(out.Credentials) != len(req.Credentials) {
			t.Fatalf("%d credentials sent, %d answered", len(req.Credentials), len(out.Credentials))
		}
		for f, v := range req.Credentials {
			h, ok := out.Credentials[f]
			if !ok {
				t.Fatalf("credential %q not answered", f)
			}
			if utf8.RuneCountInString(v) < 12 {
				if h != "" {
					t.Fatalf("a %d-character secret answered as %q", utf8.RuneCountInString(v), h)
				}
				continue
			}
			tail, ok := strings.CutPrefix(h, hintPrefix)
			if !ok || utf8.RuneCountInString(tail) != 4 || !strings.HasSuffix(v, tail) {
				t.Fatalf("secret %q answered as %q", v, h)
			}
		}
	})
}

func TestRenderAccount(t *testing.T) {
	created := time.Unix(1767225600, 0)
	for _, tc := range []struct {
		name      string
		a         refundry.GatewayAccount
		creds     map[string]string
		status    string
		baseURL   string
		removedAt bool
	}{
		{"OK", refundry.GatewayAccount{Kind: "payop", BaseURL: "https://api.payop.com", Hints: map[string]string{"token": "abcd"}, Created: created},
			map[string]string{"token": "…abcd"}, "active", "https://api.payop.com", false},
		{"ShortSecret", refundry.GatewayAccount{Kind: "keepup", BaseURL: "https://api.keepup.store", Hints: map[string]string{"api_key": ""}, Created: created},
			map[string]string{"api_key": ""}, "active", "https://api.keepup.store", false},
		{"Simulator", refundry.GatewayAccount{Kind: "simulator", Created: created}, map[string]string{}, "active", "", false},
		{"Removed", refundry.GatewayAccount{Kind: "payop", BaseURL: "https://api.payop.com", Hints: map[string]string{"token": "wxyz"}, Created: created, Removed: created.Add(time.Hour)},
			map[string]string{"token": "…wxyz"}, "removed", "https://api.payop.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Clear text credentials in memory are never rendered.
			tc.a.Credentials = map[string]string{"token": "the-secret-itself"}
			out := renderAccount(&tc.a)
			if len(out.Credentials) != len(tc.creds) {
				t.Fatalf("credentials %v, want %v", out.Credentials, tc.creds)
			}
			for k, v := range tc.creds {
				if out.Credentials[k] != v {
					t.Errorf("credentials[%s] = %q, want %q", k, out.Credentials[k], v)
				}
			}
			if out.Status != tc.status || (out.RemovedAt != nil) != tc.removedAt || out.Object != "gateway_account" {
				t.Errorf("status %q removed_at %v", out.Status, out.RemovedAt)
			}
			if got := ""; out.BaseURL != nil {
				got = *out.BaseURL
				if got != tc.baseURL {
					t.Errorf("base_url %q, want %q", got, tc.baseURL)
				}
			} else if tc.baseURL != "" {
				t.Errorf("base_url null, want %q", tc.baseURL)
			}
			b, err := GatewayAccountJSON(&tc.a)
			if err != nil || strings.Contains(string(b), "the-secret-itself") || strings.Contains(string(b), `\u2026`) {
				t.Errorf("GatewayAccountJSON = %s, %v", b, err)
			}
		})
	}
}

func TestPageOf(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e"}
	self := func(s string) string { return s }
	for _, tc := range []struct {
		name string
		p    refundry.Page
		want string
		more bool
	}{
		{"First", refundry.Page{Limit: 2}, "ab", true},
		{"All", refundry.Page{Limit: 10}, "abcde", false},
		{"Exact", refundry.Page{Limit: 5}, "abcde", false},
		{"After", refundry.Page{Limit: 2, StartingAfter: "b"}, "cd", true},
		{"AfterToEnd", refundry.Page{Limit: 2, StartingAfter: "c"}, "de", false},
		{"AfterLast", refundry.Page{Limit: 2, StartingAfter: "e"}, "", false},
		{"Before", refundry.Page{Limit: 2, EndingBefore: "e"}, "cd", true},
		{"BeforeToStart", refundry.Page{Limit: 2, EndingBefore: "c"}, "ab", false},
		{"UnknownCursor", refundry.Page{Limit: 2, StartingAfter: "z"}, "", false},
		{"UnknownBefore", refundry.Page{Limit: 2, EndingBefore: "z"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, more := pageOf(ids, self, tc.p)
			if strings.Join(got, "") != tc.want || more != tc.more {
				t.Errorf("page %q more %v, want %q %v", strings.Join(got, ""), more, tc.want, tc.more)
			}
		})
	}
}
