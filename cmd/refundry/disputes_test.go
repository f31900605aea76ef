package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// A disputed payment on all seven edges, on both stores: while its
// dispute (recorded by hand through POST /v1/disputes) is open, a refund
// is refused with charge_disputed on the native API, on the dashboard's
// refund form and on each of the five dialects, each in its own shape,
// and nothing moves; once the dispute is won, the same refund succeeds
// on each. A lost dispute takes its amount off what is refundable.
func TestDisputedRefusedOnEveryEdge(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var store refundry.Store
			var err error
			if backend == "sqlite" {
				store, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "disputes.db"))
			} else {
				store, err = postgres.Open(context.Background(), pgtest.NewDatabase(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			disputedOnEveryEdge(t, store)
		})
	}
}

// edgeCall is one HTTP exchange with the server, its answer decoded with
// numbers kept exact.
type edgeCall struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e edgeCall) do(method, path, body string, headers ...string) (int, map[string]any, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return res.StatusCode, out, string(raw)
}

func (e edgeCall) form(path string, v url.Values) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(raw)
}

var (
	dashCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	dashToken  = regexp.MustCompile(`name="token" value="([^"]+)"`)
	dashAmount = regexp.MustCompile(`name="amount" value="([^"]+)"`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, body)
	}
	return m[1]
}

// disputedSale is one edge's sale: one line item, one simulator payment.
type disputedSale struct {
	id, reference, lineItem, txn string
	number                       int64
	dispute                      string
}

