package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

const openapiURL = "https://refundry.invalid/openapi.json"

// oaDoc is the part of the OpenAPI document the conformance test reads.
type oaDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
}

// conformance runs requests against the native API and validates every
// answer against the OpenAPI document, remembering which documented
// responses it has seen.
type conformance struct {
	t        *testing.T
	srv      *httptest.Server
	doc      oaDoc
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
	seen     map[string]bool // "POST /v1/refunds 201"
}

func newConformance(t *testing.T, h http.Handler) *conformance {
	t.Helper()
	c := &conformance{t: t, srv: httptest.NewServer(h), schemas: map[string]*jsonschema.Schema{}, seen: map[string]bool{}}
	t.Cleanup(c.srv.Close)
	if err := json.Unmarshal(api.OpenAPI, &c.doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(c.doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi.json is OpenAPI %q; want 3.1.x", c.doc.OpenAPI)
	}
	// OpenAPI 3.1 schemas are JSON Schema 2020-12, so the document's own
	// schemas are compiled as they stand, $refs resolved within it.
	whole, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI))
	if err != nil {
		t.Fatal(err)
	}
	c.compiler = jsonschema.NewCompiler()
	c.compiler.DefaultDraft(jsonschema.Draft2020)
	if err := c.compiler.AddResource(openapiURL, whole); err != nil {
		t.Fatal(err)
	}
	return c
}

func pointerEscape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// do sends a request for the documented route tmpl (its path with the
// ids filled in is path) and checks the answer has status want and a body
// that the document allows for it.
func (c *conformance) do(method, tmpl, path, key, body string, want int, headers ...string) map[string]any {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	name := fmt.Sprintf("%s %s %d", method, tmpl, res.StatusCode)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	op, ok := c.doc.Paths[tmpl][strings.ToLower(method)]
	if !ok {
		c.t.Fatalf("%s %s is not in openapi.json", method, tmpl)
	}
	if _, ok := op.Responses[strconv.Itoa(want)]; !ok {
		c.t.Fatalf("%s: status %d is not documented", name, want)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s: Content-Type %q", name, ct)
	}
	loc := fmt.Sprintf("%s#/paths/%s/%s/responses/%d/content/application~1json/schema",
		openapiURL, pointerEscape(tmpl), strings.ToLower(method), want)
	sch := c.schemas[loc]
	if sch == nil {
		if sch, err = c.compiler.Compile(loc); err != nil {
			c.t.Fatalf("%s: compile schema: %v", name, err)
		}
		c.schemas[loc] = sch
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		c.t.Fatalf("%s: body is not JSON: %q", name, raw)
	}
	if err := sch.Validate(inst); err != nil {
		c.t.Errorf("%s: the answer does not match openapi.json: %v\nbody: %s", name, err, raw)
	}
	c.seen[name] = true
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

// documented lists every documented response as "METHOD /path STATUS".
func (c *conformance) documented() []string {
	var all []string
	for path, methods := range c.doc.Paths {
		for method, op := range methods {
			for status := range op.Responses {
				all = append(all, fmt.Sprintf("%s %s %s", strings.ToUpper(method), path, status))
			}
		}
	}
	sort.Strings(all)
	return all
}

// refusing is a gateway that turns every call away as a gateway would
// with bad credentials.
type refusing struct{ refundry.Gateway }

func (refusing) Refund(context.Context, refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.EGATEWAY, "The gateway refused the credentials.")
}

// silent is a gateway that never answers a cancel, until the engine's
// deadline for the call runs out.
type silent struct{ refundry.Gateway }

func (silent) Cancel(ctx context.Context, _ refundry.GatewayRefund) (refundry.GatewayResult, error) {
	<-ctx.Done()
	return refundry.GatewayResult{}, ctx.Err()
}

