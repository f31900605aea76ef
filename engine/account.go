package engine

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/refundry/refundry"
)

// sealedCredentials is what is sealed of an account: its credentials,
// bound to the account's id. The id is checked when the credentials are
// opened, so that a sealed value copied onto another account's row (by
// anyone who can write the database but has no key) is refused instead
// of calling a provider with someone else's credentials.
type sealedCredentials struct {
	Account     string            `json:"account"`
	Credentials map[string]string `json:"credentials"`
}

// accountGateways caches the gateway built for each account, by account
// id: an account never changes once made (removal aside, and a removed
// account's refunds still settle through it), so it is opened and built
// once per process.
type accountGateways struct {
	mu sync.Mutex
	by map[string]refundry.Gateway
}

// CreateGatewayAccount validates a's kind, base URL and credentials,
// seals the credentials with e.Secrets and stores the account (a Talkable
// account with its delivery endpoint). The answer carries Hints, never
// Credentials. EINVALID naming the field; EUNAVAILABLE when the server
// has no secrets key.
func (e *Engine) CreateGatewayAccount(ctx context.Context, a *refundry.GatewayAccount) (*refundry.GatewayAccount, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if e.Secrets == nil {
		return nil, refundry.Errorf(refundry.EUNAVAILABLE,
			"This server has no secrets key, so it cannot keep credentials: start it with --secrets-key-file.")
	}
	a.ID = refundry.NewID()
	a.Removed, a.Created = time.Time{}, time.Time{}
	var err error
	if a.Sealed, a.KeyID, err = e.seal(a.ID, a.Credentials); err != nil {
		return nil, err
	}
	a.Credentials = nil
	defer e.accounts.forget(a.MerchantID)
	if err := e.Stores.Accounts.CreateGatewayAccount(ctx, a); err != nil {
		return nil, err
	}
	return withoutSecrets(a), nil
}

func (e *Engine) seal(id string, creds map[string]string) ([]byte, string, error) {
	plain, err := json.Marshal(sealedCredentials{Account: id, Credentials: creds})
	if err != nil {
		return nil, "", err
	}
	return e.Secrets.Seal(plain)
}

// open returns a's credentials in clear text.
func (e *Engine) open(a *refundry.GatewayAccount) (map[string]string, error) {
	if e.Secrets == nil {
		return nil, refundry.Errorf(refundry.EUNAVAILABLE, "This server has no secrets key, so it cannot open gateway account %s.", a.ID)
	}
	plain, err := e.Secrets.Open(a.Sealed, a.KeyID)
	if err != nil {
		return nil, &refundry.Error{Code: refundry.EUNAVAILABLE, Err: err,
			Message: "The credentials of gateway account " + a.ID + " cannot be opened with this server's keys (key " + a.KeyID + ")."}
	}
	var sc sealedCredentials
	if err := json.Unmarshal(plain, &sc); err != nil || sc.Account != a.ID {
		return nil, refundry.Errorf(refundry.EUNAVAILABLE, "The sealed credentials of gateway account %s are not that account's.", a.ID)
	}
	return sc.Credentials, nil
}

// withoutSecrets is what an answer may show of an account: no
// credentials, not even sealed.
func withoutSecrets(a *refundry.GatewayAccount) *refundry.GatewayAccount {
	c := *a
	c.Credentials, c.Sealed = nil, nil
	return &c
}

// GatewayAccount returns one of a merchant's accounts, removed or not,
// without its credentials. ENOTFOUND.
func (e *Engine) GatewayAccount(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such gateway account: %s", truncate(id))
	}
	a, err := e.Stores.Accounts.FindGatewayAccount(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	return withoutSecrets(a), nil
}

// GatewayAccounts lists a merchant's active accounts, without
// credentials.
func (e *Engine) GatewayAccounts(ctx context.Context, merchantID string) ([]*refundry.GatewayAccount, error) {
	as, err := e.Stores.Accounts.ListGatewayAccounts(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	out := make([]*refundry.GatewayAccount, len(as))
	for i, a := range as {
		out[i] = withoutSecrets(a)
	}
	return out, nil
}

// RemoveGatewayAccount removes an account: ECONFLICT while refunds
// through it hold money; ENOTFOUND.
func (e *Engine) RemoveGatewayAccount(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such gateway account: %s", truncate(id))
	}
	// Forgotten whatever the answer, as a revoked key is.
	defer e.accounts.forget(merchantID)
	a, err := e.Stores.Accounts.RemoveGatewayAccount(ctx, merchantID, id, e.Now())
	if err != nil {
		return nil, err
	}
	return withoutSecrets(a), nil
}

// resealBatch is how many accounts one step of ResealGatewayAccounts
// reads.
const resealBatch = 100

