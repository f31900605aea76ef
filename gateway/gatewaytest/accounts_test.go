package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	dialecttalkable "github.com/refundry/refundry/dialect/talkable"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/gateway/connect"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/stripemock"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/notify"
)

// The end-to-end suite: a merchant's Refundry holds gateway accounts of
// each kind, each pointing at a second Refundry that plays the provider
// through its dialect handler. Every case makes the payment at the
// provider, records it in the merchant's Refundry through the native API
// (POST /v1/sales naming the account), refunds it through the native
// API (POST /v1/refunds), and then reads both sides: what the merchant's
// Refundry says of the refund, and what the provider holds, must agree.

// provider is the playing Refundry's HTTP side, with a fault a case may
// put in front of it, counting the requests that reach it.
type provider struct {
	h     http.Handler
	mu    sync.Mutex
	wrap  func(http.Handler) http.Handler
	calls atomic.Int64
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	p.mu.Lock()
	wrap := p.wrap
	p.mu.Unlock()
	h := p.h
	if wrap != nil {
		h = wrap(h)
	}
	h.ServeHTTP(w, r)
}

func (p *provider) set(wrap func(http.Handler) http.Handler) {
	p.mu.Lock()
	p.wrap = wrap
	p.mu.Unlock()
	p.calls.Store(0)
}

// merchant is the merchant's Refundry: its engine with a secrets key and
// the connector factory, served by the native API.
type merchant struct {
	env *testenv.Env
	srv *httptest.Server
}

func newMerchant(t *testing.T, store string) *merchant {
	env := newEnv(t, store)
	env.Engine.Secrets = testenv.NewSealer()
	env.Engine.Connect = func(a *refundry.GatewayAccount) (refundry.Gateway, error) {
		return connect.New(a, &http.Client{Timeout: 10 * time.Second})
	}
	srv := httptest.NewServer(edge.Observe(env.Logger, api.NewHandler(env.Engine, env.Logger)))
	t.Cleanup(srv.Close)
	return &merchant{env: env, srv: srv}
}

// do sends a native API request as merchant A and returns the status and
// the decoded answer.
func (m *merchant) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, m.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.env.KeyA)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// account adds a gateway account through the API and returns its id.
func (m *merchant) account(t *testing.T, kind, baseURL string, creds map[string]string) string {
	t.Helper()
	status, a := m.do(t, "POST", "/v1/gateway_accounts", map[string]any{"kind": kind, "base_url": baseURL, "credentials": creds})
	if status != http.StatusCreated {
		t.Fatalf("add %s account: %d %v", kind, status, a)
	}
	for f, v := range creds {
		if strings.Contains(fmt.Sprint(a), v) && len(v) > 4 {
			t.Fatalf("the answer shows credential %s: %v", f, a)
		}
	}
	return a["id"].(string)
}

// refund reads a refund back through the API.
func (m *merchant) refund(t *testing.T, id string) map[string]any {
	t.Helper()
	status, r := m.do(t, "GET", "/v1/refunds/"+id, nil)
	if status != http.StatusOK {
		t.Fatalf("GET refund %s: %d %v", id, status, r)
	}
	return r
}

// credentialField is the credential each connector's kind takes.
var credentialField = map[string]string{"payop": "token", "revcent": "api_key", "jetti": "token", "keepup": "api_key"}

// e2eWant is what a case must end in at the merchant's Refundry.
type e2eWant struct {
	HTTP   int    // the answer to POST /v1/refunds
	Status string // the refund's status after the answer ("" when refused)
	Param  string // the field a 400 names
	Moved  bool   // whether the provider holds the refund after an unknown outcome
	NoCall bool   // the provider must hear nothing
}

