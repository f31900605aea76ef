package engine_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

// testSealer stands for the AES-GCM keyring of package secrets: values
// are reversible only with a key it still holds, the first seals.
type testSealer struct{ keys []string }

func (s *testSealer) Seal(plain []byte) ([]byte, string, error) {
	out := slices.Clone(plain)
	slices.Reverse(out)
	for i := range out {
		out[i] ^= s.keys[0][0]
	}
	return out, s.keys[0], nil
}

func (s *testSealer) Open(sealed []byte, keyID string) ([]byte, error) {
	if !slices.Contains(s.keys, keyID) {
		return nil, errors.New("no such key")
	}
	out := slices.Clone(sealed)
	for i := range out {
		out[i] ^= keyID[0]
	}
	slices.Reverse(out)
	return out, nil
}

// scripted is a provider whose answers a test chooses; it records the
// refunds it is asked for.
type scripted struct {
	name    string
	oneShot bool
	checks  bool
	creds   map[string]string
	mu      sync.Mutex
	calls   []refundry.GatewayRefund
	answer  func(refundry.GatewayRefund) (refundry.GatewayResult, error)
}

func (g *scripted) Name() string  { return g.name }
func (g *scripted) OneShot() bool { return g.oneShot }
func (g *scripted) Refund(_ context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	g.mu.Lock()
	g.calls = append(g.calls, r)
	g.mu.Unlock()
	if g.answer != nil {
		return g.answer(r)
	}
	return refundry.GatewayResult{Status: refundry.RefundSucceeded, GatewayRefundID: "gw_" + r.RefundID}, nil
}
func (g *scripted) Cancel(context.Context, refundry.GatewayRefund) (refundry.GatewayResult, error) {
	return refundry.GatewayResult{}, refundry.Errorf(refundry.ECONFLICT, "no")
}
func (g *scripted) Calls() []refundry.GatewayRefund {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

// checking is scripted that refuses, before anything is stored, every
// refund but a whole payment's, as KeepUp does.
type checking struct{ *scripted }

func (g checking) CheckRefund(r refundry.GatewayRefund) error {
	if r.Amount != r.Transaction.Amount {
		return refundry.ParamErrorf(refundry.EINVALID, "amount", "whole payments only")
	}
	return nil
}

// accountEnv is an engine with a test sealer, whose Connect builds a
// scripted gateway per account, remembered by account id.
type accountEnv struct {
	store  refundry.Store
	engine *engine.Engine
	sealer *testSealer
	mu     sync.Mutex
	gws    map[string]*scripted
	// setup, if set, shapes each new account's gateway.
	setup func(a *refundry.GatewayAccount, g *scripted)
	a, b  *refundry.Merchant
	now   time.Time
}

func (env *accountEnv) gw(id string) *scripted {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.gws[id]
}

var accountStores = []struct {
	name string
	open func(t *testing.T) refundry.Store
}{
	{"sqlite", func(t *testing.T) refundry.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) refundry.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

func newAccountEnv(t *testing.T, store refundry.Store) *accountEnv {
	t.Helper()
	env := &accountEnv{store: store, sealer: &testSealer{keys: []string{"k1"}}, gws: map[string]*scripted{}, now: time.Now()}
	e := engine.New(store, slog.New(slog.NewTextHandler(io.Discard, nil)), simulator.New())
	e.Secrets = env.sealer
	e.Now = func() time.Time {
		env.mu.Lock()
		defer env.mu.Unlock()
		return env.now
	}
	e.Connect = func(a *refundry.GatewayAccount) (refundry.Gateway, error) {
		g := &scripted{name: a.Kind, creds: a.Credentials}
		if env.setup != nil {
			env.setup(a, g)
		}
		env.mu.Lock()
		env.gws[a.ID] = g
		env.mu.Unlock()
		if g.checks {
			return checking{g}, nil
		}
		return g, nil
	}
	env.engine = e
	ctx := context.Background()
	env.a = &refundry.Merchant{Slug: "acc-a-" + strings.ToLower(refundry.NewID()), Name: "A", Currency: "USD"}
	env.b = &refundry.Merchant{Slug: "acc-b-" + strings.ToLower(refundry.NewID()), Name: "B", Currency: "USD"}
	for _, m := range []*refundry.Merchant{env.a, env.b} {
		if _, err := e.CreateMerchant(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func (env *accountEnv) account(t *testing.T, m *refundry.Merchant, kind string) *refundry.GatewayAccount {
	t.Helper()
	creds := map[string]string{}
	for _, f := range refundry.AccountKinds[kind].Credentials {
		creds[f] = "cred-" + f + "-" + refundry.NewID()
	}
	a, err := env.engine.CreateGatewayAccount(context.Background(), &refundry.GatewayAccount{MerchantID: m.ID, Kind: kind,
		BaseURL: "https://" + kind + ".example", Credentials: creds})
	if err != nil {
		t.Fatalf("CreateGatewayAccount(%s): %v", kind, err)
	}
	return a
}

// sale makes a sale of m paid through gateway (naming account, if set),
// two lines of 12.50 and 5.00 with the provider's ids "pl-1" and "pl-2".
func (env *accountEnv) sale(t *testing.T, m *refundry.Merchant, gateway, account string) (*refundry.Sale, error) {
	t.Helper()
	s := &refundry.Sale{MerchantID: m.ID, Currency: "USD", Reference: "o-" + refundry.NewID(),
		LineItems: []*refundry.LineItem{{Name: "a", Quantity: 1, UnitAmount: 1250, GatewayLineID: "pl-1"},
			{Name: "b", Quantity: 1, UnitAmount: 500, GatewayLineID: "pl-2"}},
		Transactions: []*refundry.Transaction{{Gateway: gateway, GatewayAccount: account, Reference: "p-" + refundry.NewID()}}}
	_, err := env.engine.CreateSale(context.Background(), s, nil)
	return s, err
}

func (env *accountEnv) mustSale(t *testing.T, m *refundry.Merchant, gateway, account string) *refundry.Sale {
	t.Helper()
	s, err := env.sale(t, m, gateway, account)
	if err != nil {
		t.Fatalf("CreateSale(%s, %q): %v", gateway, account, err)
	}
	return s
}

func wantParam(t *testing.T, err error, code, param string) {
	t.Helper()
	if refundry.ErrorCode(err) != code || refundry.ErrorParam(err) != param {
		t.Fatalf("err = %v (code %s, param %q), want %s naming %q", err, refundry.ErrorCode(err), refundry.ErrorParam(err), code, param)
	}
}

func TestGatewayAccounts(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			e := env.engine

			t.Run("OK", func(t *testing.T) {
				a, err := e.CreateGatewayAccount(ctx, &refundry.GatewayAccount{MerchantID: env.a.ID, Kind: refundry.KindPayop,
					Credentials: map[string]string{"token": "payop-secret-token-WXYZ"}})
				if err != nil {
					t.Fatal(err)
				}
				if !refundry.ValidID(a.ID) || a.BaseURL != "https://api.payop.com" || a.Hints["token"] != "WXYZ" ||
					a.Credentials != nil || a.Sealed != nil || !a.Active() {
					t.Fatalf("created = %+v", a)
				}
				stored, err := env.store.FindGatewayAccount(ctx, env.a.ID, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(stored.Sealed, []byte("payop-secret-token")) || stored.KeyID != "k1" {
					t.Fatalf("stored in clear: %q under %q", stored.Sealed, stored.KeyID)
				}
				got, err := e.GatewayAccount(ctx, env.a.ID, a.ID)
				if err != nil || got.Sealed != nil || got.Hints["token"] != "WXYZ" {
					t.Fatalf("GatewayAccount = %+v, %v", got, err)
				}
				// Tenancy (invariant 5): B does not see A's account.
				_, err = e.GatewayAccount(ctx, env.b.ID, a.ID)
				wantParam(t, err, refundry.ENOTFOUND, "")
				_, err = e.GatewayAccount(ctx, env.a.ID, "../../x")
				wantParam(t, err, refundry.ENOTFOUND, "")
				list, err := e.GatewayAccounts(ctx, env.a.ID)
				if err != nil || len(list) != 1 || list[0].ID != a.ID || list[0].Sealed != nil {
					t.Fatalf("GatewayAccounts = %+v, %v", list, err)
				}
				if _, err := e.RemoveGatewayAccount(ctx, env.b.ID, a.ID); refundry.ErrorCode(err) != refundry.ENOTFOUND {
					t.Fatalf("B removing A's account: %v", err)
				}
				removed, err := e.RemoveGatewayAccount(ctx, env.a.ID, a.ID)
				if err != nil || removed.Active() {
					t.Fatalf("RemoveGatewayAccount = %+v, %v", removed, err)
				}
				if list, _ := e.GatewayAccounts(ctx, env.a.ID); len(list) != 0 {
					t.Fatalf("removed account still listed: %+v", list)
				}
			})

			t.Run("ErrInvalid", func(t *testing.T) {
				for _, tc := range []struct {
					a     refundry.GatewayAccount
					param string
				}{
					{refundry.GatewayAccount{Kind: "paypal"}, "kind"},
					{refundry.GatewayAccount{Kind: refundry.KindPayop, BaseURL: "ftp://x.example", Credentials: map[string]string{"token": "t"}}, "base_url"},
					{refundry.GatewayAccount{Kind: refundry.KindJetti, Credentials: map[string]string{"token": "t"}}, "base_url"},
					{refundry.GatewayAccount{Kind: refundry.KindPayop}, "credentials.token"},
					{refundry.GatewayAccount{Kind: refundry.KindTalkable, Credentials: map[string]string{"api_key": "k"}}, "credentials.site_slug"},
					{refundry.GatewayAccount{Kind: refundry.KindPayop, Credentials: map[string]string{"token": "t", "pin": "1"}}, "credentials.pin"},
				} {
					a := tc.a
					a.MerchantID = env.a.ID
					_, err := e.CreateGatewayAccount(ctx, &a)
					wantParam(t, err, refundry.EINVALID, tc.param)
				}
				if list, _ := e.GatewayAccounts(ctx, env.a.ID); len(list) != 0 {
					t.Fatalf("refused accounts were stored: %+v", list)
				}
			})

			t.Run("ErrNoSecretsKey", func(t *testing.T) {
				bare := engine.New(env.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
				_, err := bare.CreateGatewayAccount(ctx, &refundry.GatewayAccount{MerchantID: env.a.ID, Kind: refundry.KindPayop,
					Credentials: map[string]string{"token": "t"}})
				wantParam(t, err, refundry.EUNAVAILABLE, "")
			})

			t.Run("TalkableEndpointIsTheAccounts", func(t *testing.T) {
				tk := env.account(t, env.b, refundry.KindTalkable)
				_, err := e.FindWebhookEndpoint(ctx, env.b.ID, tk.ID)
				wantParam(t, err, refundry.ENOTFOUND, "")
				_, _, err = e.ListDeliveries(ctx, env.b.ID, tk.ID, refundry.Page{})
				wantParam(t, err, refundry.ENOTFOUND, "")
				wantParam(t, e.DeleteWebhookEndpoint(ctx, env.b.ID, tk.ID), refundry.ENOTFOUND, "")
				ds, _, err := e.GatewayAccountDeliveries(ctx, env.b.ID, tk.ID, refundry.Page{})
				if err != nil || len(ds) != 0 {
					t.Fatalf("GatewayAccountDeliveries = %v, %v", ds, err)
				}
				po := env.account(t, env.b, refundry.KindPayop)
				_, _, err = e.GatewayAccountDeliveries(ctx, env.b.ID, po.ID, refundry.Page{})
				wantParam(t, err, refundry.ENOTFOUND, "")
				_, _, err = e.GatewayAccountDeliveries(ctx, env.a.ID, tk.ID, refundry.Page{})
				wantParam(t, err, refundry.ENOTFOUND, "")
			})
		})
	}
}

// A payment's account: the one it names, else the merchant's only one
// of its kind, else the server's own gateway of that name.
func TestCreateSaleChoosesAccount(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			payop := env.account(t, env.a, refundry.KindPayop)
			jetti1 := env.account(t, env.a, refundry.KindJetti)
			env.account(t, env.a, refundry.KindJetti)
			sim := env.account(t, env.b, refundry.KindSimulator)
			bPayop := env.account(t, env.b, refundry.KindPayop)
			gone := env.account(t, env.a, refundry.KindRevCent)
			if _, err := env.engine.RemoveGatewayAccount(ctx, env.a.ID, gone.ID); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name             string
				m                *refundry.Merchant
				gateway, account string
				want             string // the account stored
				code, param      string
			}{
				{"Named", env.a, "payop", payop.ID, payop.ID, "", ""},
				{"OnlyOneOfItsKind", env.a, "payop", "", payop.ID, "", ""},
				{"SeveralOfItsKind", env.a, "jetti", "", "", refundry.EINVALID, "payment.gateway_account"},
				{"OneOfSeveralNamed", env.a, "jetti", jetti1.ID, jetti1.ID, "", ""},
				{"ServerWideSimulator", env.a, "simulator", "", "", "", ""},
				{"SimulatorAccount", env.b, "simulator", "", sim.ID, "", ""},
				{"NoAccountNoServerGateway", env.a, "keepup", "", "", refundry.EINVALID, "payment.gateway"},
				{"AnotherMerchants", env.a, "payop", bPayop.ID, "", refundry.EINVALID, "payment.gateway_account"},
				{"Missing", env.a, "payop", refundry.NewID(), "", refundry.EINVALID, "payment.gateway_account"},
				{"Removed", env.a, "revcent", gone.ID, "", refundry.EINVALID, "payment.gateway_account"},
				{"OtherKind", env.a, "revcent", payop.ID, "", refundry.EINVALID, "payment.gateway_account"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s, err := env.sale(t, tc.m, tc.gateway, tc.account)
					if tc.code != "" {
						wantParam(t, err, tc.code, tc.param)
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					got, err := env.engine.FindSale(ctx, tc.m.ID, refundry.SaleLookup{ID: s.ID})
					if err != nil {
						t.Fatal(err)
					}
					if got.Transactions[0].GatewayAccount != tc.want || got.LineItems[0].GatewayLineID != "pl-1" {
						t.Fatalf("payment's account = %q, want %q", got.Transactions[0].GatewayAccount, tc.want)
					}
				})
			}
		})
	}
}

