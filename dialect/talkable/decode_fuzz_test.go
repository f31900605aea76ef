package talkable

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// FuzzDecodeRequest: what a refund-origin body becomes. An accepted body
// names its site_slug, a non-empty string, and a refunded_at that is
// either absent (the time of the request) or a moment from 1970 through
// 9999, the very second given when unix seconds were sent. A missing
// site_slug is 400 and every other refusal a refundry EINVALID answered
// 422, as the contract's table says. An accepted body re-encoded, with
// refunded_at as unix seconds or as RFC 3339, means the same.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"site_slug": "my-store"}`, `{"site_slug": "my-store", "data": {"refunded_at": "12345"}}`,
		`{"site_slug": "my-store", "data": {"refunded_at": 12345}}`, `{"site_slug": "my-store", "data": {"refunded_at": "2019-05-27T15:41:31.000-07:00"}}`,
		`{"site_slug": "my-store", "data": {"refunded_at": "2019-05-27"}}`, `{"site_slug": "my-store", "data": {}}`, `{"site_slug": "my-store", "data": null}`,
		`{"site_slug": "my-store", "data": {"refunded_at": 1.5}}`, `{"site_slug": "my-store", "data": {"refunded_at": -1}}`,
		`{"site_slug": "my-store", "data": {"refunded_at": "253402300800"}}`, `{"site_slug": "my-store", "data": {"refunded_at": "0000-01-01T00:00:00+23:59"}}`,
		`{"site_slug": "my-store", "data": {"refunded_at": ""}}`, `{"site_slug": "my-store", "data": {"refunded_at": true}}`, `{"site_slug": "my-store", "data": []}`,
		`{}`, ``, `{"site_slug": ""}`, `{"site_slug": 7}`, `{"SITE_SLUG": "my-store"}`, `{"site_slug": "my-store", "extra": 1}`, `site_slug=my-store`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeRefundOrigin([]byte(body))
		if err != nil {
			var we *edge.WireError
			switch status := answerStatus(err); {
			case errors.As(err, &we):
				if status != http.StatusBadRequest || we.Message != "site_slug is required" {
					t.Fatalf("body %q refused with %d %q, want only a missing site_slug as 400", body, status, we.Message)
				}
			case refundry.ErrorCode(err) != refundry.EINVALID || status != http.StatusUnprocessableEntity:
				t.Fatalf("body %q refused with code %q, %d; want %q, 422", body, refundry.ErrorCode(err), status, refundry.EINVALID)
			}
			return
		}
		sent := objectOf(t, body)
		if slug, _ := sent["site_slug"].(string); slug == "" || req.siteSlug != slug {
			t.Fatalf("body %q: site_slug read as %q", body, req.siteSlug)
		}
		at := refundedAt(sent)
		switch {
		case at == nil:
			if !req.refundedAt.IsZero() {
				t.Fatalf("body %q without refunded_at: read %v", body, req.refundedAt)
			}
		case req.refundedAt.Unix() < 0 || req.refundedAt.Unix() > maxUnix:
			t.Fatalf("body %q: refunded_at %v is outside 1970-9999", body, req.refundedAt)
		default:
			text := strings.TrimSpace(toText(at))
			if n, err := strconv.ParseInt(text, 10, 64); err == nil && (req.refundedAt.Unix() != n || req.refundedAt.Nanosecond() != 0) {
				t.Fatalf("body %q: refunded_at %d read as %v", body, n, req.refundedAt)
			}
		}
		for _, again := range reencode(req) {
			back, err := decodeRefundOrigin(again)
			if err != nil || back.siteSlug != req.siteSlug || !back.refundedAt.Equal(req.refundedAt.Truncate(time.Second)) && !back.refundedAt.Equal(req.refundedAt) {
				t.Fatalf("body %q read as %+v; re-encoded as %s: %+v, %v", body, req, again, back, err)
			}
		}
	})
}

// reencode writes an accepted request back as a client would: with
// refunded_at as unix seconds (a number, then a string) and as RFC 3339.
func reencode(req refundOrigin) [][]byte {
	if req.refundedAt.IsZero() {
		b, _ := json.Marshal(map[string]any{"site_slug": req.siteSlug})
		return [][]byte{b}
	}
	var out [][]byte
	for _, at := range []any{req.refundedAt.Unix(), strconv.FormatInt(req.refundedAt.Unix(), 10), req.refundedAt.Format(time.RFC3339Nano)} {
		b, _ := json.Marshal(map[string]any{"site_slug": req.siteSlug, "data": map[string]any{"refunded_at": at}})
		out = append(out, b)
	}
	return out
}

// objectOf reads an accepted body with encoding/json alone.
func objectOf(t *testing.T, body string) map[string]any {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(body)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("body %q accepted, but it is no JSON object: %v", body, err)
	}
	return m
}

// refundedAt is data.refunded_at as sent, nil when absent or null.
func refundedAt(sent map[string]any) any {
	data, _ := sent["data"].(map[string]any)
	return data["refunded_at"]
}

func toText(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	}
	return ""
}

// answerStatus is the status Talkable's error table gives err.
func answerStatus(err error) int {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPost, "/api/v2/origins/x/refund", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}