// e2eExpect turns the gateway-level outcome of a case into what the
// merchant sees through the native API. A refusal is a failed refund;
// an answer the provider gave is recorded as it is; an unknown outcome
// leaves the refund pending, or, from a one-shot gateway, which must not
// be asked again, sends it to manual review; a call the provider turned
// away (EGATEWAY) goes to manual review too, and the client is answered
// with the refund either way, never an error it could retry.
func e2eExpect(tc testCase, want outcome, oneShot bool) e2eWant {
	switch {
	case tc.amount < 0:
		// More than remains: the merchant's Refundry refuses it itself.
		return e2eWant{HTTP: http.StatusBadRequest, Param: "amount", NoCall: true}
	case want.NoCall:
		// A RefundChecker gateway refuses it before anything is stored.
		return e2eWant{HTTP: http.StatusBadRequest, Param: "amount", NoCall: true}
	case want.Status != "":
		return e2eWant{HTTP: http.StatusCreated, Status: want.Status}
	case want.Code == refundry.EGATEWAY:
		return e2eWant{HTTP: http.StatusCreated, Status: refundry.RefundRequiresAction, Moved: want.Moved}
	case oneShot:
		return e2eWant{HTTP: http.StatusCreated, Status: refundry.RefundRequiresAction, Moved: want.Moved}
	default:
		return e2eWant{HTTP: http.StatusCreated, Status: refundry.RefundPending, Moved: want.Moved}
	}
}

// TestAccountsEndToEnd runs every case of the conformance suite through
// the native API of a merchant's Refundry whose accounts point at a
// Refundry playing each provider, on each store.
func TestAccountsEndToEnd(t *testing.T) {
	for _, st := range []string{"sqlite", "postgres"} {
		for _, c := range connectors {
			t.Run(st+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				runEndToEnd(t, c, newEnv(t, st), newMerchant(t, st))
			})
		}
	}
}