func accRefund(t *testing.T, e *engine.Engine, req refundry.RefundRequest) *refundry.RefundResult {
	t.Helper()
	req.Source = refundry.SourceNative
	res, err := e.Refund(context.Background(), req)
	if err != nil {
		t.Fatalf("Refund(%+v): %v", req.Target, err)
	}
	return res
}

func accAmount(n int64) *int64 { return &n }

// Refunds go back through the account their payment was taken through,
// told what the provider needs: whether the whole payment is refunded,
// the provider's id of the line.
func TestRefundRoutesThroughAccount(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			a := env.account(t, env.a, refundry.KindRevCent)
			b := env.account(t, env.b, refundry.KindRevCent)
			sa, sb := env.mustSale(t, env.a, "revcent", ""), env.mustSale(t, env.b, "revcent", "")

			line := accRefund(t, env.engine, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{LineItemID: sa.LineItems[1].ID}})
			if r := line.Refunds[0]; r.Status != refundry.RefundSucceeded || r.GatewayRefundID != "gw_"+r.ID {
				t.Fatalf("line refund = %+v", r)
			}
			whole := accRefund(t, env.engine, refundry.RefundRequest{MerchantID: env.b.ID, Target: refundry.RefundTarget{SaleID: sb.ID}})
			if whole.Refunds[0].Status != refundry.RefundSucceeded {
				t.Fatalf("whole refund = %+v", whole.Refunds[0])
			}
			ca, cb := env.gw(a.ID).Calls(), env.gw(b.ID).Calls()
			if len(ca) != 1 || len(cb) != 1 {
				t.Fatalf("calls: A's account %d, B's %d, want 1 each", len(ca), len(cb))
			}
			if c := ca[0]; c.Amount != 500 || c.Remainder || c.GatewayLineID != "pl-2" || c.Transaction.GatewayAccount != a.ID {
				t.Fatalf("A's call = %+v", c)
			}
			if c := cb[0]; c.Amount != 1750 || !c.Remainder || c.GatewayLineID != "" {
				t.Fatalf("B's call = %+v", c)
			}
			if env.gw(a.ID).creds["api_key"] == "" || !strings.HasPrefix(env.gw(a.ID).creds["api_key"], "cred-api_key-") {
				t.Fatalf("the gateway was built with credentials %v", env.gw(a.ID).creds)
			}
			// The rest of A's payment: not the whole payment any more.
			accRefund(t, env.engine, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: sa.ID}})
			if c := env.gw(a.ID).Calls(); len(c) != 2 || c[1].Amount != 1250 || c[1].Remainder {
				t.Fatalf("A's second call = %+v", c)
			}
			// Removal waits for nothing now: every refund settled.
			if _, err := env.engine.RemoveGatewayAccount(ctx, env.a.ID, a.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A provider that offers no idempotency key and no look-up (OneShot)
// and gives no answer, or any provider turning the first call away:
// the refund goes to manual review at once, the client gets it (no
// error to retry on), and recovery never sends it again.
func TestRefundUnknownOutcomeGoesToReview(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			env.setup = func(a *refundry.GatewayAccount, g *scripted) {
				switch a.Kind {
				case refundry.KindPayop:
					g.oneShot = true
					g.answer = func(refundry.GatewayRefund) (refundry.GatewayResult, error) {
						return refundry.GatewayResult{}, refundry.Errorf(refundry.EUNAVAILABLE, "Payop did not answer.")
					}
				case refundry.KindKeepUp:
					g.answer = func(refundry.GatewayRefund) (refundry.GatewayResult, error) {
						return refundry.GatewayResult{}, refundry.Errorf(refundry.EGATEWAY, "KeepUp refused the API key (401).")
					}
				}
			}
			po := env.account(t, env.a, refundry.KindPayop)
			ku := env.account(t, env.a, refundry.KindKeepUp)
			for _, tc := range []struct {
				kind, account, says string
			}{
				{"payop", po.ID, "Payop did not answer."},
				{"keepup", ku.ID, "KeepUp refused the API key (401)."},
			} {
				t.Run(tc.kind, func(t *testing.T) {
					s := env.mustSale(t, env.a, tc.kind, "")
					res, err := env.engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: s.ID},
						Source: refundry.SourceNative})
					if err != nil {
						t.Fatalf("Refund answered an error a client would retry on: %v", err)
					}
					r := res.Refunds[0]
					if r.Status != refundry.RefundRequiresAction || !strings.Contains(r.ReviewReason, tc.says) {
						t.Fatalf("refund = %s (%q), want requires_action saying %q", r.Status, r.ReviewReason, tc.says)
					}
					if _, err := env.engine.Recover(ctx, time.Now().Add(time.Hour), 100); err != nil {
						t.Fatal(err)
					}
					if n := len(env.gw(tc.account).Calls()); n != 1 {
						t.Fatalf("the provider was called %d times, want once", n)
					}
					// Its amount stays held: the provider may have paid.
					if got := env.engine; got != nil {
						sale, _ := got.FindSale(ctx, env.a.ID, refundry.SaleLookup{ID: s.ID})
						if sale.Refundable() != 0 {
							t.Fatalf("refundable after review = %d, want 0", sale.Refundable())
						}
					}
					_, err = env.engine.RemoveGatewayAccount(ctx, env.a.ID, tc.account)
					wantParam(t, err, refundry.ECONFLICT, "")
				})
			}
		})
	}
}

