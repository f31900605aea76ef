package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/pgtest"
)

// The hostile-input suite (invariant 7): every route of every edge, as
// serve assembles them, is sent malformed and malicious requests. Each is
// answered 4xx in the edge's own error shape, never 5xx, and afterwards
// every sale, line item, transaction, refund, referral and event is
// exactly as it was, read from the database tables themselves. Then one
// valid request per refund route proves the targets could have moved.
func TestHostileInput(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db := "sqlite:" + t.TempDir() + "/hostile.db"
		hostile(t, db, func(t *testing.T) string { return sqliteChecksum(t, strings.TrimPrefix(db, "sqlite:")) })
	})
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.NewDatabase(t)
		hostile(t, db, func(t *testing.T) string { return postgresChecksum(t, db) })
	})
}

// edgeShape is one way in: how it takes the key, and what its errors look like.
type edgeShape struct {
	name  string
	auth  func(r *http.Request, key string)
	shape func(status int, body map[string]any) error
}

func bearer(r *http.Request, key string) { r.Header.Set("Authorization", "Bearer "+key) }

var (
	native = edgeShape{"native", bearer, func(status int, b map[string]any) error {
		e, _ := b["error"].(map[string]any)
		for _, k := range []string{"type", "code", "message"} {
			if s, _ := e[k].(string); s == "" {
				return fmt.Errorf("error.%s missing", k)
			}
		}
		return exactly(b, "error")
	}}
	keepupEdge = edgeShape{"keepup", bearer, func(status int, b map[string]any) error {
		if n, _ := b["status"].(float64); int(n) != status {
			return fmt.Errorf("status %v in the body, %d on the wire", b["status"], status)
		}
		if s, _ := b["error"].(string); s == "" {
			return fmt.Errorf("error missing")
		}
		return exactly(b, "status", "error")
	}}
	talkableEdge = edgeShape{"talkable", func(r *http.Request, key string) { r.SetBasicAuth(key, "") }, func(status int, b map[string]any) error {
		if ok, isBool := b["ok"].(bool); !isBool || ok {
			return fmt.Errorf(`"ok" must be false`)
		}
		if s, _ := b["error_message"].(string); s == "" {
			return fmt.Errorf("error_message missing")
		}
		return exactly(b, "ok", "error_message")
	}}
	payopEdge = edgeShape{"payop", bearer, func(status int, b map[string]any) error {
		if s, _ := b["message"].(string); s == "" {
			return fmt.Errorf("message missing")
		}
		return exactly(b, "message")
	}}
	revcentEdge = edgeShape{"revcent", func(r *http.Request, key string) { r.Header.Set("X-API-Key", key) }, func(status int, b map[string]any) error {
		if id, _ := b["api_call_id"].(string); len(id) != 20 {
			return fmt.Errorf("api_call_id %v is not 20 characters", b["api_call_id"])
		}
		if _, ok := b["api_call_unix"].(float64); !ok {
			return fmt.Errorf("api_call_unix missing")
		}
		if code, ok := b["code"].(float64); !ok || code != 0 {
			return fmt.Errorf("code %v, want 0", b["code"])
		}
		for _, k := range []string{"error_code", "message", "result"} {
			if s, _ := b[k].(string); s == "" {
				return fmt.Errorf("%s missing", k)
			}
		}
		return exactly(b, "api_call_id", "api_call_unix", "code", "error_code", "message", "result")
	}}
	jettiEdge = edgeShape{"jetti", bearer, func(status int, b map[string]any) error {
		if s, _ := b["message"].(string); s == "" {
			return fmt.Errorf("message missing")
		}
		if e, ok := b["errors"]; ok {
			if _, isMap := e.(map[string]any); !isMap {
				return fmt.Errorf("errors is not an object")
			}
		}
		return exactly(b, "message", "errors")
	}}
)

// exactly reports a key the shape does not have.
func exactly(b map[string]any, keys ...string) error {
	for k := range b {
		found := false
		for _, want := range keys {
			found = found || k == want
		}
		if !found {
			return fmt.Errorf("unexpected property %q", k)
		}
	}
	return nil
}