// ResealGatewayAccounts re-seals every account sealed with an older key
// under e.Secrets' newest, and returns how many it re-sealed: the last
// step of a key rotation.
func (e *Engine) ResealGatewayAccounts(ctx context.Context) (int, error) {
	if e.Secrets == nil {
		return 0, refundry.Errorf(refundry.EUNAVAILABLE, "No secrets key is configured: nothing can be re-sealed.")
	}
	// The newest key's id, learned by sealing nothing of value.
	_, newest, err := e.Secrets.Seal([]byte("{}"))
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		as, err := e.Stores.Accounts.SealedGatewayAccounts(ctx, newest, resealBatch)
		if err != nil || len(as) == 0 {
			return n, err
		}
		for _, a := range as {
			creds, err := e.open(a)
			if err != nil {
				// Left as it is: every later account would meet the same
				// wall, and the old key must stay until this one opens.
				return n, err
			}
			sealed, keyID, err := e.seal(a.ID, creds)
			if err != nil {
				return n, err
			}
			ok, err := e.Stores.Accounts.ResealGatewayAccount(ctx, a.ID, a.KeyID, sealed, keyID)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
}

// GatewayAccountDeliveries lists the deliveries of a Talkable account's
// endpoint, newest first, each with its attempts. ENOTFOUND for an
// account that is not the merchant's or is not a Talkable account.
func (e *Engine) GatewayAccountDeliveries(ctx context.Context, merchantID, id string, p refundry.Page) ([]*refundry.Delivery, bool, error) {
	a, err := e.GatewayAccount(ctx, merchantID, id)
	if err != nil {
		return nil, false, err
	}
	if a.Endpoint() == nil {
		return nil, false, refundry.Errorf(refundry.ENOTFOUND, "Gateway account %s is not a Talkable account: it has no deliveries.", id)
	}
	if !a.Active() {
		// Its endpoint went with it.
		return []*refundry.Delivery{}, false, nil
	}
	return e.Stores.Outbox.ListDeliveries(ctx, merchantID, a.ID, p)
}

// OpenGatewayAccount returns a merchant's account, removed or not, with
// its credentials in clear text: for the workers that call a provider
// on the account's behalf (the Talkable delivery of package notify),
// never for an answer. ENOTFOUND; EUNAVAILABLE when the credentials do
// not open with this server's keys.
func (e *Engine) OpenGatewayAccount(ctx context.Context, merchantID, id string) (*refundry.GatewayAccount, error) {
	a, err := e.Stores.Accounts.FindGatewayAccount(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	if a.Credentials, err = e.open(a); err != nil {
		return nil, err
	}
	a.Sealed = nil
	return a, nil
}

// accountGateway returns the gateway of a merchant's account, opening
// and building it once.
func (e *Engine) accountGateway(ctx context.Context, merchantID, id string) (refundry.Gateway, error) {
	e.accountGWs.mu.Lock()
	g := e.accountGWs.by[id]
	e.accountGWs.mu.Unlock()
	if g != nil {
		return g, nil
	}
	if e.Connect == nil {
		return nil, refundry.Errorf(refundry.EUNAVAILABLE, "This server cannot call gateway accounts' providers.")
	}
	a, err := e.Stores.Accounts.FindGatewayAccount(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	if a.Credentials, err = e.open(a); err != nil {
		return nil, err
	}
	if g, err = e.Connect(a); err != nil {
		return nil, err
	}
	e.accountGWs.mu.Lock()
	defer e.accountGWs.mu.Unlock()
	if e.accountGWs.by == nil {
		e.accountGWs.by = map[string]refundry.Gateway{}
	}
	if had := e.accountGWs.by[id]; had != nil {
		return had, nil
	}
	e.accountGWs.by[id] = g
	return g, nil
}

// gatewayOf returns the gateway a payment's refunds go to: its account's
// when it names one, else the server-wide gateway of its name (nil if
// there is none).
func (e *Engine) gatewayOf(ctx context.Context, merchantID string, t *refundry.Transaction) (refundry.Gateway, error) {
	if t.GatewayAccount == "" {
		return e.Gateways[t.Gateway], nil
	}
	return e.accountGateway(ctx, merchantID, t.GatewayAccount)
}

// chooseAccounts fills in each payment's account, before the sale is
// stored: the one it names, which must be the merchant's, active and of
// the payment's kind; else the merchant's only active account of that
// kind; else none, and then the server's own gateway of that name, if it
// has one. EINVALID naming payment.gateway_account or payment.gateway.
func (e *Engine) chooseAccounts(ctx context.Context, s *refundry.Sale) error {
	var active []*refundry.GatewayAccount
	listed := false
	for _, t := range s.Transactions {
		if t.Gateway == refundry.GatewayOffsite {
			continue
		}
		if t.GatewayAccount != "" {
			a, err := e.Stores.Accounts.FindGatewayAccount(ctx, s.MerchantID, t.GatewayAccount)
			if refundry.ErrorCode(err) == refundry.ENOTFOUND || (err == nil && !a.Active()) {
				// Another merchant's account is answered as a missing one
				// (invariant 5); a removed one takes no new payment.
				return refundry.ParamErrorf(refundry.EINVALID, "payment.gateway_account", "No active gateway account %s.", truncate(t.GatewayAccount))
			} else if err != nil {
				return err
			}
			if a.Kind != t.Gateway {
				return refundry.ParamErrorf(refundry.EINVALID, "payment.gateway_account",
					"Gateway account %s is a %s account, not %s.", a.ID, a.Kind, t.Gateway)
			}
			continue
		}
		if !listed {
			as, err := e.Stores.Accounts.ListGatewayAccounts(ctx, s.MerchantID)
			if err != nil {
				return err
			}
			active, listed = as, true
		}
		var of []string
		for _, a := range active {
			if a.Kind == t.Gateway {
				of = append(of, a.ID)
			}
		}
		switch {
		case len(of) == 1:
			t.GatewayAccount = of[0]
		case len(of) > 1:
			return refundry.ParamErrorf(refundry.EINVALID, "payment.gateway_account",
				"The merchant has %d %s accounts; name the one the payment was taken through.", len(of), t.Gateway)
		case e.Gateways[t.Gateway] == nil:
			return refundry.ParamErrorf(refundry.EINVALID, "payment.gateway",
				"Gateway %q is not configured on this server and the merchant has no %s account.", t.Gateway, t.Gateway)
		}
	}
	return nil
}

// checkRefund asks the gateways that can tell from a request alone that
// they would refuse it (refundry.RefundChecker: KeepUp refunds only
// whole payments) before anything is stored. The request is decided
// against the sale as read now, as the store will decide it under its
// lock; a request the decision refuses is left to the store, which
// refuses it with the same words.
func (e *Engine) checkRefund(ctx context.Context, req refundry.RefundRequest) error {
	if !e.mayCheck(ctx, req.MerchantID) {
		return nil
	}
	by := refundry.SaleLookup{ID: req.Target.SaleID, LineItemID: req.Target.LineItemID, TransactionID: req.Target.TransactionID}
	if by.ID != "" {
		by.LineItemID, by.TransactionID = "", ""
	} else if by.LineItemID != "" {
		by.TransactionID = ""
	}
	sale, err := e.Stores.Sales.FindSale(ctx, req.MerchantID, by)
	if err != nil {
		return nil
	}
	if !slices.ContainsFunc(sale.Transactions, func(t *refundry.Transaction) bool {
		_, ok := e.checker(ctx, req.MerchantID, t)
		return ok
	}) {
		return nil
	}
	d, err := refundry.DecideRefund(sale, req, e.Now().UTC())
	if err != nil {
		return nil
	}
	for _, r := range d.Refunds {
		if r.Status != refundry.RefundPending && r.Status != refundry.RefundRequiresApproval {
			continue
		}
		t := findTransaction(sale, r.TransactionID)
		if t == nil {
			continue
		}
		if c, ok := e.checker(ctx, req.MerchantID, t); ok {
			if err := c.CheckRefund(gatewayRefund(r, sale, t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// mayCheck reports whether a refund of the merchant may go to a
// RefundChecker: a server-wide gateway that is one, or one of the
// merchant's active accounts. Most merchants have neither, and their
// refunds then read no sale before the store decides them. A payment
// of an account removed since is not checked here: its gateway refuses
// the same refund itself, with nothing sent.
func (e *Engine) mayCheck(ctx context.Context, merchantID string) bool {
	for _, g := range e.Gateways {
		if _, ok := g.(refundry.RefundChecker); ok {
			return true
		}
	}
	if e.Connect == nil {
		return false
	}
	// Kept for freshness: an account another process adds is checked
	// here within a second; until then its gateway refuses what it must
	// itself, as for a removed one.
	as, err := e.accounts.load(merchantID, e.Now(), func() ([]*refundry.GatewayAccount, bool, error) {
		as, err := e.Stores.Accounts.ListGatewayAccounts(ctx, merchantID)
		return as, true, err
	})
	if err != nil {
		return false
	}
	for _, a := range as {
		if a.Endpoint() != nil {
			continue // Talkable: not a gateway
		}
		if g, err := e.accountGateway(ctx, merchantID, a.ID); err == nil {
			if _, ok := g.(refundry.RefundChecker); ok {
				return true
			}
		}
	}
	return false
}

func (e *Engine) checker(ctx context.Context, merchantID string, t *refundry.Transaction) (refundry.RefundChecker, bool) {
	if t.Gateway == refundry.GatewayOffsite {
		return nil, false
	}
	g, err := e.gatewayOf(ctx, merchantID, t)
	if err != nil || g == nil {
		return nil, false
	}
	c, ok := g.(refundry.RefundChecker)
	return c, ok
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