// Recovery never sends a OneShot refund again: one whose request never
// recorded an answer (a crash) goes to review; one the provider
// acknowledged as pending waits.
func TestRecoverNeverResendsOneShot(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			env.setup = func(a *refundry.GatewayAccount, g *scripted) {
				g.oneShot = true
				g.answer = func(refundry.GatewayRefund) (refundry.GatewayResult, error) {
					return refundry.GatewayResult{Status: refundry.RefundPending}, nil
				}
			}
			po := env.account(t, env.a, refundry.KindPayop)
			acked := env.mustSale(t, env.a, "payop", "")
			ackedRefund := accRefund(t, env.engine, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: acked.ID}}).Refunds[0]
			// A crash between the reservation and the call: stored, never
			// asked.
			lost := env.mustSale(t, env.a, "payop", "")
			lostRes, err := env.store.CreateRefunds(ctx, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: lost.ID},
				Source: refundry.SourceNative})
			if err != nil {
				t.Fatal(err)
			}
			lostRefund := lostRes.Refunds[0]

			if _, err := env.engine.Recover(ctx, time.Now().Add(2*time.Hour), 100); err != nil {
				t.Fatal(err)
			}
			if n := len(env.gw(po.ID).Calls()); n != 1 {
				t.Fatalf("the provider was called %d times, want once (the first request's)", n)
			}
			r, _ := env.engine.FindRefund(ctx, env.a.ID, lostRefund.ID)
			if r.Status != refundry.RefundRequiresAction || !strings.Contains(r.ReviewReason, "No answer from payop was recorded") {
				t.Fatalf("lost refund = %s (%q), want requires_action", r.Status, r.ReviewReason)
			}
			if r, _ := env.engine.FindRefund(ctx, env.a.ID, ackedRefund.ID); r.Status != refundry.RefundPending {
				t.Fatalf("acknowledged refund = %s, want pending", r.Status)
			}
			// A person who checked at the provider sends it back: then it
			// is sent, once.
			ctxP := refundry.WithActor(ctx, refundry.Actor{KeyID: "k", Method: "test"})
			if _, err := env.engine.Resolve(ctxP, env.a.ID, lostRefund.ID, refundry.Resolution{Outcome: refundry.ResolveRetry, Note: "not at Payop"}); err != nil {
				t.Fatal(err)
			}
			if _, err := env.engine.Recover(ctx, time.Now().Add(3*time.Hour), 100); err != nil {
				t.Fatal(err)
			}
			if n := len(env.gw(po.ID).Calls()); n != 2 {
				t.Fatalf("after a person's retry the provider was called %d times in all, want 2", n)
			}
		})
	}
}