func runEndToEnd(t *testing.T, c connector, p *testenv.Env, m *merchant) {
	prov := &provider{h: c.handler(p.Engine, p.Logger)}
	psrv := httptest.NewServer(prov)
	t.Cleanup(psrv.Close)
	field := credentialField[c.name]
	good := m.account(t, c.name, psrv.URL, map[string]string{field: p.KeyA})
	bad := m.account(t, c.name, psrv.URL, map[string]string{field: "not-a-key-of-this-provider"})
	g, err := connect.New(&refundry.GatewayAccount{Kind: c.name, BaseURL: psrv.URL, Credentials: map[string]string{field: p.KeyA}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	one, oneShot := g.(refundry.OneShot)
	oneShot = oneShot && one.OneShot()

	h := harness{errorBody: c.errorBody, expect: c.expect, skip: c.skip}
	var seq atomic.Int64
	for _, tc := range cases(h) {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := c.skip[tc.name]; ok {
				t.Skip(why)
			}
			gw := tc.want
			if w, ok := c.expect[tc.name]; ok {
				gw = w
			}
			want := e2eExpect(tc, gw, oneShot)
			amount := tc.amount
			if amount < 0 {
				amount = tc.paid + 1
			}

			// The payment, at the provider.
			n := seq.Add(1)
			ref := fmt.Sprintf("pay_%s_%d", c.name, n)
			switch tc.b {
			case decline:
				ref = fmt.Sprintf("%s_%s_%d", simulator.PrefixFail, c.name, n)
			case pend:
				ref = fmt.Sprintf("%s_%s_%d", simulator.PrefixPending, c.name, n)
			}
			ps := p.Sale(testenv.SaleSpec{Reference: fmt.Sprintf("order_%s_%d", c.name, n), Currency: tc.currency,
				Units: []int64{tc.paid}, PayRefs: []string{ref}})
			pid := c.providerID(ps)
			if tc.unknown {
				pid = c.unknownID
			}

			// The same payment, recorded in the merchant's Refundry through
			// its account. RevCent refunds line by line: the line carries
			// the provider's product sale id, and the payment's reference
			// is only the merchant's, so that a refund sent for anything
			// but the line would not find it.
			acct := good
			if tc.conn.badCredentials {
				acct = bad
			}
			line := map[string]any{"name": "Seat", "unit_amount": tc.paid}
			payment := map[string]any{"gateway": c.name, "gateway_account": acct, "reference": pid}
			if c.name == "revcent" {
				line["gateway_line_id"] = pid
				payment["reference"] = fmt.Sprintf("merchant_ref_%d", n)
			}
			status, ms := m.do(t, "POST", "/v1/sales", map[string]any{"currency": tc.currency,
				"line_items": []any{line}, "payment": payment})
			if status != http.StatusCreated {
				t.Fatalf("record the payment: %d %v", status, ms)
			}
			txn := ms["transactions"].([]any)[0].(map[string]any)
			if txn["gateway_account"] != acct {
				t.Fatalf("the payment's account is %v, want %s", txn["gateway_account"], acct)
			}

			// The refund, through the native API.
			body := map[string]any{"amount": amount}
			if c.name == "revcent" {
				body["line_item"] = ms["line_items"].([]any)[0].(map[string]any)["id"]
			} else {
				body["sale"] = ms["id"]
			}
			prov.set(tc.conn.wrap)
			m.env.Engine.GatewayTimeout = 10 * time.Second
			if tc.timeout != 0 {
				m.env.Engine.GatewayTimeout = tc.timeout
			}
			status, r := m.do(t, "POST", "/v1/refunds", body)
			prov.set(nil)
			if status != want.HTTP {
				t.Fatalf("POST /v1/refunds: %d %v, want %d", status, r, want.HTTP)
			}
			if want.NoCall && prov.calls.Load() != 0 {
				t.Errorf("%d requests reached the provider; want none", prov.calls.Load())
			}
			if status != http.StatusCreated {
				e, _ := r["error"].(map[string]any)
				if e["param"] != want.Param {
					t.Errorf("refused naming %v, want %q: %v", e["param"], want.Param, e)
				}
				// Nothing was stored.
				if _, refunds := m.do(t, "GET", "/v1/refunds?sale="+ms["id"].(string), nil); fmt.Sprint(refunds["data"]) != "[]" {
					t.Errorf("a refused refund was stored: %v", refunds["data"])
				}
				checkBoth(t, p, ps, refundry.RefundFailed, amount, false)
				return
			}
			id := r["id"].(string)
			got := m.refund(t, id)
			if got["status"] != want.Status {
				t.Fatalf("refund %s is %v (%v, review: %v), want %s", id, got["status"], got["failure_reason"], got["review_reason"], want.Status)
			}
			if want.Status == refundry.RefundFailed && got["failure_reason"] == nil {
				t.Error("a failed refund names no reason")
			}
			if want.Status == refundry.RefundRequiresAction && got["review_reason"] == nil {
				t.Error("a refund in manual review names no reason")
			}
			checkBoth(t, p, ps, want.Status, amount, want.Moved)

			if tc.name != "unknown_outcome" || oneShot {
				return
			}
			// Recovery asks again through a connection that answers, and
			// settles the refund the provider made without a second one.
			if _, err := m.env.Engine.Recover(context.Background(), time.Now().Add(time.Hour), 100); err != nil {
				t.Fatal(err)
			}
			got = m.refund(t, id)
			if got["status"] != refundry.RefundSucceeded {
				t.Fatalf("after recovery the refund is %v, want succeeded", got["status"])
			}
			checkBoth(t, p, ps, refundry.RefundSucceeded, amount, true)
		})
	}
}

// checkBoth compares the merchant's word on a refund of amount (status)
// with what the provider holds of its sale ps.
func checkBoth(t *testing.T, p *testenv.Env, ps *refundry.Sale, status string, amount int64, moved bool) {
	t.Helper()
	var succeeded, pending int64
	for _, rf := range p.Refunds(ps) {
		switch rf.Status {
		case refundry.RefundSucceeded:
			succeeded += rf.Amount
		case refundry.RefundPending:
			pending += rf.Amount
		}
	}
	switch status {
	case refundry.RefundSucceeded:
		if succeeded != amount || pending != 0 {
			t.Errorf("merchant: %d succeeded; provider holds %d succeeded + %d pending", amount, succeeded, pending)
		}
	case refundry.RefundFailed:
		if succeeded != 0 || pending != 0 {
			t.Errorf("merchant: refused; provider holds %d succeeded + %d pending", succeeded, pending)
		}
	default: // pending, requires_action: the provider's word, or none
		want := int64(0)
		if moved {
			want = amount
		}
		if status == refundry.RefundPending && !moved && pending == amount && succeeded == 0 {
			return // the provider holds it pending, and said so
		}
		if succeeded+pending != want {
			t.Errorf("merchant: %s; provider holds %d succeeded + %d pending, want %d", status, succeeded, pending, want)
		}
	}
}

