package gatewaytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	dialectjetti "github.com/refundry/refundry/dialect/jetti"
	dialectkeepup "github.com/refundry/refundry/dialect/keepup"
	dialectpayop "github.com/refundry/refundry/dialect/payop"
	dialectrevcent "github.com/refundry/refundry/dialect/revcent"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/jetti"
	"github.com/refundry/refundry/gateway/keepup"
	"github.com/refundry/refundry/gateway/payop"
	"github.com/refundry/refundry/gateway/revcent"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/postgres"
)

// connector describes one connector and the Refundry that plays its
// provider.
type connector struct {
	name    string
	handler func(*engine.Engine, *slog.Logger) http.Handler
	// providerID is the provider's id of the payment of sale s, as the
	// merchant's Refundry keeps it in GatewayChargeID; unknownID one the
	// provider does not know.
	providerID func(s *refundry.Sale) string
	unknownID  string
	newGateway func(base, credential string, hc *http.Client) (refundry.Gateway, error)
	errorBody  func(status int) string
	expect     map[string]outcome
	skip       map[string]string
}

var connectors = []connector{
	{
		name:       payop.Name,
		handler:    dialectpayop.NewHandler,
		providerID: func(s *refundry.Sale) string { return s.Transactions[0].Reference },
		unknownID:  "no-such-transaction",
		newGateway: func(base, cred string, hc *http.Client) (refundry.Gateway, error) {
			return payop.New(payop.Config{BaseURL: base, Token: cred, HTTPClient: hc})
		},
		errorBody: func(status int) string {
			return fmt.Sprintf(`{"message": "Injected %d"}`, status)
		},
		expect: map[string]outcome{
			// 404 is no answer of Payop's (it says 422 "Transaction not
			// found"): a wrong base URL, for a person to look at.
			"provider_404": {Code: refundry.EGATEWAY},
		},
		skip: map[string]string{
			"pending": "Payop's answer has no pending state: its 200 is read as succeeded (see docs/gateways.md)",
		},
	},
	{
		name:       revcent.Name,
		handler:    dialectrevcent.NewHandler,
		providerID: func(s *refundry.Sale) string { return s.LineItems[0].ID },
		unknownID:  "zzzzzzzzzzzzzzzzzzzz",
		newGateway: func(base, cred string, hc *http.Client) (refundry.Gateway, error) {
			return revcent.New(revcent.Config{BaseURL: base, APIKey: cred, HTTPClient: hc})
		},
		errorBody: func(status int) string {
			return fmt.Sprintf(`{"api_call_id": "aaaaaaaaaaaaaaaaaaaa", "api_call_unix": 1767225600, "code": 0, "error_code": "injected", "message": "Injected %d", "result": "Refund failed"}`, status)
		},
	},
	{
		name:       jetti.Name,
		handler:    dialectjetti.NewHandler,
		providerID: func(s *refundry.Sale) string { return strconv.FormatInt(s.Transactions[0].Number, 10) },
		unknownID:  "999999",
		newGateway: func(base, cred string, hc *http.Client) (refundry.Gateway, error) {
			return jetti.New(jetti.Config{BaseURL: base, Token: cred, HTTPClient: hc})
		},
		errorBody: func(status int) string {
			return fmt.Sprintf(`{"message": "Injected %d"}`, status)
		},
	},
	{
		name:       keepup.Name,
		handler:    dialectkeepup.NewHandler,
		providerID: func(s *refundry.Sale) string { return s.ID },
		unknownID:  "no-such-sale",
		newGateway: func(base, cred string, hc *http.Client) (refundry.Gateway, error) {
			return keepup.New(keepup.Config{BaseURL: base, APIKey: cred, HTTPClient: hc})
		},
		errorBody: func(status int) string {
			return fmt.Sprintf(`{"status": %d, "error": "Injected %d"}`, status, status)
		},
		expect: map[string]outcome{
			// KeepUp refunds whole sales only: a partial refund, or one of
			// more than was paid, is refused before any call.
			"partial/JPY":  {Status: refundry.RefundFailed, NoCall: true},
			"partial/USD":  {Status: refundry.RefundFailed, NoCall: true},
			"partial/KWD":  {Status: refundry.RefundFailed, NoCall: true},
			"refused/over": {Status: refundry.RefundFailed, NoCall: true},
		},
	},
}