// A refund the provider would refuse for its shape alone (KeepUp: whole
// payments only) is refused before anything is stored.
func TestRefundCheckedBeforeStoring(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			env.setup = func(a *refundry.GatewayAccount, g *scripted) { g.checks = true }
			ku := env.account(t, env.a, refundry.KindKeepUp)
			s := env.mustSale(t, env.a, "keepup", "")
			for _, req := range []refundry.RefundRequest{
				{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: s.ID}, Amount: accAmount(100), Source: refundry.SourceNative},
				{MerchantID: env.a.ID, Target: refundry.RefundTarget{LineItemID: s.LineItems[0].ID}, Source: refundry.SourceNative},
				{MerchantID: env.a.ID, Target: refundry.RefundTarget{TransactionID: s.Transactions[0].ID}, Amount: accAmount(1749), Source: refundry.SourceNative},
			} {
				_, err := env.engine.Refund(ctx, req)
				wantParam(t, err, refundry.EINVALID, "amount")
			}
			rs, _, err := env.engine.ListRefunds(ctx, env.a.ID, refundry.RefundFilter{})
			if err != nil || len(rs) != 0 {
				t.Fatalf("refused refunds were stored: %d, %v", len(rs), err)
			}
			if n := len(env.gw(ku.ID).Calls()); n != 0 {
				t.Fatalf("KeepUp was called %d times for refunds it refuses", n)
			}
			res := accRefund(t, env.engine, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: s.ID}})
			if res.Refunds[0].Status != refundry.RefundSucceeded || len(env.gw(ku.ID).Calls()) != 1 {
				t.Fatalf("the whole payment's refund = %+v", res.Refunds[0])
			}
		})
	}
}

