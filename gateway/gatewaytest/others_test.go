package gatewaytest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/gateway/stripe"
	"github.com/refundry/refundry/internal/stripemock"
)

// mock is the stripe-mock process the Stripe cases share.
var mock *stripemock.Server

func TestMain(m *testing.M) {
	mock = stripemock.Start()
	code := m.Run()
	mock.Stop()
	os.Exit(code)
}

// noWire are the cases a gateway without a wire or state cannot be put in.
var noWire = map[string]string{
	"refused/over":    "the simulator keeps no balance: Refundry's own check refuses an over-refund before any gateway is asked",
	"unknown_outcome": "the simulator has no wire on which an answer could be lost",
	"not_found":       "the simulator takes any payment reference",
	"bad_credentials": "the simulator has no credentials",
	"proxy_502":       "the simulator has no wire",
}

func TestSimulator(t *testing.T) {
	t.Parallel()
	sim := simulator.New()
	var seq atomic.Int64
	run(t, harness{
		name: "simulator",
		pay: func(t *testing.T, amount int64, currency string, b behaviour, unknown bool) *refundry.Transaction {
			n := seq.Add(1)
			ref := fmt.Sprintf("conformance_%d", n)
			switch b {
			case decline:
				ref = simulator.PrefixFail + "_" + ref
			case pend:
				ref = simulator.PrefixPending + "_" + ref
			case hang:
				ref = simulator.PrefixHang + "_" + ref
			}
			return &refundry.Transaction{ID: ref, Reference: ref, Gateway: refundry.GatewaySimulator, Currency: currency, Amount: amount}
		},
		gateway: func(t *testing.T, c conn) refundry.Gateway { return sim },
		ledger: func(t *testing.T, _ *refundry.Transaction, refundID string) (ledger, bool) {
			return ledger{Succeeded: sim.Moved(refundID)}, true
		},
		expect: map[string]outcome{
			// The simulator's hang ends with its context's error.
			"timeout": {},
		},
		skip: noWire,
	})
}

func TestStripe(t *testing.T) {
	t.Parallel()
	stateless := "stripe-mock (and the Fake that keeps refunds over its fixtures) decides nothing: it cannot refuse, hold a refund pending, or tell a key or payment it does not know"
	// The Fake keeps the refunds stripe-mock forgets, replaying one for an
	// Idempotency-Key it has seen: the Stripe side of the ledger.
	fake := mock.NewFake(t)
	var seq atomic.Int64
	run(t, harness{
		name: "stripe",
		pay: func(t *testing.T, amount int64, currency string, b behaviour, unknown bool) *refundry.Transaction {
			id := fmt.Sprintf("pi_conformance_%d", seq.Add(1))
			return &refundry.Transaction{ID: id, Gateway: refundry.GatewayStripe, GatewayChargeID: id, Currency: currency, Amount: amount}
		},
		gateway: func(t *testing.T, c conn) refundry.Gateway {
			base, err := url.Parse(fake.URL)
			if err != nil {
				t.Fatal(err)
			}
			var h http.Handler = httputil.NewSingleHostReverseProxy(base)
			if c.wrap != nil {
				h = c.wrap(h)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			g, err := stripe.New(stripe.Config{SecretKey: stripemock.TestKey, APIBase: srv.URL, RequestsPerSecond: 1000,
				HTTPClient: &http.Client{Timeout: 10 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			return g
		},
		ledger: func(t *testing.T, txn *refundry.Transaction, _ string) (ledger, bool) {
			l := ledger{PendingKnown: true}
			for _, re := range fake.Refunds(txn.GatewayChargeID) {
				amount, ok := re["amount"].(int64)
				if !ok {
					t.Fatalf("the fake's refund amount is %T", re["amount"])
				}
				switch re["status"] {
				case "succeeded":
					l.Succeeded += amount
				case "pending":
					l.Pending += amount
				}
			}
			return l, true
		},
		errorBody: func(status int) string {
			typ, code := "invalid_request_error", "resource_missing"
			if status >= 500 {
				typ, code = "api_error", ""
			}
			return fmt.Sprintf(`{"error": {"type": %q, "code": %q, "message": "Injected %d"}}`, typ, code, status)
		},
		expect: map[string]outcome{
			// 422 is no status of Stripe's refusals (400, 402, 404).
			"provider_422": {Code: refundry.EUNAVAILABLE},
		},
		skip: map[string]string{
			"refused/over":     stateless,
			"refused/declined": stateless,
			"pending":          stateless,
			"not_found":        stateless,
			"bad_credentials":  stateless + " (provider_401 shows how a refused key is read)",
		},
	})
}
