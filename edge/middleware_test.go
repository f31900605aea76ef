package edge_test

import (
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

func TestKeyFromRequest(t *testing.T) {
	talkable := edge.KeyForms{Basic: true}
	revcent := edge.KeyForms{Header: "X-API-Key"}
	for _, tt := range []struct {
		name    string
		forms   edge.KeyForms
		headers map[string][]string
		want    string
		param   string // the header refused as repeated; "" none
	}{
		{"OKBearer", edge.KeyForms{}, map[string][]string{"Authorization": {"Bearer k1"}}, "k1", ""},
		{"OKNone", edge.KeyForms{}, nil, "", ""},
		{"OKBasic", talkable, map[string][]string{"Authorization": {"Basic azE6"}}, "k1", ""},
		{"OKBasicNotTaken", edge.KeyForms{}, map[string][]string{"Authorization": {"Basic azE6"}}, "", ""},
		{"OKHeader", revcent, map[string][]string{"X-Api-Key": {" k1 "}}, "k1", ""},
		{"OKBearerBeforeHeader", revcent, map[string][]string{"Authorization": {"Bearer k1"}, "X-Api-Key": {"k2"}}, "k1", ""},
		{"BearerTwice", edge.KeyForms{}, map[string][]string{"Authorization": {"Bearer k1", "Bearer k1"}}, "", "Authorization"},
		{"BearerTwiceOneEmpty", edge.KeyForms{}, map[string][]string{"Authorization": {"", "Bearer k1"}}, "", "Authorization"},
		{"BasicTwice", talkable, map[string][]string{"Authorization": {"Basic azE6", "Basic azI6"}}, "", "Authorization"},
		{"HeaderTwice", revcent, map[string][]string{"X-Api-Key": {"k1", "k2"}}, "", "X-API-Key"},
		{"HeaderTwiceBesideBearer", revcent, map[string][]string{"Authorization": {"Bearer k1"}, "X-Api-Key": {"k1", "k2"}}, "", "X-API-Key"},
		{"OKHeaderTwiceNotTaken", edge.KeyForms{}, map[string][]string{"Authorization": {"Bearer k1"}, "X-Api-Key": {"k1", "k2"}}, "k1", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/refunds", nil)
			for k, v := range tt.headers {
				r.Header[k] = v
			}
			got, err := edge.KeyFromRequest(r, tt.forms)
			if tt.param == "" {
				if err != nil || got != tt.want {
					t.Fatalf("KeyFromRequest = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != tt.param || got != "" {
				t.Fatalf("KeyFromRequest = %q, %v; want EINVALID on %s", got, err, tt.param)
			}
		})
	}
}

func TestIdempotencyKeyOnce(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/refunds", nil)
	r.Header["Idempotency-Key"] = []string{"a", "a"}
	if idem, err := edge.Idempotency(r, nil); refundry.ErrorParam(err) != "Idempotency-Key" || refundry.ErrorCode(err) != refundry.EINVALID || idem != nil {
		t.Fatalf("Idempotency with the key twice = %v, %v; want EINVALID on Idempotency-Key", idem, err)
	}
	r.Header["Idempotency-Key"] = []string{"a"}
	if idem, err := edge.Idempotency(r, nil); err != nil || idem == nil || idem.Key != "a" {
		t.Fatalf("Idempotency with the key once = %+v, %v", idem, err)
	}
}
