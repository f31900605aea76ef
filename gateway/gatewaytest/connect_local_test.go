package gatewaytest

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

func connectAccount(a *refundry.GatewayAccount, hc *http.Client) (refundry.Gateway, error) {
	switch a.Kind {
	case refundry.KindPayop:
		return payop.New(payop.Config{BaseURL: a.BaseURL, Token: a.Credentials["token"], HTTPClient: hc})
	case refundry.KindRevCent:
		return revcent.New(revcent.Config{BaseURL: a.BaseURL, APIKey: a.Credentials["api_key"], HTTPClient: hc})
	case refundry.KindJetti:
		return jetti.New(jetti.Config{BaseURL: a.BaseURL, Token: a.Credentials["token"], HTTPClient: hc})
	case refundry.KindKeepUp:
		return keepup.New(keepup.Config{BaseURL: a.BaseURL, APIKey: a.Credentials["api_key"], HTTPClient: hc})
	case refundry.KindStripe:
		return stripe.New(stripe.Config{SecretKey: a.Credentials["secret_key"], APIBase: a.BaseURL, RequestsPerSecond: 1000, HTTPClient: hc})
	case refundry.KindSimulator:
		return simulator.New(), nil
	}
	return nil, refundry.Errorf(refundry.EINVALID, "no gateway of kind %s", a.Kind)
}
