package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/pgtest"
)

// A refused write is in the audit log whatever its path held: a %00
// decodes to a NUL that PostgreSQL refuses in text, a %FF to a byte that
// is not UTF-8. Each is answered 4xx by its edge and recorded with the
// text escaped (refundry.AuditText), on both stores, as serve runs them;
// startInProcess fails the test if serve logged a failed audit.
func TestRefusedWriteWithOddPathAudited(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { refusedOddPaths(t, "sqlite:"+t.TempDir()+"/audit.db") })
	t.Run("postgres", func(t *testing.T) { refusedOddPaths(t, pgtest.NewDatabase(t)) })
}

func refusedOddPaths(t *testing.T, db string) {
	key := createMerchant(t, db, "audited")
	base := startInProcess(t, db)
	for _, tt := range []struct {
		name         string
		method, path string // as sent, percent-encoded
		body         string
		auth         func(r *http.Request, key string)
		stored       string // the path as the audit log keeps it
	}{
		{"NativeNUL", "POST", "/v1/refunds/re_%00/cancel", `{}`, bearer, `/v1/refunds/re_\x00/cancel`},
		{"NativeBytes", "POST", "/v1/refunds/%ff%fe/cancel", `{}`, bearer, `/v1/refunds/\xff\xfe/cancel`},
		{"KeepUpNUL", "PUT", "/v2.0/sales/refund/ORDER%00-1", ``, bearer, `/v2.0/sales/refund/ORDER\x00-1`},
		{"TalkableBytes", "POST", "/api/v2/origins/%c0%af%00/refund", `{"site_slug": "audited"}`, talkableEdge.auth, `/api/v2/origins/\xc0\xaf\x00/refund`},
		{"RevCentNUL", "POST", "/v2/product_sales/%00aaaaaaaaaaaaaaaaaaa/refund", `{}`, revcentEdge.auth, `/v2/product_sales/\x00aaaaaaaaaaaaaaaaaaa/refund`},
		{"JettiBytes", "PUT", "/v1/transactions/1%ed%a0%80/refund.json", `{}`, bearer, `/v1/transactions/1\xed\xa0\x80/refund.json`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.auth(req, key)
			res, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode < 400 || res.StatusCode > 499 {
				t.Fatalf("%s %s: %d, want 4xx: %s", tt.method, tt.path, res.StatusCode, raw)
			}
			id := res.Header.Get("Request-Id")
			var log struct {
				Data []struct {
					Action, Result, Method, Path string
					RequestID                    string `json:"request_id"`
				}
			}
			nativeCall(t, base, key, "GET", "/v1/audit_log?action="+refundry.AuditRefundCreate+"&limit=100", "", &log)
			if tt.name == "NativeNUL" || tt.name == "NativeBytes" {
				nativeCall(t, base, key, "GET", "/v1/audit_log?action="+refundry.AuditRefundCancel+"&limit=100", "", &log)
			}
			for _, e := range log.Data {
				if e.RequestID != id {
					continue
				}
				if e.Path != tt.stored || e.Method != tt.method || e.Result == refundry.AuditSucceeded {
					t.Fatalf("audit row %+v, want path %q, method %s, a refusal", e, tt.stored, tt.method)
				}
				return
			}
			t.Fatalf("refused %s %s (request %s, answered %d) is not in the audit log: %s", tt.method, tt.path, id, res.StatusCode, fmt.Sprint(log.Data))
		})
	}
}