// route is one route with real objects in its path, so that a hostile
// request that got through would act on something.
type route struct {
	edge   edgeShape
	method string
	path   string
	// id is the path segment holding an object's id ("" when none):
	// hostile ids replace it.
	id string
	// body is a valid body whose amount (or other number) is the text
	// AMOUNT, and whose name field is the text NAME; "" for routes that
	// take no body.
	body string
	// list routes take the pagination query.
	list bool
	// unknownIgnored: the contract decides unknown fields are ignored.
	unknownIgnored bool
	// zeroValid: 0 is a valid value where AMOUNT goes (Jetti's contract
	// decides a refundAmount of 0 asks for everything that remains; a
	// referral's subtotal defaults to 0), so it is no hostile amount.
	zeroValid bool
	limit     int // the body limit to exceed; 0: 2 MB
	// name is a valid value for NAME (default "x"); badNames are values of
	// the wrong type for it.
	name     string
	badNames []string
}

type attack struct {
	name   string
	method string
	path   string
	body   string
	auth   func(r *http.Request) // nil: the route's own, with the key
	header func(r *http.Request) // changes the headers after auth; nil: none
	status int                   // 0: any 4xx
}

// badRequest is each edge's status for a request malformed in its form
// (a key named twice in the body, a header sent twice), as its contract
// has it: 400 where the contract names one, else the 422 it gives bad
// JSON.
var badRequest = map[string]int{"native": 400, "keepup": 422, "talkable": 422, "payop": 422, "revcent": 400, "jetti": 400}

// wrongKey is no merchant's key, in the form of one.
const wrongKey = "rfk_live_0000000000000000000000"

// repeatHeader sends every key header auth set (Authorization, X-API-Key)
// twice: the same value again ("same"), or a wrong key as the other copy
// ("wrong first", "wrong last").
func repeatHeader(order string) func(r *http.Request) {
	return func(r *http.Request) {
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			v := r.Header.Values(h)
			if len(v) != 1 {
				continue
			}
			other := v[0]
			if order != "same" {
				other = wrongKey
				if h == "Authorization" {
					other = "Bearer " + wrongKey
				}
			}
			if order == "wrong first" {
				r.Header[h] = []string{other, v[0]}
			} else {
				r.Header[h] = []string{v[0], other}
			}
		}
	}
}