// TestAccountsOfTheOtherKinds: a merchant's simulator and Stripe
// accounts (Stripe through stripe-mock, keeping its refunds in the Fake)
// refund through the native API as the server's own gateways do.
func TestAccountsOfTheOtherKinds(t *testing.T) {
	for _, st := range []string{"sqlite", "postgres"} {
		t.Run(st, func(t *testing.T) {
			t.Parallel()
			m := newMerchant(t, st)
			fake := mock.NewFake(t)
			sim := m.account(t, refundry.KindSimulator, "", nil)
			stripeAcct := m.account(t, refundry.KindStripe, fake.URL, map[string]string{"secret_key": stripemock.TestKey})
			var seq atomic.Int64
			for _, tc := range []struct {
				name, kind, currency string
				paid, amount         int64
				ref                  string
				want                 string
			}{
				{"simulator/full/JPY", "simulator", "JPY", 5000, 5000, "", refundry.RefundSucceeded},
				{"simulator/partial/USD", "simulator", "USD", 1250, 501, "", refundry.RefundSucceeded},
				{"simulator/partial/KWD", "simulator", "KWD", 12345, 1001, "", refundry.RefundSucceeded},
				{"simulator/declined", "simulator", "USD", 1250, 1250, simulator.PrefixFail, refundry.RefundFailed},
				{"simulator/pending", "simulator", "USD", 1250, 1250, simulator.PrefixPending, refundry.RefundPending},
				{"stripe/full/JPY", "stripe", "JPY", 5000, 5000, "", refundry.RefundSucceeded},
				{"stripe/full/USD", "stripe", "USD", 1250, 1250, "", refundry.RefundSucceeded},
				{"stripe/partial/KWD", "stripe", "KWD", 12345, 1001, "", refundry.RefundSucceeded},
			} {
				t.Run(tc.name, func(t *testing.T) {
					n := seq.Add(1)
					payment := map[string]any{"gateway": tc.kind}
					if tc.kind == "stripe" {
						payment["gateway_account"] = stripeAcct
						payment["stripe_payment_intent"] = fmt.Sprintf("pi_accounts_%s_%d", st, n)
					} else {
						// The merchant's only simulator account: named by default.
						payment["reference"] = fmt.Sprintf("%s_accounts_%d", tc.ref, n)
					}
					status, ms := m.do(t, "POST", "/v1/sales", map[string]any{"currency": tc.currency,
						"line_items": []any{map[string]any{"name": "Seat", "unit_amount": tc.paid}}, "payment": payment})
					if status != http.StatusCreated {
						t.Fatalf("record the payment: %d %v", status, ms)
					}
					txn := ms["transactions"].([]any)[0].(map[string]any)
					if want := map[string]string{"simulator": sim, "stripe": stripeAcct}[tc.kind]; txn["gateway_account"] != want {
						t.Fatalf("the payment's account is %v, want %s", txn["gateway_account"], want)
					}
					status, r := m.do(t, "POST", "/v1/refunds", map[string]any{"sale": ms["id"], "amount": tc.amount})
					if status != http.StatusCreated {
						t.Fatalf("POST /v1/refunds: %d %v", status, r)
					}
					got := m.refund(t, r["id"].(string))
					if got["status"] != tc.want {
						t.Fatalf("refund is %v (%v), want %s", got["status"], got["failure_reason"], tc.want)
					}
					if tc.kind != "stripe" {
						return
					}
					// The two ledgers: what Stripe (the Fake) holds of the payment.
					var held int64
					for _, re := range fake.Refunds(payment["stripe_payment_intent"].(string)) {
						if a, ok := re["amount"].(int64); ok && re["status"] == "succeeded" {
							held += a
						}
					}
					if held != tc.amount {
						t.Errorf("merchant: %d succeeded; Stripe holds %d", tc.amount, held)
					}
				})
			}
		})
	}
}