// Key rotation: sealed with k1, re-sealed under k2, k1 dropped; a new
// process opens the account with k2 alone and refunds through it.
func TestResealGatewayAccounts(t *testing.T) {
	for _, st := range accountStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			env := newAccountEnv(t, st.open(t))
			a := env.account(t, env.a, refundry.KindPayop)
			env.account(t, env.b, refundry.KindJetti)
			env.sealer.keys = []string{"k2", "k1"}
			n, err := env.engine.ResealGatewayAccounts(ctx)
			if err != nil || n != 2 {
				t.Fatalf("ResealGatewayAccounts = %d, %v, want 2", n, err)
			}
			if n, err := env.engine.ResealGatewayAccounts(ctx); err != nil || n != 0 {
				t.Fatalf("second ResealGatewayAccounts = %d, %v, want 0", n, err)
			}
			stored, _ := env.store.FindGatewayAccount(ctx, env.a.ID, a.ID)
			if stored.KeyID != "k2" {
				t.Fatalf("key after reseal = %q", stored.KeyID)
			}
			fresh := newAccountEnv(t, env.store)
			fresh.sealer.keys = []string{"k2"}
			s := fresh.mustSale(t, env.a, "payop", "")
			res := accRefund(t, fresh.engine, refundry.RefundRequest{MerchantID: env.a.ID, Target: refundry.RefundTarget{SaleID: s.ID}})
			if res.Refunds[0].Status != refundry.RefundSucceeded || fresh.gw(a.ID) == nil || !strings.HasPrefix(fresh.gw(a.ID).creds["token"], "cred-token-") {
				t.Fatalf("refund after rotation = %+v", res.Refunds[0])
			}
			// A sealed value moved onto another account does not open.
			b := fresh.account(t, env.a, refundry.KindPayop)
			if ok, err := env.store.ResealGatewayAccount(ctx, b.ID, "k2", stored.Sealed, "k2"); err != nil || !ok {
				t.Fatal(ok, err)
			}
			other := newAccountEnv(t, env.store)
			other.sealer.keys = []string{"k2"}
			sb := &refundry.Sale{MerchantID: env.a.ID, Currency: "USD", LineItems: []*refundry.LineItem{{Name: "x", Quantity: 1, UnitAmount: 100}},
				Transactions: []*refundry.Transaction{{Gateway: "payop", GatewayAccount: b.ID}}}
			_, err = other.engine.CreateSale(ctx, sb, nil)
			wantParam(t, err, refundry.EUNAVAILABLE, "")
			if other.gw(b.ID) != nil {
				t.Fatal("a gateway was built with another account's credentials")
			}
		})
	}
}
