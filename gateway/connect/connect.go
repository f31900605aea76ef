// Package connect makes the gateway that refunds through a merchant's
// gateway account: the one place that knows which package speaks to
// which kind of provider. cmd/refundry hands New to the engine
// (engine.Engine.Connect), which calls it once per account.
package connect

import (
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/gateway/jetti"
	"github.com/refundry/refundry/gateway/keepup"
	"github.com/refundry/refundry/gateway/payop"
	"github.com/refundry/refundry/gateway/revcent"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/gateway/stripe"
)

// New returns the gateway of an opened account (its Credentials in clear
// text), calling the provider at the account's base URL through client
// (nil: each connector's default). A Talkable account is not a payment
// gateway (its referrals are voided through the outbox): EINVALID, as
// for an unknown kind.
func New(a *refundry.GatewayAccount, client *http.Client) (refundry.Gateway, error) {
	c := a.Credentials
	switch a.Kind {
	case refundry.KindStripe:
		return made(stripe.New(stripe.Config{SecretKey: c["secret_key"], APIBase: a.BaseURL, HTTPClient: client}))
	case refundry.KindPayop:
		return made(payop.New(payop.Config{BaseURL: a.BaseURL, Token: c["token"], HTTPClient: client}))
	case refundry.KindRevCent:
		return made(revcent.New(revcent.Config{BaseURL: a.BaseURL, APIKey: c["api_key"], HTTPClient: client}))
	case refundry.KindJetti:
		return made(jetti.New(jetti.Config{BaseURL: a.BaseURL, Token: c["token"], HTTPClient: client}))
	case refundry.KindKeepUp:
		return made(keepup.New(keepup.Config{BaseURL: a.BaseURL, APIKey: c["api_key"], HTTPClient: client}))
	case refundry.KindSimulator:
		// Moves no money: its behaviour is chosen by each payment's
		// reference, as the server-wide simulator's is.
		return simulator.New(), nil
	case refundry.KindTalkable:
		return nil, refundry.ParamErrorf(refundry.EINVALID, "kind", "A Talkable account is not a payment gateway: it voids referrals of refunded sales.")
	}
	return nil, refundry.ParamErrorf(refundry.EINVALID, "kind", "Kind %q is not a gateway account kind.", a.Kind)
}

// made passes on what a connector's New returned, with no typed nil
// inside a non-nil interface on error.
func made[G refundry.Gateway](g G, err error) (refundry.Gateway, error) {
	if err != nil {
		return nil, err
	}
	return g, nil
}