func disputedOnEveryEdge(t *testing.T, store refundry.Store) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(store, logger, simulator.New())
	m := &refundry.Merchant{Slug: "disputed", Name: "Disputed", Currency: "USD"}
	key, err := eng.CreateMerchant(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(eng, logger, mustOps(t, store, eng)))
	t.Cleanup(srv.Close)
	api := edgeCall{t, srv.URL, http.DefaultClient}
	bearer := []string{"Authorization", "Bearer " + key}

	newSale := func(edge string) *disputedSale {
		t.Helper()
		ref := "DSP-" + edge + "-" + refundry.NewID()
		status, s, raw := api.do("POST", "/v1/sales", fmt.Sprintf(`{"reference": %q, "currency": "USD",
			"line_items": [{"name": "ticket", "quantity": 1, "unit_amount": 2500}],
			"payment": {"gateway": "simulator", "reference": %q}}`, ref, "pay-"+ref), bearer...)
		if status != 201 {
			t.Fatalf("sale for %s: %d %s", edge, status, raw)
		}
		txn := s["transactions"].([]any)[0].(map[string]any)
		n, _ := txn["number"].(json.Number).Int64()
		return &disputedSale{id: s["id"].(string), reference: ref, lineItem: s["line_items"].([]any)[0].(map[string]any)["id"].(string),
			txn: txn["id"].(string), number: n}
	}
	refunded := func(s *disputedSale) string {
		t.Helper()
		_, got, _ := api.do("GET", "/v1/sales/"+s.id, "", bearer...)
		return fmt.Sprint(got["refunded_amount"])
	}

	// The dashboard: a signed-in session, and a confirmation prepared
	// before the dispute, so that the form's final POST meets it too.
	jar, _ := cookiejar.New(nil)
	dash := edgeCall{t, srv.URL, &http.Client{Jar: jar}}
	_, body := dash.form("/dashboard/signin", url.Values{"key": {key}, "csrf": {func() string {
		_, _, page := dash.do("GET", "/dashboard/signin", "")
		return match(t, dashCSRF, page)
	}()}})
	csrf := match(t, dashCSRF, body)
	review := func(s *disputedSale) (int, string) {
		return dash.form("/dashboard/sales/"+s.id+"/refund/review", url.Values{"csrf": {csrf}, "target": {"sale:" + s.id}})
	}

	// Each edge: its refund request, how it shows charge_disputed, and
	// how it shows a refund made.
	type edgeCase struct {
		name    string
		refund  func(s *disputedSale) (int, map[string]any, string)
		refused func(status int, b map[string]any) bool
		done    func(status int, b map[string]any) bool
	}
	message := func(b map[string]any, k, prefix string) bool {
		s, _ := b[k].(string)
		return strings.HasPrefix(s, prefix)
	}
	edges := []edgeCase{
		{"native",
			func(s *disputedSale) (int, map[string]any, string) {
				return api.do("POST", "/v1/refunds", fmt.Sprintf(`{"transaction": %q}`, s.txn), bearer...)
			},
			func(status int, b map[string]any) bool {
				e, _ := b["error"].(map[string]any)
				msg, _ := e["message"].(string)
				return status == 400 && e["type"] == "invalid_request_error" && e["code"] == "charge_disputed" && strings.Contains(msg, "disputed")
			},
			func(status int, b map[string]any) bool { return status == 201 && b["status"] == "succeeded" }},
		{"keepup",
			func(s *disputedSale) (int, map[string]any, string) {
				return api.do("PUT", "/v2.0/sales/refund/"+s.reference, ``, bearer...)
			},
			func(status int, b map[string]any) bool {
				return status == 422 && fmt.Sprint(b["status"]) == "422" && message(b, "error", "Sale is disputed") && len(b) == 2
			},
			func(status int, b map[string]any) bool { return status == 200 && b["message"] == "sale refunded" }},
		{"talkable",
			func(s *disputedSale) (int, map[string]any, string) {
				return api.do("POST", "/api/v2/origins/"+s.reference+"/refund", `{"site_slug": "disputed"}`, bearer...)
			},
			func(status int, b map[string]any) bool {
				return status == 422 && b["ok"] == false && message(b, "error_message", "Purchase is disputed") && len(b) == 2
			},
			func(status int, b map[string]any) bool { return status == 200 && b["ok"] == true }},
		{"revcent",
			func(s *disputedSale) (int, map[string]any, string) {
				return api.do("POST", "/v2/product_sales/"+s.lineItem+"/refund", `{}`, "X-API-Key", key)
			},
			func(status int, b map[string]any) bool {
				return status == 409 && b["error_code"] == "charge_disputed" && fmt.Sprint(b["code"]) == "0" && message(b, "message", "The product sale's payment has an open dispute") && len(b) == 6
			},
			func(status int, b map[string]any) bool {
				return status == 200 && fmt.Sprint(b["code"]) == "1" && fmt.Sprint(b["amount"]) == "25.00"
			}},
		{"payop",
			func(s *disputedSale) (int, map[string]any, string) {
				return api.do("POST", "/v1/refunds/create", fmt.Sprintf(`{"transactionIdentifier": %q, "refundType": 1}`, "pay-"+s.reference), bearer...)
			},
			func(status int, b map[string]any) bool {
				return status == 422 && message(b, "message", "Transaction is disputed") && len(b) == 1
			},
			func(status int, b map[string]any) bool { return status == 200 && fmt.Sprint(b["status"]) == "1" }},
		{"jetti",
			func(s *disputedSale) (int, map[string]any, string) {
				return api.do("PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", s.number), `{}`, bearer...)
			},
			func(status int, b map[string]any) bool {
				_, fields := b["errors"]
				return status == 422 && message(b, "message", "Transaction is disputed") && !fields
			},
			func(status int, b map[string]any) bool { return status == 200 && b["status"] == "complete" }},
	}

	sales := map[string]*disputedSale{}
	for _, e := range edges {
		sales[e.name] = newSale(e.name)
	}
	// The purchase Talkable refunds has a referral, which a refused
	// refund must leave as it was.
	if status, _, raw := api.do("POST", "/v1/referrals", fmt.Sprintf(`{"origin": %q, "advocate": {"email": "a@example.com"},
		"friend": {"email": "f@example.com"}, "status": "approved"}`, sales["talkable"].reference), bearer...); status != 201 {
		t.Fatalf("referral: %d %s", status, raw)
	}
	referral := func() string {
		t.Helper()
		origin, err := eng.FindOrigin(ctx, m.ID, sales["talkable"].reference)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := eng.ListReferrals(ctx, m.ID, origin.ID)
		if err != nil || len(refs) != 1 {
			t.Fatalf("referrals: %v %v", refs, err)
		}
		return refs[0].Status
	}
	dashSale := newSale("dashboard")
	_, page := review(dashSale)
	staleConfirm := url.Values{"csrf": {csrf}, "token": {match(t, dashToken, page)}, "target": {"sale:" + dashSale.id}, "amount": {match(t, dashAmount, page)}}

	// Every payment disputed, by hand.
	record := func(s *disputedSale) {
		t.Helper()
		status, d, raw := api.do("POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "reason": "fraudulent"}`, s.txn), bearer...)
		if status != 201 || d["status"] != "needs_response" || fmt.Sprint(d["amount"]) != "2500" {
			t.Fatalf("record the dispute: %d %s", status, raw)
		}
		s.dispute = d["id"].(string)
	}
	for _, s := range sales {
		record(s)
	}
	record(dashSale)

	// Refused on every edge, in its own shape, and nothing moved.
	for _, e := range edges {
		s := sales[e.name]
		status, b, raw := e.refund(s)
		if !e.refused(status, b) {
			t.Errorf("%s: a disputed payment's refund answered %d %s", e.name, status, raw)
		}
		if got := refunded(s); got != "0" {
			t.Errorf("%s: refused, yet the sale shows %s refunded", e.name, got)
		}
	}
	if got := referral(); got != "approved" {
		t.Errorf("talkable: the refused refund left the referral %s", got)
	}
	status, page := review(dashSale)
	if status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(page), "Refund refused: ") || !strings.Contains(page, "disputed") {
		t.Errorf("dashboard review of a disputed sale: %d\n%s", status, page)
	}
	status, page = dash.form("/dashboard/sales/"+dashSale.id+"/refund", staleConfirm)
	if status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(page), "Refund refused: ") || !strings.Contains(page, "disputed") {
		t.Errorf("dashboard confirmation made before the dispute: %d\n%s", status, page)
	}
	if got := refunded(dashSale); got != "0" {
		t.Errorf("dashboard: refused, yet the sale shows %s refunded", got)
	}
	if _, got, _ := api.do("GET", "/v1/refunds?limit=100", "", bearer...); len(got["data"].([]any)) != 0 {
		t.Errorf("refunds exist after every edge refused: %v", got["data"])
	}

	// Won: the same refunds succeed on every edge.
	for _, s := range append([]*disputedSale{dashSale}, sales["native"], sales["keepup"], sales["talkable"], sales["revcent"], sales["payop"], sales["jetti"]) {
		status, d, raw := api.do("POST", "/v1/disputes/"+s.dispute, `{"status": "won"}`, bearer...)
		if status != 200 || d["status"] != "won" {
			t.Fatalf("win the dispute: %d %s", status, raw)
		}
	}
	for _, e := range edges {
		s := sales[e.name]
		status, b, raw := e.refund(s)
		if !e.done(status, b) {
			t.Errorf("%s: after the dispute was won, the refund answered %d %s", e.name, status, raw)
		}
		if got := refunded(s); got != "2500" {
			t.Errorf("%s: after the won dispute the sale shows %s refunded, want 2500", e.name, got)
		}
	}
	if got := referral(); got != "voided" {
		t.Errorf("talkable: the refund after the won dispute left the referral %s", got)
	}
	status, page = review(dashSale)
	if status != http.StatusOK {
		t.Fatalf("dashboard review after the dispute was won: %d\n%s", status, page)
	}
	status, page = dash.form("/dashboard/sales/"+dashSale.id+"/refund", url.Values{"csrf": {csrf}, "token": {match(t, dashToken, page)},
		"target": {"sale:" + dashSale.id}, "amount": {match(t, dashAmount, page)}})
	if status != http.StatusOK || strings.Contains(page, "Refund refused") {
		t.Errorf("dashboard refund after the dispute was won: %d\n%s", status, page)
	}
	if got := refunded(dashSale); got != "2500" {
		t.Errorf("dashboard: after the won dispute the sale shows %s refunded, want 2500", got)
	}

	// Lost: its amount went back through the card network, so less
	// remains to refund, and no edge may refund it again.
	lost := newSale("lost")
	status, d, raw := api.do("POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "amount": 1000, "status": "under_review"}`, lost.txn), bearer...)
	if status != 201 {
		t.Fatalf("record: %d %s", status, raw)
	}
	if status, _, raw := api.do("POST", "/v1/disputes/"+d["id"].(string), `{"status": "lost"}`, bearer...); status != 200 {
		t.Fatalf("lose: %d %s", status, raw)
	}
	_, got, _ := api.do("GET", "/v1/sales/"+lost.id, "", bearer...)
	txn := got["transactions"].([]any)[0].(map[string]any)
	if fmt.Sprint(got["refundable_amount"]) != "1500" || fmt.Sprint(txn["disputed_amount"]) != "1000" || txn["dispute_status"] != "lost" {
		t.Fatalf("sale after a lost dispute of 1000 of 2500: %v", got)
	}
	if status, b, raw := edges[0].refund(lost); status != 201 || fmt.Sprint(b["amount"]) != "1500" {
		t.Fatalf("refund of what the lost dispute left: %d %s", status, raw)
	}
	storetest.CheckInvariants(t, store, m.ID)
}