func hostile(t *testing.T, db string, checksum func(*testing.T) string) {
	keyA := createMerchant(t, db, "hostile-a")
	keyB := createMerchant(t, db, "hostile-b")
	base := startInProcess(t, db)

	// What there is to attack: a paid sale with a referral on it, an event
	// origin, a refund, a pending refund, a batch, a webhook endpoint.
	var sale, pendingSale, theirs saleJSON
	nativeCall(t, base, keyA, "POST", "/v1/sales", `{"reference": "ORDER-1", "currency": "USD", "customer": {"email": "ann@example.com"},
		"line_items": [{"name": "Widget", "quantity": 2, "unit_amount": 1250}, {"name": "Shipping", "quantity": 1, "unit_amount": 500}],
		"payment": {"reference": "pay-1"}}`, &sale)
	nativeCall(t, base, keyA, "POST", "/v1/sales", `{"reference": "ORDER-2", "currency": "USD",
		"line_items": [{"name": "Ticket", "quantity": 1, "unit_amount": 9900}], "payment": {"reference": "sim_pending_hostile"}}`, &pendingSale)
	nativeCall(t, base, keyB, "POST", "/v1/sales", `{"reference": "ORDER-B", "currency": "USD",
		"line_items": [{"name": "Theirs", "quantity": 1, "unit_amount": 700}], "payment": {"reference": "pay-b"}}`, &theirs)
	nativeCall(t, base, keyA, "POST", "/v1/referrals", `{"origin": "ORDER-1", "campaign_id": 196, "offer_id": 867,
		"advocate": {"email": "ann@example.com"}, "friend": {"email": "bo@example.com"}, "track_method": "coupon", "status": "approved", "subtotal": 3000}`, nil)
	nativeCall(t, base, keyA, "POST", "/v1/referrals", `{"origin": "newsletter:42", "advocate": {"email": "ann@example.com"},
		"friend": {"email": "cy@example.com"}, "status": "approved"}`, nil)
	var refund, pending, batch, endpoint struct{ ID string }
	nativeCall(t, base, keyA, "POST", "/v1/refunds", fmt.Sprintf(`{"transaction": %q, "amount": 100}`, sale.Transactions[0].ID), &refund)
	nativeCall(t, base, keyA, "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 100}`, pendingSale.ID), &pending)
	nativeCall(t, base, keyA, "POST", "/v1/refund_batches", fmt.Sprintf(`{"rows": [{"target": %q, "amount": 1}]}`, sale.LineItems[1].ID), &batch)
	nativeCall(t, base, keyA, "POST", "/v1/webhook_endpoints", `{"url": "https://example.com/hook", "enabled_events": ["refund.succeeded"]}`, &endpoint)
	awaitBatch(t, base, keyA, batch.ID)

	txn, li := sale.Transactions[0], sale.LineItems[0]
	ep := "/v1/webhook_endpoints/" + endpoint.ID
	routes := []route{
		{edge: native, method: "POST", path: "/v1/sales", name: `"R-1"`, body: `{"currency": "USD", "reference": NAME, "line_items": [{"name": "x", "quantity": 1, "unit_amount": AMOUNT}]}`},
		{edge: native, method: "GET", path: "/v1/sales", list: true},
		{edge: native, method: "GET", path: "/v1/sales/" + sale.ID, id: sale.ID},
		{edge: native, method: "POST", path: "/v1/refunds", body: fmt.Sprintf(`{"transaction": %q, "amount": AMOUNT, "reason": NAME}`, txn.ID), name: `"other"`},
		{edge: native, method: "GET", path: "/v1/refunds", list: true},
		{edge: native, method: "GET", path: "/v1/refunds/" + refund.ID, id: refund.ID},
		{edge: native, method: "POST", path: "/v1/refunds/" + pending.ID + "/cancel", id: pending.ID, body: `{}`},
		{edge: native, method: "POST", path: "/v1/referrals", body: `{"origin": "ORDER-1", "advocate": {"email": NAME}, "friend": {"email": "f@example.com"}, "subtotal": AMOUNT}`, name: `"a@example.com"`, zeroValid: true},
		{edge: native, method: "GET", path: "/v1/events", list: true},
		{edge: native, method: "POST", path: "/v1/refund_batches", body: fmt.Sprintf(`{"rows": [{"target": %q, "amount": AMOUNT, "reason": NAME}]}`, li.ID), name: `"other"`, limit: api.MaxBatchBody},
		{edge: native, method: "GET", path: "/v1/refund_batches/" + batch.ID, id: batch.ID},
		{edge: native, method: "GET", path: "/v1/refund_batches/" + batch.ID + "/outcome.csv", id: batch.ID},
		{edge: native, method: "POST", path: "/v1/webhook_endpoints", body: `{"url": NAME, "enabled_events": ["refund.succeeded"]}`, name: `"https://example.com/h2"`},
		{edge: native, method: "GET", path: "/v1/webhook_endpoints", list: true},
		{edge: native, method: "GET", path: ep, id: endpoint.ID},
		{edge: native, method: "POST", path: ep + "/enable", id: endpoint.ID, body: `{}`},
		{edge: native, method: "GET", path: ep + "/deliveries", id: endpoint.ID, list: true},
		{edge: native, method: "POST", path: ep + "/deliveries/dlv_missing_000000000/replay", id: endpoint.ID, body: `{}`},
		{edge: native, method: "GET", path: "/v1/notifications", list: true},
		{edge: native, method: "DELETE", path: ep, id: endpoint.ID},
		{edge: keepupEdge, method: "PUT", path: "/v2.0/sales/refund/" + sale.ID, id: sale.ID, body: `{"alert_customer": NAME}`, name: `"no"`, unknownIgnored: true, limit: 64 << 10},
		{edge: keepupEdge, method: "POST", path: "/v2.0/sales/refund/ORDER-1", id: "ORDER-1", body: `{"alert_customer": NAME}`, name: `"no"`, unknownIgnored: true, limit: 64 << 10},
		{edge: talkableEdge, method: "POST", path: "/api/v2/origins/ORDER-1/refund", id: "ORDER-1", body: `{"site_slug": NAME, "data": {"refunded_at": AMOUNT}}`, name: `"hostile-a"`, limit: 64 << 10},
		{edge: talkableEdge, method: "POST", path: "/api/v2/origins/newsletter:42/refund", id: "newsletter:42", body: `{"site_slug": NAME, "data": {"refunded_at": AMOUNT}}`, name: `"hostile-a"`, limit: 64 << 10},
		{edge: payopEdge, method: "POST", path: "/v1/refunds/create", body: `{"transactionIdentifier": NAME, "refundType": 2, "amount": AMOUNT, "metadata": {"n": "x"}}`, name: `"pay-1"`},
		{edge: revcentEdge, method: "POST", path: "/v2/product_sales/" + li.ID + "/refund", id: li.ID, body: `{"amount": AMOUNT, "refunded_offsite": NAME}`, name: `false`, badNames: []string{`"true"`, `1`, `{}`, `[]`}, limit: 64 << 10},
		{edge: jettiEdge, method: "PUT", path: fmt.Sprintf("/v1/transactions/%d/refund.json", txn.Number), id: fmt.Sprint(txn.Number), body: `{"refundAmount": AMOUNT, "name": NAME}`, zeroValid: true, limit: 64 << 10},
		{edge: jettiEdge, method: "PUT", path: fmt.Sprintf("/transactions/%d/refund.json", txn.Number), id: fmt.Sprint(txn.Number), body: `{"refundAmount": AMOUNT, "processingFee": 0, "name": NAME}`, zeroValid: true, limit: 64 << 10},
	}

	before := checksum(t)
	seen := 0
	for _, rt := range routes {
		for _, a := range attacks(rt, theirs.ID, keyB) {
			seen++
			status, raw := send(t, base, keyA, rt, a)
			where := fmt.Sprintf("%s %s %.120q [%s]", a.method, a.path, a.body, a.name)
			if status < 400 || status > 499 || (a.status != 0 && status != a.status) {
				t.Errorf("%s: answered %d, want %s: %.300s", where, status, want(a.status), raw)
				continue
			}
			var b map[string]any
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Errorf("%s: %d answer is not JSON: %.300s", where, status, raw)
				continue
			}
			if err := rt.edge.shape(status, b); err != nil {
				t.Errorf("%s: %d answer is not %s's error shape (%v): %.300s", where, status, rt.edge.name, err, raw)
			}
		}
	}
	if after := checksum(t); after != before {
		t.Fatalf("hostile requests changed stored data (table:rows:sha256):\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("%d hostile requests to %d routes, all 4xx in shape, nothing changed", seen, len(routes))

	// The targets were live: valid requests on the same routes refund.
	for _, c := range []struct {
		rt   route
		body string
	}{
		{routes[24], `{"transactionIdentifier": "pay-1", "refundType": 2, "amount": 0.01}`},
		{routes[25], `{"amount": 0.01}`},
		{routes[26], `{"refundAmount": 0.01}`},
		{routes[22], `{"site_slug": "hostile-a"}`},
		{routes[20], ``},
	} {
		if status, raw := send(t, base, keyA, c.rt, attack{method: c.rt.method, path: c.rt.path, body: c.body}); status != http.StatusOK {
			t.Errorf("control %s %s %s: %d %s", c.rt.method, c.rt.path, c.body, status, raw)
		}
	}
	if checksum(t) == before {
		t.Fatal("valid requests changed nothing: the checksum does not see refunds")
	}
}

func want(status int) string {
	if status == 0 {
		return "4xx"
	}
	return fmt.Sprint(status)
}

// attacks are the hostile requests for one route.
func attacks(rt route, theirID, theirKey string) []attack {
	var out []attack
	add := func(name, path, body string) {
		out = append(out, attack{name: name, method: rt.method, path: path, body: body})
	}
	var validBody string
	withBody := func(name, body string) {
		// A variation a route's body has no place for leaves it valid:
		// that is no attack.
		if body != validBody {
			add(name, rt.path, body)
		}
	}
	name := rt.name
	if name == "" {
		name = `"x"`
	}
	valid := func(amount, name string) string {
		return strings.NewReplacer("AMOUNT", amount, "NAME", name).Replace(rt.body)
	}
	validBody = valid("1", name)

	// Missing and malformed credentials: 401, whatever else is wrong.
	for name, set := range map[string]func(*http.Request){
		"no key":        func(*http.Request) {},
		"empty bearer":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer") },
		"bearer space":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer  ") },
		"wrong key":     func(r *http.Request) { r.Header.Set("Authorization", "Bearer rfk_live_0000000000000000000000") },
		"sql key":       func(r *http.Request) { r.Header.Set("Authorization", "Bearer ' OR '1'='1") },
		"long key":      func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("k", 8000)) },
		"bytes key":     func(r *http.Request) { r.Header.Set("Authorization", "Bearer \xff\xfe") },
		"basic garbage": func(r *http.Request) { r.Header.Set("Authorization", "Basic %%%not-base64") },
		"basic wrong": func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("nobody:")))
		},
		"other scheme":        func(r *http.Request) { r.Header.Set("Authorization", "Token abc") },
		"x-api-key garbage":   func(r *http.Request) { r.Header.Set("X-API-Key", "../../etc/passwd") },
		"key as query string": func(r *http.Request) { r.URL.RawQuery = "api_key=x" },
	} {
		body := ""
		if rt.body != "" {
			body = valid("1", name)
		}
		out = append(out, attack{name: name, method: rt.method, path: rt.path, body: body, auth: set, status: http.StatusUnauthorized})
	}

	// Headers sent twice: which copy is meant is ambiguous, as a key named
	// twice in a body is, so refused the same way, before anything is
	// read or written, however valid the rest of the request.
	for what, header := range map[string]func(*http.Request){
		"key header twice":              repeatHeader("same"),
		"key header twice, wrong last":  repeatHeader("wrong last"),
		"key header twice, wrong first": repeatHeader("wrong first"),
		"Idempotency-Key twice": func(r *http.Request) {
			r.Header["Idempotency-Key"] = []string{"hostile-1", "hostile-2"}
		},
		"Idempotency-Key twice, alike": func(r *http.Request) {
			r.Header["Idempotency-Key"] = []string{"hostile-1", "hostile-1"}
		},
	} {
		body := ""
		if rt.body != "" {
			body = valid("1", name)
		}
		out = append(out, attack{name: what, method: rt.method, path: rt.path, body: body, header: header, status: badRequest[rt.edge.name]})
	}

	// Hostile ids in the path.
	if rt.id != "" {
		segment := "/" + rt.id + "/"
		if !strings.Contains(rt.path+"/", segment) {
			panic("id not in path: " + rt.path)
		}
		for _, id := range []string{
			"..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e", "..%5C..%5Cwindows", "' OR '1'='1", "1;DROP TABLE refunds;--",
			"%27%3B--", "%00", "abc%00def", "%ff%fe", "a%22b%5C", strings.Repeat("9", 300), "-1", "0",
			"9223372036854775808", "%F0%9F%92%B8", "1e3", "%20", theirID,
			// 20 characters, as RevCent requires before it looks at all.
			"'OR'1'='1'--xxxxxxxx", "%00aaaaaaaaaaaaaaaaaaa", "..%2F..%2F..%2Fetc%2Fpassw",
		} {
			path := strings.Replace(rt.path+"/", segment, "/"+id+"/", 1)
			path = strings.TrimSuffix(path, "/")
			body := ""
			if rt.body != "" {
				body = valid("1", name)
			}
			add("id "+id, path, body)
		}
	}

	if rt.list {
		for _, q := range []string{"limit=abc", "limit=-1", "limit=0", "limit=99999999999999999999", "limit=1e3", "limit=%ff",
			"starting_after=%27%20OR%201%3D1--", "ending_before=%00", "starting_after=" + theirID + "x", "bogus=1", "limit=1&limit=x"} {
			add("query "+q, rt.path+"?"+q, "")
		}
	}

	if rt.body == "" {
		return out
	}
	// Malformed JSON and bodies that are not the object asked for.
	for _, b := range []string{`{`, `{"a":}`, `nope`, `[1,2`, `{"a":1}}`, "\x00", `{'a': 1}`, `{"a": 1,}`, `{"a": NaN}`,
		`{"a": 0x10}`, `[]`, `"text"`, `42`, `true`, valid("1", name) + `{}`, valid("1", name) + ` trailing`} {
		withBody("malformed", b)
	}
	// Wrong types where the number goes, and in the text field.
	hasAmount := strings.Contains(rt.body, "AMOUNT")
	if hasAmount {
		for _, v := range []string{`"abc"`, `{}`, `[]`, `true`, `[1]`, `{"value": 1}`, `"1e400"`} {
			withBody("wrong type", valid(v, name))
		}
	}
	badNames := rt.badNames
	if badNames == nil {
		badNames = []string{`1`, `{}`, `[]`, `12.5`}
	}
	for _, v := range badNames {
		withBody("wrong type name", valid("1", v))
	}
	// Numbers: huge, tiny, negative, zero, too fine for USD.
	nums := []string{`1e400`, `-1e400`, `1e-400`, `99999999999999999999999999`, `9223372036854775808`, `-1`, `-0.01`, `0.001`, `1.0000001`,
		`12345678901234567890.5`, strings.Repeat("9", 5000)}
	if !rt.zeroValid && !strings.Contains(rt.body, "refunded_at") {
		nums = append(nums, `0`, `0.00`, `-0`, `0e5`)
	}
	if rt.edge.name == "native" && !strings.Contains(rt.path, "referrals") {
		nums = append(nums, `1.5`, `0.5`) // minor units are whole
	}
	for _, n := range nums {
		if hasAmount {
			withBody("number "+n[:min(len(n), 20)], valid(n, name))
		}
	}
	// Unknown fields: refused unless the contract decides otherwise.
	if !rt.unknownIgnored {
		withBody("unknown field", strings.Replace(valid("1", name), "{", `{"bogus_field": 1, `, 1))
		withBody("unknown field case", strings.Replace(valid("1", name), "{", `{"AMOUNT": 1, `, 1))
	}
	// Duplicated keys: ambiguous, so refused, even when both agree.
	dupe := strings.Replace(valid("1", name), "{", `{"dup": 1, "dup": 1, `, 1)
	withBody("duplicate key", dupe)
	if m := amountKey.FindStringSubmatch(rt.body); m != nil {
		// The first says one thing, the last another: which was meant?
		withBody("duplicate amount", strings.NewReplacer("AMOUNT", "1, "+m[1]+": 2", "NAME", name).Replace(rt.body))
		withBody("duplicate amount", strings.NewReplacer("AMOUNT", "1, "+m[1]+": 1", "NAME", name).Replace(rt.body))
	}
	// Deep nesting, a little past the limit and far past it.
	for _, depth := range []int{edge.MaxDepth + 1, 100000} {
		withBody(fmt.Sprintf("depth %d", depth), valid(strings.Repeat("[", depth)+strings.Repeat("]", depth), `"x"`))
		withBody(fmt.Sprintf("depth %d object", depth), `{"x": `+strings.Repeat(`{"a": `, depth)+"1"+strings.Repeat("}", depth)+"}")
	}
	// Invalid UTF-8 and strings no store can keep.
	for _, s := range []string{"\"\xff\xfe\"", "\"\xc0\xaf\"", "\"a\xed\xa0\x80\"", `"\ud800"`, `"\udfff\ud800"`} {
		withBody("bad text", valid("1", s))
	}
	withBody("bad key", strings.Replace(valid("1", name), "{", "{\"\xff\": 1, ", 1))
	// Oversized: past the route's limit, whatever the content.
	limit := rt.limit
	if limit == 0 {
		limit = 2 << 20
	}
	big := `{"x": "` + strings.Repeat("a", limit) + `"}`
	out = append(out, attack{name: "oversized", method: rt.method, path: rt.path, body: big, status: http.StatusRequestEntityTooLarge})
	return out
}