// TestOpenAPIDocumentsEveryResponse runs every documented response of
// every route of the native API for real, through api.NewHandler over a
// live SQLite store, and validates each answer against openapi.json. A
// documented response that the test does not produce fails it too, so
// the document can neither lie nor promise what nobody checked.
func TestOpenAPIDocumentsEveryResponse(t *testing.T) {
	env := testenv.New(t)
	env.Engine.GatewayTimeout = 200 * time.Millisecond
	c := newConformance(t, edge.Observe(env.Logger, api.NewHandler(env.Engine, env.Logger, api.WithStripeWebhookSecret(testWebhookSecret))))
	key := env.KeyA

	sale := func(payRef string) map[string]any {
		t.Helper()
		body := fmt.Sprintf(`{"reference": "ord-%s", "currency": "USD",
			"customer": {"email": "ann@example.com", "first_name": "Ann"},
			"campaign": {"id": "cmp_1", "name": "Spring"},
			"line_items": [{"name": "Widget", "quantity": 2, "unit_amount": 1250}, {"name": "Shipping", "quantity": 1, "unit_amount": 500}],
			"payment": {"gateway": "simulator", "reference": %q, "processing_fee": 30, "base_amount": 2760, "base_currency": "EUR"}}`,
			refundry.NewID(), payRef+"-"+refundry.NewID())
		return c.do("POST", "/v1/sales", "/v1/sales", key, body, 201)
	}
	id := func(m map[string]any) string { s, _ := m["id"].(string); return s }
	missing := refundry.NewID()

	// Sales.
	s := sale("pay")
	ref, _ := s["reference"].(string)
	c.do("POST", "/v1/sales", "/v1/sales", key, `{"line_items": [], "bogus": 1}`, 400)
	c.do("POST", "/v1/sales", "/v1/sales", "", `{}`, 401)
	c.do("POST", "/v1/sales", "/v1/sales", key, fmt.Sprintf(`{"reference": %q, "line_items": [{"name": "x", "unit_amount": 100}], "payment": {"gateway": "simulator"}}`, ref), 409)
	c.do("POST", "/v1/sales", "/v1/sales", key, `{"reference": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)
	c.do("GET", "/v1/sales", "/v1/sales?limit=2", key, "", 200)
	c.do("GET", "/v1/sales", "/v1/sales?colour=red", key, "", 400)
	// customer_email matches whole, in any case of A to Z.
	if got := c.do("GET", "/v1/sales", "/v1/sales?customer_email=ANN%40Example.com", key, "", 200); !strings.Contains(fmt.Sprint(got["data"]), id(s)) {
		t.Errorf("customer_email in another case does not find the sale: %v", got)
	}
	c.do("GET", "/v1/sales", "/v1/sales?customer_email=%FF", key, "", 400)
	c.do("GET", "/v1/sales", "/v1/sales", "", "", 401)
	c.do("GET", "/v1/sales/{id}", "/v1/sales/"+id(s), key, "", 200)
	c.do("GET", "/v1/sales/{id}", "/v1/sales/"+id(s), "", "", 401)
	c.do("GET", "/v1/sales/{id}", "/v1/sales/"+missing, key, "", 404)
	c.do("GET", "/v1/sales/{id}", "/v1/sales/"+id(s), env.KeyB, "", 404)

	// Refunds: one that succeeds at once, with metadata and a reason.
	r := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 500, "reason": "requested_by_customer", "metadata": {"ticket": "T-1"}}`, id(s)), 201)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 999999}`, id(s)), 400)
	c.do("POST", "/v1/refunds", "/v1/refunds", "", `{}`, 401)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q}`, missing), 404)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, `{"reason": "`+strings.Repeat("x", api.MaxBody)+`"}`, 413)
	// A line item refund, and an offsite one that starts succeeded.
	li := s["line_items"].([]any)[1].(map[string]any)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"line_item": %q, "amount": 100, "offsite": true}`, id(li)), 201)
	// Lines with tax and shipping, refunded by quantity: the refund shows
	// what it returned of each line, the sale each line's remains.
	itemized := c.do("POST", "/v1/sales", "/v1/sales", key, `{"currency": "USD", "line_items": [
		{"name": "Widget", "quantity": 2, "unit_amount": 1250, "tax_amount": 250},
		{"name": "Shipping", "kind": "shipping", "unit_amount": 500}], "payment": {"gateway": "simulator"}}`, 201)
	widget := id(itemized["line_items"].([]any)[0].(map[string]any))
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"lines": [{"line_item": %q, "quantity": 1}], "shipping": true}`, widget), 201)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 2}]}`, id(itemized), widget), 400)
	c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "shipping": "all"}`, id(itemized)), 400)
	c.do("GET", "/v1/sales/{id}", "/v1/sales/"+id(itemized), key, "", 200)
	// A sale paid by two transactions: the answer names the related refund.
	split := env.Sale(testenv.SaleSpec{Units: []int64{1000, 1000}, PayRefs: []string{"a", "b"}, PayAmounts: []int64{1000, 1000}})
	rs := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q}`, split.ID), 201)
	if rel, _ := rs["related"].([]any); len(rel) != 1 {
		t.Errorf("refund over two transactions: related = %v", rs["related"])
	}
	// A gateway that turns the call away: the refund is answered as made,
	// in manual review with the reason, never as an error a client
	// without an Idempotency-Key would retry into a second refund.
	refused := sale("refused")
	env.Engine.Gateways[refundry.GatewaySimulator] = refusing{env.Sim}
	if rr := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 100}`, id(refused)), 201); rr["status"] != refundry.RefundRequiresAction || rr["review_reason"] == nil {
		t.Errorf("a refund the gateway turned away: %v", rr)
	}
	env.Engine.Gateways[refundry.GatewaySimulator] = env.Sim

	c.do("GET", "/v1/refunds", "/v1/refunds?limit=100&status=succeeded", key, "", 200)
	c.do("GET", "/v1/refunds", "/v1/refunds?sale="+id(s), key, "", 200)
	c.do("GET", "/v1/refunds", "/v1/refunds?status=lost", key, "", 400)
	c.do("GET", "/v1/refunds", "/v1/refunds", "", "", 401)
	c.do("GET", "/v1/refunds/{id}", "/v1/refunds/"+id(r), key, "", 200)
	c.do("GET", "/v1/refunds/{id}", "/v1/refunds/"+id(r), "", "", 401)
	c.do("GET", "/v1/refunds/{id}", "/v1/refunds/"+missing, key, "", 404)

	// Cancel: a pending refund cancels; a succeeded one conflicts; a
	// gateway that does not answer is a 503.
	pending := sale("sim_pending")
	pr := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 300}`, id(pending)), 201)
	c.do("POST", "/v1/refunds/{id}/cancel", "/v1/refunds/"+id(pr)+"/cancel", key, "", 200)
	c.do("POST", "/v1/refunds/{id}/cancel", "/v1/refunds/"+id(r)+"/cancel", key, "", 409)
	c.do("POST", "/v1/refunds/{id}/cancel", "/v1/refunds/"+id(r)+"/cancel", "", "", 401)
	c.do("POST", "/v1/refunds/{id}/cancel", "/v1/refunds/"+missing+"/cancel", key, "", 404)
	hang := sale("sim_pending")
	hr := c.do("POST", "/v1/refunds", "/v1/refunds", key, fmt.Sprintf(`{"sale": %q, "amount": 300}`, id(hang)), 201)
	env.Engine.Gateways[refundry.GatewaySimulator] = silent{env.Sim}
	c.do("POST", "/v1/refunds/{id}/cancel", "/v1/refunds/"+id(hr)+"/cancel", key, "", 503)
	env.Engine.Gateways[refundry.GatewaySimulator] = env.Sim

	// Referrals: of a purchase (its order number) and of an event.
	c.do("POST", "/v1/referrals", "/v1/referrals", key, fmt.Sprintf(`{"origin": %q, "campaign_id": 196, "offer_id": 867,
		"advocate": {"email": "ann@example.com", "first_name": "Ann"}, "friend": {"email": "bo@example.com"},
		"track_method": "coupon", "status": "approved", "subtotal": 2500}`, ref), 201)
	c.do("POST", "/v1/referrals", "/v1/referrals", key, `{"origin": "concert:2026-05-01", "advocate": {"email": "a@example.com"}, "friend": {"email": "f@example.com"}}`, 201)
	c.do("POST", "/v1/referrals", "/v1/referrals", key, `{"origin": 5}`, 400)
	c.do("POST", "/v1/referrals", "/v1/referrals", "", `{}`, 401)
	c.do("POST", "/v1/referrals", "/v1/referrals", key, `{"origin": "no-such-order", "advocate": {"email": "a@example.com"}, "friend": {"email": "f@example.com"}}`, 404)

	// Events: every kind of object they carry.
	c.do("GET", "/v1/events", "/v1/events?limit=100", key, "", 200)
	c.do("GET", "/v1/events", "/v1/events?type=refund.*", key, "", 200)
	c.do("GET", "/v1/events", "/v1/events?type=nothing.happened", key, "", 400)
	c.do("GET", "/v1/events", "/v1/events", "", "", 401)

	webhookConformance(t, c, env)
	notificationConformance(t, c, env)
	batchConformance(t, c, env)
	reasonsConformance(t, c, env)
	keysConformance(t, c, env)
	reconciliationConformance(t, c, env)
	disputesConformance(t, c, env)
	returnsConformance(t, c, env)
	gatewayEventConformance(t, c, env)
	controlsConformance(t, c, env)
	// Last: a merchant's gateway accounts change where later payments go.
	accountsConformance(t, c, env)

	for _, d := range c.documented() {
		if !c.seen[d] {
			t.Errorf("documented response never checked: %s", d)
		}
	}
	t.Logf("%d documented responses, each produced and validated", len(c.documented()))
}

// TestOpenAPICoversEveryRoute reads the routes from routes.go and checks
// that each is in the document, and that the document has no route the
// API lacks.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	var doc oaDoc
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	pattern := regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) (/\S+)$`)
	routes := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		s, _ := strconv.Unquote(lit.Value)
		if m := pattern.FindStringSubmatch(s); m != nil {
			routes[s] = true
		}
		return true
	})
	if len(routes) == 0 {
		t.Fatal("found no routes in routes.go")
	}
	documented := map[string]bool{}
	for path, methods := range doc.Paths {
		for method := range methods {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for r := range routes {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !routes[d] {
			t.Errorf("openapi.json documents %s, which routes.go does not serve", d)
		}
	}
}

// TestReferencePage checks that /docs renders every route of the document
// from the binary, with nothing fetched from elsewhere.
func TestReferencePage(t *testing.T) {
	rec := httptest.NewRecorder()
	api.ReferenceHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/docs", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	for _, want := range []string{"POST</span> <span class=\"path\">/v1/refunds</span>", "/v1/refunds/{id}/cancel", "amount_too_large", "id=\"schema-Refund\"",
		"/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/replay", "id=\"schema-WebhookDelivery\"", "id=\"schema-Notification\"",
		// The create answer narrows WebhookEndpoint with allOf; it links there.
		"<td>201</td><td><a href=\"#schema-WebhookEndpoint\">WebhookEndpoint</a>",
		// A body that is not JSON is named by its media type.
		"<td>200</td><td>string (text/csv)</td>", "or string (text/csv)</p>", "id=\"schema-RefundBatch\"",
		"/v1/disputes/{id}", "id=\"schema-Dispute\"", "charge_disputed",
		"/v1/gateway_accounts/{id}/deliveries", "id=\"schema-GatewayAccount\""} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs lacks %q", want)
		}
	}
	// The texts' Markdown code spans are code, not backticks.
	if !strings.Contains(page, "<code>Authorization: Bearer KEY</code>") {
		t.Error("/docs does not render the texts' `code` spans as <code>")
	}
	if strings.Contains(page, "`") {
		t.Errorf("/docs shows a Markdown backtick: %q", page[max(0, strings.Index(page, "`")-60):strings.Index(page, "`")+1])
	}
	if strings.Contains(page, "<script") || regexp.MustCompile(`(src|href)="https?://`).MatchString(page) {
		t.Error("/docs loads something from elsewhere")
	}
	rec = httptest.NewRecorder()
	api.OpenAPIHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) {
		t.Fatalf("/openapi.json: %d", rec.Code)
	}
}
