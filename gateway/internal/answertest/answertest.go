// Package answertest checks a JSON connector's reading of its provider's
// answers (docs/gateways.md has one table per connector): each case is one
// answer the provider may give, served by a test server, and the result or
// error the connector must make of it. Each connector's test holds only its
// table; the serving, the call and the checks are here, the same for all.
package answertest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundry/refundry"
)

// Case is one answer and what it becomes.
type Case struct {
	Name   string
	Status int    // the HTTP status the provider answers
	Body   string // the body it answers
	// Result is the refund status the answer becomes; "" means the
	// answer is an error of Code instead.
	Result string
	Code   string
}

// Run runs each case as a subtest: a server answering the case's status
// and body, a gateway from newGateway(the server's URL), one Refund of r.
// A case with a Result wants that result and no error, and a failed result
// must say why; a case without one wants an error of Code.
func Run(t *testing.T, cases []Case, newGateway func(baseURL string) (refundry.Gateway, error), r refundry.GatewayRefund) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.Status)
				io.WriteString(w, tc.Body)
			}))
			defer srv.Close()
			g, err := newGateway(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Refund(context.Background(), r)
			if tc.Result != "" {
				if err != nil || res.Status != tc.Result {
					t.Fatalf("Refund = %+v, %v; want %s", res, err, tc.Result)
				}
				if res.Status == refundry.RefundFailed && res.FailureReason == "" {
					t.Error("no failure reason")
				}
				return
			}
			if refundry.ErrorCode(err) != tc.Code {
				t.Fatalf("Refund = %+v, %v; want %s", res, err, tc.Code)
			}
		})
	}
}