func send(t *testing.T, base, key string, rt route, a attack) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(a.method, base+a.path, strings.NewReader(a.body))
	if err != nil {
		t.Fatalf("%s %s: %v", a.method, a.path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.auth != nil {
		a.auth(req)
	} else {
		rt.edge.auth(req, key)
	}
	if a.header != nil {
		a.header(req)
	}
	// A client that never follows a redirect: a 3xx is an answer too.
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s [%s]: %v", a.method, a.path, a.name, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

var amountKey = regexp.MustCompile(`("\w+"): AMOUNT`)

var noRedirects = &http.Client{
	Timeout:       time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type saleJSON struct {
	ID        string
	LineItems []struct{ ID string } `json:"line_items"`
	// Transactions carry the integer number Jetti addresses them by.
	Transactions []struct {
		ID     string
		Number int64
	}
}

func nativeCall(t *testing.T, base, key, method, path, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// awaitBatch waits until serve's batch worker has done the batch, so that
// it changes nothing while the suite runs.
func awaitBatch(t *testing.T, base, key, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var b struct{ Status string }
		nativeCall(t, base, key, "GET", "/v1/refund_batches/"+id, "", &b)
		if b.Status != "pending" && b.Status != "processing" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("batch %s not done in 30s", id)
}

func createMerchant(t *testing.T, db, slug string) string {
	t.Helper()
	var out bytes.Buffer
	var errOut syncBuffer
	if err := run(context.Background(), []string{"merchant", "create", "--slug", slug, "--name", slug, "--db", db},
		func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("merchant create: %v: %s", err, errOut.String())
	}
	var got struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.APIKey == "" {
		t.Fatalf("merchant create printed %q", out.String())
	}
	return got.APIKey
}

var listenURL = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startInProcess runs serve as the command line does, in this process, so
// that every middleware, limit and mount is the one that ships. It fails
// the test if serve logged a panic, an internal error or a lost audit row.
func startInProcess(t *testing.T, db string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		// Rate limiting off: each attack is to meet the fault it carries,
		// not the 429 its key earns by asking hundreds of times a second
		// (limits_test.go tests the limit on every edge).
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--rate-limit=0"}, func(string) string { return "" }, io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		// A refusal whose audit row could not be stored is answered as
		// it should be, and lost from the log: as much a failure.
		for _, bad := range []string{"panic serving request", "internal error", "audit of a refused write failed"} {
			if strings.Contains(logs.String(), bad) {
				t.Errorf("serve logged %q:\n%s", bad, grepLines(logs.String(), bad))
			}
		}
	})
	return "http://" + logs.await(t, listenURL)
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

// checksummed are the tables whose rows must not change, each read whole
// in key order, column by column; of events, all but the outbox worker's
// own bookkeeping (dispatched), which moves on its own; of refunds, all
// but the recovery loop's schedule (bookkeeping), which moves as it asks
// gateways about pending refunds.
var checksummed = []string{"sales", "line_items", "transactions", "refunds", "referrals", "origins", "events"}

var bookkeeping = map[string]bool{"next_attempt_at": true, "recovery_attempts": true}

// kept drops the values of bookkeeping columns.
func kept(names []string, vals []any) []any {
	out := vals[:0:0]
	for i, v := range vals {
		if !bookkeeping[names[i]] {
			out = append(out, v)
		}
	}
	return out
}

func checksumQuery(table string) string {
	cols := "*"
	if table == "events" {
		cols = "id, merchant_id, type, object_type, object_id, data, created"
	}
	return "SELECT " + cols + " FROM " + table + " ORDER BY 1"
}

func sqliteChecksum(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sums []string
	for _, table := range checksummed {
		h := sha256.New()
		rows, err := db.Query(checksumQuery(table))
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%q\n", kept(cols, vals))
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n == 0 && table != "events" {
			t.Fatalf("table %s is empty: nothing to guard", table)
		}
		sums = append(sums, fmt.Sprintf("%s:%d:%.12s", table, n, hex.EncodeToString(h.Sum(nil))))
	}
	return strings.Join(sums, " ")
}

func postgresChecksum(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var sums []string
	for _, table := range checksummed {
		h := sha256.New()
		rows, err := conn.Query(ctx, checksumQuery(table))
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		var names []string
		for _, f := range rows.FieldDescriptions() {
			names = append(names, f.Name)
		}
		n := 0
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%v\n", kept(names, vals))
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n == 0 && table != "events" {
			t.Fatalf("table %s is empty: nothing to guard", table)
		}
		sums = append(sums, fmt.Sprintf("%s:%d:%.12s", table, n, hex.EncodeToString(h.Sum(nil))))
	}
	return strings.Join(sums, " ")
}