// TestConnectors runs the suite for each connector against a Refundry on
// each store: SQLite on disk, and PostgreSQL when REFUNDRY_TEST_POSTGRES
// names a server.
func TestConnectors(t *testing.T) {
	for _, st := range []string{"sqlite", "postgres"} {
		for _, c := range connectors {
			t.Run(st+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				run(t, playing(t, c, newEnv(t, st)))
			})
		}
	}
}

// newEnv is a live Refundry on the store named: testenv's on SQLite, the
// same parts over a fresh PostgreSQL database.
func newEnv(t *testing.T, store string) *testenv.Env {
	if store == "sqlite" {
		return testenv.New(t)
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := simulator.New()
	env := &testenv.Env{T: t, Store: s, Engine: engine.New(s, logger, sim), Sim: sim, Logger: logger}
	env.A = &refundry.Merchant{Slug: "store-a", Name: "Store A", Currency: "USD"}
	if env.KeyA, err = env.Engine.CreateMerchant(ctx, env.A); err != nil {
		t.Fatal(err)
	}
	return env
}

// playing is the harness of connector c: a Refundry (engine, SQLite on
// disk, the simulator as its own payment gateway) plays the provider
// through c's dialect handler.
func playing(t *testing.T, c connector, env *testenv.Env) harness {
	handler := c.handler(env.Engine, env.Logger)
	var (
		mu    sync.Mutex
		sales = map[*refundry.Transaction]string{} // the playing sale of each payment
		seq   atomic.Int64
	)
	return harness{
		name: c.name,
		pay: func(t *testing.T, amount int64, currency string, b behaviour, unknown bool) *refundry.Transaction {
			n := seq.Add(1)
			ref := fmt.Sprintf("pay_%s_%d", c.name, n)
			switch b {
			case decline:
				ref = fmt.Sprintf("%s_%s_%d", simulator.PrefixFail, c.name, n)
			case pend:
				ref = fmt.Sprintf("%s_%s_%d", simulator.PrefixPending, c.name, n)
			}
			s := env.Sale(testenv.SaleSpec{Reference: fmt.Sprintf("order_%s_%d", c.name, n), Currency: currency,
				Units: []int64{amount}, PayRefs: []string{ref}})
			id := c.providerID(s)
			if unknown {
				id = c.unknownID
			}
			txn := &refundry.Transaction{ID: fmt.Sprintf("txn_%d", n), Gateway: c.name, GatewayChargeID: id,
				Currency: currency, Amount: amount}
			mu.Lock()
			sales[txn] = s.ID
			mu.Unlock()
			return txn
		},
		gateway: func(t *testing.T, cn conn) refundry.Gateway {
			h := handler
			if cn.wrap != nil {
				h = cn.wrap(h)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			cred := env.KeyA
			if cn.badCredentials {
				cred = "not-a-key-of-this-provider"
			}
			g, err := c.newGateway(srv.URL, cred, &http.Client{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return g
		},
		ledger: func(t *testing.T, txn *refundry.Transaction, _ string) (ledger, bool) {
			mu.Lock()
			saleID := sales[txn]
			mu.Unlock()
			refunds, _, err := env.Engine.ListRefunds(context.Background(), env.A.ID,
				refundry.RefundFilter{SaleID: saleID, Page: refundry.Page{Limit: refundry.MaxPageLimit}})
			if err != nil {
				t.Fatal(err)
			}
			l := ledger{PendingKnown: true}
			for _, rf := range refunds {
				switch rf.Status {
				case refundry.RefundSucceeded:
					l.Succeeded += rf.Amount
				case refundry.RefundPending:
					l.Pending += rf.Amount
				}
			}
			return l, true
		},
		errorBody: c.errorBody,
		expect:    c.expect,
		skip:      c.skip,
	}
}
