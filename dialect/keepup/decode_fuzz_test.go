package keepup

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// FuzzDecodeRequest: what a Refund Sale body becomes. The request is
// always the whole sale, so the body's one meaning is whether to alert
// the customer: true exactly when alert_customer is "yes", false when it
// is "no", null or absent (or the body is empty). Anything else is a
// refundry EINVALID answered 422, as the contract's table says, and an
// accepted body re-encoded means the same.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"alert_customer": "yes"}`, `{"alert_customer": "no"}`, ``, `{}`, `{"alert_customer": null}`,
		`{"alert_customer": "YES"}`, `{"alert_customer": true}`, `{"alert_customer": 1}`, `{"Alert_Customer": "yes"}`,
		`{"alert_customer": "yes", "alert_customer": "no"}`, `{"alert_customer": "no", "note": "ignored"}`,
		`[]`, `null`, `"yes"`, `{"alert_customer": "yes"} {}`, "{\"alert_customer\": \"y\xffs\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		notify, err := decodeRefundSale([]byte(body))
		if err != nil {
			if code := refundry.ErrorCode(err); code != refundry.EINVALID {
				t.Fatalf("body %q refused with code %q, want %q", body, code, refundry.EINVALID)
			}
			if got := answerStatus(err); got != http.StatusUnprocessableEntity {
				t.Fatalf("body %q refused with %d, want 422", body, got)
			}
			return
		}
		if want := alertCustomer(t, body); notify != want {
			t.Fatalf("body %q: notify = %v, want %v", body, notify, want)
		}
		again := `{"alert_customer": "no"}`
		if notify {
			again = `{"alert_customer": "yes"}`
		}
		if back, err := decodeRefundSale([]byte(again)); err != nil || back != notify {
			t.Fatalf("body %q: notify = %v; re-encoded as %s: %v, %v", body, notify, again, back, err)
		}
	})
}

// alertCustomer reads an accepted body with encoding/json alone: the
// customer is alerted exactly when alert_customer is the string "yes".
func alertCustomer(t *testing.T, body string) bool {
	if strings.TrimSpace(body) == "" {
		return false
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(body)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("body %q accepted, but it is no JSON object: %v", body, err)
	}
	for k := range m {
		if k != "alert_customer" && strings.EqualFold(k, "alert_customer") {
			t.Fatalf("body %q accepted with %q, which is not alert_customer", body, k)
		}
	}
	switch v := m["alert_customer"]; v {
	case nil, "no":
		return false
	case "yes":
		return true
	default:
		t.Fatalf("body %q accepted with alert_customer %#v", body, v)
	}
	return false
}

// answerStatus is the status KeepUp's error table gives err.
func answerStatus(err error) int {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPut, "/v2.0/sales/refund/x", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}
