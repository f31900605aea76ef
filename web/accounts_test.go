package web

import (
	"context"
	"strings"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/testenv"
)

// TestSaleShowsGatewayAccount: a payment taken through one of the
// merchant's gateway accounts names it on the sale page, with where it
// calls, and still does once the account is removed; a payment through
// the server's own gateway names none.
func TestSaleShowsGatewayAccount(t *testing.T) {
	h := newHarness(t, Options{})
	env := h.env
	ctx := context.Background()
	env.Engine.Secrets = testenv.NewSealer()
	env.Engine.Connect = func(*refundry.GatewayAccount) (refundry.Gateway, error) { return simulator.New(), nil }
	acct, err := env.Engine.CreateGatewayAccount(ctx, &refundry.GatewayAccount{MerchantID: env.A.ID, Kind: refundry.KindSimulator})
	if err != nil {
		t.Fatal(err)
	}
	through := &refundry.Sale{MerchantID: env.A.ID, Reference: "ORDER-ACCOUNT", Currency: "USD",
		LineItems:    []*refundry.LineItem{{Name: "Seat", Quantity: 1, UnitAmount: 1250}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, GatewayAccount: acct.ID, Reference: "pay-account"}}}
	if _, err := env.Engine.CreateSale(ctx, through, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Engine.RemoveGatewayAccount(ctx, env.A.ID, acct.ID); err != nil {
		t.Fatal(err)
	}
	own := env.Sale(testSaleSpec("ORDER-OWN", "USD", "ann@example.com", 1250))

	b := h.browser(t)
	b.signIn(env.KeyA)
	for _, tc := range []struct {
		name, sale string
		want, not  []string
	}{
		{"ThroughAccount", through.ID, []string{`id="account-` + acct.ID + `"`, "account <code>" + acct.ID + "</code>", "(removed)"}, nil},
		{"ServerGateway", own.ID, nil, []string{`class="muted small account"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := b.get("/dashboard/sales/" + tc.sale)
			mustContain(t, body, tc.want...)
			for _, n := range tc.not {
				if strings.Contains(body, n) {
					t.Errorf("page shows %q", n)
				}
			}
		})
	}
}