// TestTalkableAccountEndToEnd: a merchant's Talkable account, pointing
// at a Refundry playing Talkable through its dialect, voids there the
// referrals of a sale wholly refunded through the native API, and the
// call is the account's delivery (GET /v1/gateway_accounts/{id}/deliveries);
// a partial refund voids nothing. The two sides agree: the referral the
// merchant's delivery reports voided is voided at Talkable.
func TestTalkableAccountEndToEnd(t *testing.T) {
	for _, st := range []string{"sqlite", "postgres"} {
		t.Run(st, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			p, m := newEnv(t, st), newMerchant(t, st)
			psrv := httptest.NewServer(dialecttalkable.NewHandler(p.Engine, p.Logger))
			t.Cleanup(psrv.Close)
			referral := func(order string) *refundry.Referral {
				p.Sale(testenv.SaleSpec{Reference: order})
				r := &refundry.Referral{MerchantID: p.A.ID, OriginSlug: order, Currency: "USD",
					Advocate: refundry.Person{Email: "a@example.com"}, Friend: refundry.Person{Email: "f-" + refundry.NewID() + "@example.com"}}
				if _, err := p.Engine.CreateReferral(ctx, r, nil); err != nil {
					t.Fatal(err)
				}
				return r
			}
			whole, partial := referral("ORDER-WHOLE"), referral("ORDER-PART")
			acct := m.account(t, refundry.KindTalkable, psrv.URL, map[string]string{"api_key": p.KeyA, "site_slug": p.A.Slug})

			w := &notify.Webhooks{Outbox: m.env.Engine.Stores.Outbox, Render: api.EventJSON, Logger: m.env.Logger,
				Schedule: []time.Duration{20 * time.Millisecond}, Timeout: 5 * time.Second, Interval: 10 * time.Millisecond,
				Accounts: m.env.Engine.OpenGatewayAccount}
			w.Open()
			t.Cleanup(w.Close)

			for _, order := range []string{"ORDER-WHOLE", "ORDER-PART"} {
				status, s := m.do(t, "POST", "/v1/sales", map[string]any{"reference": order, "currency": "USD",
					"line_items": []any{map[string]any{"name": "Seat", "unit_amount": 1250}}, "payment": map[string]any{"gateway": "simulator"}})
				if status != http.StatusCreated {
					t.Fatalf("sale %s: %d %v", order, status, s)
				}
				body := map[string]any{"sale": s["id"]}
				if order == "ORDER-PART" {
					body["amount"] = 500
				}
				if status, r := m.do(t, "POST", "/v1/refunds", body); status != http.StatusCreated || r["status"] != refundry.RefundSucceeded {
					t.Fatalf("refund %s: %d %v", order, status, r)
				}
			}

			var ds []any
			deadline := time.Now().Add(20 * time.Second)
			for {
				status, list := m.do(t, "GET", "/v1/gateway_accounts/"+acct+"/deliveries?limit=100", nil)
				if status != http.StatusOK {
					t.Fatalf("deliveries: %d %v", status, list)
				}
				ds, _ = list["data"].([]any)
				if len(ds) == 1 && ds[0].(map[string]any)["status"] == refundry.DeliveryDelivered {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the Talkable call was never delivered: %v", list)
				}
				time.Sleep(20 * time.Millisecond)
			}
			d := ds[0].(map[string]any)
			attempts, _ := d["attempts"].([]any)
			if d["event_type"] != refundry.EventSaleRefunded || len(attempts) != 1 || fmt.Sprint(attempts[0].(map[string]any)["status_code"]) != "200" {
				t.Errorf("delivery: %v", d)
			}
			for _, tc := range []struct {
				r    *refundry.Referral
				want string
			}{{whole, refundry.ReferralVoided}, {partial, refundry.ReferralApproved}} {
				got, err := p.Engine.ListReferrals(ctx, p.A.ID, tc.r.OriginID)
				if err != nil || len(got) != 1 {
					t.Fatalf("referrals of %s at Talkable: %v %v", tc.r.OriginSlug, got, err)
				}
				if got[0].Status != tc.want {
					t.Errorf("referral of %s at Talkable is %s, want %s", tc.r.OriginSlug, got[0].Status, tc.want)
				}
			}
		})
	}
}
