// Package engine holds Refundry's use cases: creating merchants and sales,
// refunding, canceling and recovering refunds. Every edge (the native API,
// the dialects, the dashboard, the command line) goes through it, so each
// rule is applied once for all of them.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/refundry/refundry"
)

// Engine runs the use cases over the stores and the gateways. It is the
// only door to the stores: every edge reads and writes through it.
type Engine struct {
	Stores   refundry.Stores
	Gateways map[string]refundry.Gateway
	Logger   *slog.Logger
	Now      func() time.Time
	// GatewayTimeout bounds one gateway call. A call that runs out leaves
	// its refund pending for recovery, never failed by guess.
	GatewayTimeout time.Duration
	// Observer, if set, hears of refunds and gateway calls (metrics).
	Observer Observer
	// EventParsers read each gateway's inbound events, by gateway name
	// (see ApplyGatewayEvents); a gateway without one has its events
	// stored and ignored.
	EventParsers map[string]EventParser
	// InboxDelay is how long RunInbox waits after an event arrives
	// before it applies the stored events (0: at once).
	InboxDelay time.Duration
	// Review is when recovery stops asking a gateway about a refund and
	// sends it to manual review (refundry.RefundRequiresAction).
	Review refundry.ReviewRule
	// Secrets seals and opens gateway accounts' credentials; nil when the
	// server has no secrets key, and then no account can be created.
	Secrets refundry.Sealer
	// Connect makes the gateway that calls the provider of an opened
	// account (its Credentials set): gateway/connect.New in production.
	Connect func(a *refundry.GatewayAccount) (refundry.Gateway, error)

	// Node names this engine's process among the nodes that share its
	// database (a random id unless set), as the holder of the leases of
	// work one node at a time does.
	Node string

	// inboxWake carries ReceiveGatewayEvent's wake-up to RunInbox.
	inboxWake chan struct{}
	// accountGWs holds the gateways built for accounts.
	accountGWs accountGateways
	// keys holds the API keys Authenticate has proved, briefly.
	keys freshCache[provedKey]
	// policies, reasons and accounts hold, briefly and per merchant,
	// what each refund is checked against before it is stored.
	policies freshCache[*refundry.RefundPolicy]
	reasons  freshCache[[]*refundry.RefundReason]
	accounts freshCache[[]*refundry.GatewayAccount]
}

// provedKey is a key Authenticate read and its merchant.
type provedKey struct {
	merchant *refundry.Merchant
	key      *refundry.APIKey
}

// New returns an engine over the stores one database keeps, with the
// given gateways, keyed by their names.
func New(store refundry.Store, logger *slog.Logger, gateways ...refundry.Gateway) *Engine {
	return NewStores(refundry.StoresOf(store), logger, gateways...)
}

// NewStores is New with each aggregate's store given apart.
func NewStores(stores refundry.Stores, logger *slog.Logger, gateways ...refundry.Gateway) *Engine {
	e := &Engine{
		Stores:         stores,
		Gateways:       map[string]refundry.Gateway{},
		Logger:         logger,
		Now:            time.Now,
		GatewayTimeout: 10 * time.Second,
		EventParsers:   map[string]EventParser{},
		Review:         refundry.ReviewRule{Attempts: refundry.DefaultReviewAttempts, Age: refundry.DefaultReviewAge},
		inboxWake:      make(chan struct{}, 1),
		Node:           refundry.NewID(),
	}
	for _, g := range gateways {
		e.Gateways[g.Name()] = g
	}
	return e
}

// CreateMerchant makes a merchant and its first API key, and returns the
// key's text, which is shown this once and kept only as a hash.
// Returns EINVALID or ECONFLICT (slug taken).
func (e *Engine) CreateMerchant(ctx context.Context, m *refundry.Merchant) (string, error) {
	if m.Currency == "" {
		m.Currency = "USD"
	}
	if err := m.Validate(); err != nil {
		return "", err
	}
	c, _ := refundry.LookupCurrency(m.Currency)
	m.Currency = c.Code
	m.ID = refundry.NewID()
	m.Created = e.Now().UTC()
	key, text := refundry.NewAPIKey(m.ID, m.Created)
	if err := e.Stores.Merchants.CreateMerchant(ctx, m, key); err != nil {
		return "", err
	}
	return text, nil
}

// Authenticate returns the key whose text this is and its merchant.
// Any fault in the key is EUNAUTHORIZED, and its message says which: no
// key sent, a key revoked, a key expired, or an unknown key. Malformed
// text, an id no merchant has and a wrong secret are all "unknown", one
// message: revoked and expired are told only to a caller who proved the
// secret, so that no one learns whether another merchant's key id exists
// (invariant 5).
//
// A key read is kept in the process for freshness (see freshCache), so
// that a request does not pay two reads of the database to be
// authenticated: a revocation made through this engine is refused
// from the next request, one made by any other process sharing the
// database within freshness. The secret is checked on every request,
// and so is the expiry.
func (e *Engine) Authenticate(ctx context.Context, keyText string) (*refundry.Merchant, *refundry.APIKey, error) {
	if keyText == "" {
		return nil, nil, refundry.Errorf(refundry.EUNAUTHORIZED, refundry.MsgNoAPIKey)
	}
	// Made only for a key that fails: a good one, every request's case,
	// formats no message.
	denied := func() error { return refundry.Errorf(refundry.EUNAUTHORIZED, refundry.MsgUnknownAPIKey) }
	id, secret, ok := refundry.ParseAPIKey(keyText)
	if !ok {
		return nil, nil, denied()
	}
	now := e.Now()
	p, err := e.keys.load(id, now, func() (provedKey, bool, error) {
		m, key, err := e.findKey(ctx, id)
		return provedKey{m, key}, key != nil, err
	})
	if err != nil {
		return nil, nil, err
	}
	m, key := p.merchant, p.key
	if key == nil {
		return nil, nil, denied()
	}
	if !key.Verify(secret) {
		return nil, nil, denied()
	}
	if err := key.Usable(now); err != nil {
		return nil, nil, err
	}
	return m, key, nil
}

// findKey reads a key and its merchant; a key nobody has is (nil, nil).
func (e *Engine) findKey(ctx context.Context, id string) (*refundry.Merchant, *refundry.APIKey, error) {
	key, err := e.Stores.Merchants.FindAPIKey(ctx, id)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	m, err := e.Stores.Merchants.FindMerchant(ctx, key.MerchantID)
	if err != nil {
		return nil, nil, err
	}
	return m, key, nil
}

// CreateSale validates and stores a sale. replayed reports an
// Idempotency-Key seen before: s then holds the first request's sale.
func (e *Engine) CreateSale(ctx context.Context, s *refundry.Sale, idem *refundry.Idempotency) (replayed bool, err error) {
	if err := s.Validate(); err != nil {
		return false, err
	}
	// Decided before the store: which account each payment was taken
	// through, so that its refunds go back through that account.
	if err := e.chooseAccounts(ctx, s); err != nil {
		return false, err
	}
	gateways := make([]refundry.Gateway, len(s.Transactions))
	for i, t := range s.Transactions {
		if t.Gateway == refundry.GatewayOffsite {
			continue
		}
		g, err := e.gatewayOf(ctx, s.MerchantID, t)
		if err != nil {
			return false, err
		}
		if g == nil {
			return false, refundry.ParamErrorf(refundry.EINVALID, "payment.gateway", "Gateway %q is not configured on this server.", t.Gateway)
		}
		gateways[i] = g
	}
	// A Stripe sale that names no payment gets a test payment made for it,
	// before (never inside) the database transaction that stores the sale.
	for i, t := range s.Transactions {
		if t.Gateway != refundry.GatewayStripe || t.GatewayChargeID != "" {
			continue
		}
		pm, ok := gateways[i].(refundry.PaymentMaker)
		if !ok {
			return false, refundry.ParamErrorf(refundry.EINVALID, "payment.stripe_charge", "Name the Stripe payment: stripe_charge or stripe_payment_intent.")
		}
		id, err := pm.CreateTestPayment(ctx, t.Amount, s.Currency)
		if err != nil {
			return false, err
		}
		t.GatewayChargeID = id
	}
	replayed, err = e.Stores.Sales.CreateSale(ctx, s, idem)
	if err != nil || replayed {
		return replayed, err
	}
	for i, t := range s.Transactions {
		if w, ok := gateways[i].(refundry.PaymentWatcher); ok {
			w.PaymentRecorded(ctx, t)
		}
	}
	return false, nil
}

// Refund reserves the refunds a request asks for, then sends each one that
// is pending to its gateway and records the outcome. The reservation is
// durable before any gateway hears of it, and gateway calls run outside any
// database transaction (invariants 3 and 6): a crash in between leaves a
// pending refund that Recover settles with the same idempotency key.
func (e *Engine) Refund(ctx context.Context, req refundry.RefundRequest) (*refundry.RefundResult, error) {
	return e.refund(ctx, req, who(ctx))
}

// refund is Refund asked for by requestedBy: ctx's actor, or for a row of
// a bulk batch, whoever made the batch.
func (e *Engine) refund(ctx context.Context, req refundry.RefundRequest, requestedBy string) (*refundry.RefundResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	reasons, err := e.checkReason(ctx, req.MerchantID, "reason", req.Reason)
	if err != nil {
		return nil, err
	}
	// Decided once, kept with the refund: every call about it, recovery's
	// included, tells the gateway the same.
	req.GatewayReason = refundry.StripeReasonOf(reasons, req.Reason)
	// The policy is applied by DecideRefund under the sale's lock; a
	// change racing this request applies to the next one.
	if req.Policy, err = e.refundPolicy(ctx, req.MerchantID); err != nil {
		return nil, err
	}
	req.RequestedBy = requestedBy
	if err := e.checkRefund(ctx, req); err != nil {
		return nil, err
	}
	res, err := e.Stores.Refunds.CreateRefunds(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.Replayed {
		return res, nil
	}
	for _, r := range res.Refunds {
		e.observe().RefundCreated(r)
	}
	// Only a refund settled as failed gives its amount back and changes
	// the sale; a success leaves the sale as CreateRefunds returned it, so
	// the common case reads nothing more.
	released := false
	var asked []string
	for i, r := range res.Refunds {
		if r.Status != refundry.RefundPending {
			continue
		}
		out, err := e.callGateway(ctx, r, res.Sale, refundry.ByGateway)
		if err != nil {
			e.deferRecovery(ctx, req.MerchantID, asked)
			return nil, err
		}
		if out == nil {
			// Pending, or no answer: asked now, so recovery waits its
			// backoff before asking again.
			asked = append(asked, r.ID)
			continue
		}
		// This request's audit row is the refund.create it wrote with
		// the reservation; the answer it got adds none of its own.
		out.Creating = true
		settled, err := e.settle(ctx, r, *out)
		if err != nil {
			settled = e.unsettled(ctx, r, err)
		}
		res.Refunds[i] = settled
		released = released || !refundry.Holds(settled.Status)
	}
	e.deferRecovery(ctx, req.MerchantID, asked)
	if released {
		if s, err := e.Stores.Sales.FindSale(ctx, req.MerchantID, refundry.SaleLookup{ID: res.Sale.ID}); err == nil {
			res.Sale = s
		}
	}
	return res, nil
}

// sendToGateway asks r's gateway to refund again, for recovery, and
// records a final answer. It returns the settled refund, or nil when the
// refund stays pending (the gateway said so, or its answer is unknown);
// unknown is then why the answer is unknown, nil when the gateway said
// pending.
func (e *Engine) sendToGateway(ctx context.Context, r *refundry.Refund, sale *refundry.Sale) (settled *refundry.Refund, unknown, err error) {
	out, unknown, err := e.askGateway(ctx, r, sale, refundry.ByRecovery)
	if err != nil || out == nil {
		return nil, unknown, err
	}
	settled, err = e.settle(ctx, r, *out)
	return settled, nil, err
}

// unsettled is what a request is answered with when the gateway gave a
// final answer for r but recording it failed (disk full, statement
// timeout, lost connection). The reservation committed before the call, so
// the refund exists and the gateway may have moved the money: an error
// here would read as "try again", and a client without an Idempotency-Key
// that obeyed would refund twice (invariants 3 and 4). The request is
// answered with the refund as stored, pending, which is also what a replay
// of its Idempotency-Key reads; recovery asks the gateway again under the
// same idempotency key and settles it once (invariant 6).
func (e *Engine) unsettled(ctx context.Context, r *refundry.Refund, err error) *refundry.Refund {
	if refundry.ErrorCode(err) == refundry.ECONFLICT {
		// Settled meanwhile by another process (recovery, a cancel): the
		// stored status is the answer, if it can be read.
		if cur, ferr := e.Stores.Refunds.FindRefund(context.WithoutCancel(ctx), r.MerchantID, r.ID); ferr == nil {
			return cur
		}
	}
	e.Logger.ErrorContext(ctx, "recording the gateway's answer failed; refund answered pending and left for recovery",
		"refund", r.ID, "gateway", r.Gateway, "err", err)
	return r
}

// callGateway asks r's gateway to refund. It returns the gateway's final
// answer, or nil when the refund stays pending (the gateway said so, or its
// answer is unknown); an error only when the gateway turned the call away.
// by is who the answer is recorded as coming from (see
// refundry.Transitions).
func (e *Engine) callGateway(ctx context.Context, r *refundry.Refund, sale *refundry.Sale, by refundry.Cause) (*refundry.Settlement, error) {
	out, _, err := e.askGateway(ctx, r, sale, by)
	return out, err
}

// askGateway is callGateway, also telling why a refund left pending has
// no answer (a timeout, a lost connection, no usable gateway): what
// manual review is told of it.
//
// Two unknowns go to manual review at once rather than wait for
// recovery (a Settlement to requires_action, by the cause by): a gateway
// that turned the first call away (EGATEWAY: its credentials, say),
// which a person must look at, and no answer from a gateway that is
// OneShot, which may have refunded and cannot be asked again safely.
// Answered with an error instead, a client that retried without an
// Idempotency-Key would refund twice; answered with the refund in
// review, it sees the reason and a person decides.
func (e *Engine) askGateway(ctx context.Context, r *refundry.Refund, sale *refundry.Sale, by refundry.Cause) (out *refundry.Settlement, unknown, err error) {
	txn := findTransaction(sale, r.TransactionID)
	var g refundry.Gateway
	var gerr error
	if txn != nil {
		g, gerr = e.gatewayOf(ctx, r.MerchantID, txn)
	}
	if g == nil || txn == nil {
		e.Logger.ErrorContext(ctx, "refund has no usable gateway; left pending", "refund", r.ID, "gateway", r.Gateway, "err", gerr)
		if gerr == nil {
			gerr = refundry.Errorf(refundry.EINTERNAL, "Gateway %q is not configured on this server.", r.Gateway)
		}
		return nil, gerr, nil
	}
	// A client that hangs up must not cut the gateway call short: the
	// refund is already promised, so the call gets its own deadline.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.GatewayTimeout)
	defer cancel()
	start := time.Now()
	res, err := g.Refund(callCtx, gatewayRefund(r, sale, txn))
	e.observe().GatewayCall(r.Gateway, "refund", time.Since(start), err)
	if err != nil {
		e.Logger.WarnContext(ctx, "gateway call failed; refund left pending", "refund", r.ID, "gateway", r.Gateway, "err", err)
		turnedAway := refundry.ErrorCode(err) == refundry.EGATEWAY
		if errors.Is(err, context.DeadlineExceeded) {
			err = refundry.Errorf(refundry.EUNAVAILABLE, "Gateway %q did not answer within %s.", r.Gateway, e.GatewayTimeout)
		}
		switch {
		case oneShot(g):
			return &refundry.Settlement{Status: refundry.RefundRequiresAction, By: by,
				Note: "The gateway's answer is unknown: " + refundry.ErrorMessage(err) + " " + r.Gateway +
					" offers no way to ask about a refund or to send it again safely: check at " + r.Gateway +
					" whether it was made, then resolve it."}, nil, nil
		case turnedAway && by == refundry.ByGateway:
			return &refundry.Settlement{Status: refundry.RefundRequiresAction, By: by,
				Note: "The gateway turned the refund away: " + refundry.ErrorMessage(err) +
					" Fix the gateway account's credentials or address, then retry or resolve it."}, nil, nil
		}
		return nil, err, nil
	}
	if res.Status == refundry.RefundPending {
		return nil, nil, nil
	}
	return &refundry.Settlement{Status: res.Status, GatewayRefundID: res.GatewayRefundID, FailureReason: res.FailureReason, By: by}, nil, nil
}

// oneShot reports whether g must never be asked again about a refund
// whose outcome is unknown (refundry.OneShot).
func oneShot(g refundry.Gateway) bool {
	o, ok := g.(refundry.OneShot)
	return ok && o.OneShot()
}

// settle records the gateway's final answer for r.
func (e *Engine) settle(ctx context.Context, r *refundry.Refund, st refundry.Settlement) (*refundry.Refund, error) {
	return e.settled(e.Stores.Refunds.SettleRefund(context.WithoutCancel(ctx), r.MerchantID, r.ID, st))
}

// settled passes on SettleRefund's answer, telling the Observer of a
// refund it moved to a final status (an approval that sends a refund to
// its gateway, or a move to review, is not one).
func (e *Engine) settled(r *refundry.Refund, err error) (*refundry.Refund, error) {
	if err == nil && refundry.FinalStatus(r.Status) {
		e.observe().RefundSettled(r)
	}
	if err == nil && r.Status == refundry.RefundRequiresAction {
		e.observe().RefundReviewed(r)
	}
	return r, err
}

// Cancel cancels a pending refund, if its gateway still allows it.
// Returns ENOTFOUND, or ECONFLICT when the refund is final or the gateway
// has already taken it.
func (e *Engine) Cancel(ctx context.Context, merchantID, id string) (*refundry.Refund, error) {
	r, err := e.Stores.Refunds.FindRefund(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	if r.Status == refundry.RefundCanceled {
		return r, nil // canceling is idempotent by nature
	}
	// Asked before the gateway is: a refund the table does not let a
	// client cancel is refused without a call.
	if err := refundry.CanCancel(r.Status, refundry.ByClient); err != nil {
		return nil, err
	}
	if r.Status == refundry.RefundRequiresApproval {
		// Its gateway never heard of it: withdrawing it is ours alone,
		// unless an approval sent it to the gateway meanwhile (From).
		withdrawn, err := e.settle(ctx, r, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, Actor: who(ctx),
			From: refundry.RefundRequiresApproval})
		if refundry.ErrorCode(err) == refundry.ECONFLICT {
			if cur, ferr := e.Stores.Refunds.FindRefund(ctx, merchantID, id); ferr == nil && cur.Status == refundry.RefundCanceled {
				return cur, nil // withdrawn, rejected or expired meanwhile: canceled all the same
			}
		}
		return withdrawn, err
	}
	sale, err := e.Stores.Sales.FindSale(ctx, merchantID, refundry.SaleLookup{ID: r.SaleID})
	if err != nil {
		return nil, err
	}
	txn := findTransaction(sale, r.TransactionID)
	var g refundry.Gateway
	if txn != nil {
		if g, err = e.gatewayOf(ctx, merchantID, txn); err != nil {
			return nil, err
		}
	}
	if g == nil || txn == nil {
		return nil, refundry.Errorf(refundry.ECONFLICT, "The refund's gateway %q is not configured here; it cannot be canceled.", r.Gateway)
	}
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.GatewayTimeout)
	defer cancel()
	start := time.Now()
	out, err := g.Cancel(callCtx, gatewayRefund(r, sale, txn))
	e.observe().GatewayCall(r.Gateway, "cancel", time.Since(start), err)
	if err != nil {
		if refundry.ErrorCode(err) == refundry.ECONFLICT {
			return nil, err
		}
		return nil, &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The gateway did not answer; try again.", Err: err}
	}
	if out.Status != refundry.RefundCanceled {
		return nil, refundry.Errorf(refundry.ECONFLICT, "The gateway has already taken this refund; it can no longer be canceled.")
	}
	return e.settled(e.Stores.Refunds.SettleRefund(context.WithoutCancel(ctx), merchantID, id, refundry.Settlement{
		Status: refundry.RefundCanceled, GatewayRefundID: out.GatewayRefundID, By: refundry.ByClient,
	}))
}

// deferRecovery records that the gateway was asked about refunds that
// stay pending, so that recovery asks again only after a backoff
// (invariant 6): refunds a gateway holds pending for days must not crowd
// out those a crash left unasked. Failing to record it costs only an early
// question, so it is logged, not returned.
func (e *Engine) deferRecovery(ctx context.Context, merchantID string, ids []string) {
	if len(ids) == 0 {
		return
	}
	if err := e.Stores.Refunds.DeferRefunds(context.WithoutCancel(ctx), merchantID, ids, e.Now()); err != nil {
		e.Logger.WarnContext(ctx, "could not defer recovery of pending refunds; recovery asks about them sooner", "count", len(ids), "err", err)
	}
}

// Recover asks the gateways again about up to limit pending refunds due by
// the given time (never asked by recovery: recorded by then; asked
// before: their backoff ended by then), with the same idempotency keys,
// and records every final answer (invariant 6). Refunds are claimed fairly
// between merchants, and each one asked is due again only after its
// backoff (see refundry.RecoveryClaim), so repeated passes reach every
// pending refund. It returns how many it settled.
func (e *Engine) Recover(ctx context.Context, before time.Time, limit int) (int, error) {
	settled, _, err := e.recoverPass(ctx, before, limit)
	return settled, err
}

// recoverPass is Recover, also telling how many refunds it claimed.
func (e *Engine) recoverPass(ctx context.Context, due time.Time, limit int) (settled, claimed int, err error) {
	reviewed := 0
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorSystem, Method: "recovery"})
	pending, err := e.Stores.Refunds.ClaimRefunds(ctx, refundry.RecoveryClaim{Due: due, Now: e.Now(), Limit: limit})
	if err != nil {
		return 0, 0, err
	}
	claimed = len(pending)
	for _, r := range pending {
		if ctx.Err() != nil {
			return settled, claimed, ctx.Err()
		}
		if r.Source == refundry.SourceGateway {
			// Made at the gateway and adopted pending: Refundry never
			// asked for it, so asking now would refund a second time. The
			// gateway's own later report settles it.
			continue
		}
		sale, err := e.Stores.Sales.FindSale(ctx, r.MerchantID, refundry.SaleLookup{ID: r.SaleID})
		if err != nil {
			return settled, claimed, err
		}
		if hold, why := e.holdOneShot(ctx, r, sale); hold {
			// Never sent again: a person decides, now or once the review
			// limits pass.
			if why != nil && e.toReview(ctx, r, refundry.ErrorMessage(why)) || why == nil && e.review(ctx, r, nil) {
				reviewed++
			}
			continue
		}
		s, unknown, err := e.sendToGateway(ctx, r, sale)
		switch code := refundry.ErrorCode(err); {
		case err == nil:
		case errors.Is(err, context.Canceled), code == refundry.ECONFLICT:
			// Stopping, or settled meanwhile by another process: fine.
			continue
		case code == refundry.EGATEWAY:
			// Logged by sendToGateway; the others still get their turn.
		default:
			return settled, claimed, err
		}
		if s != nil {
			settled++
			continue
		}
		// Still pending: the gateway said so, gave no answer, or turned
		// the call away. Past the review limits a person decides.
		if err == nil {
			err = unknown
		}
		if e.review(ctx, r, err) {
			reviewed++
		}
	}
	if reviewed > 0 {
		e.Logger.InfoContext(ctx, "recovery sent refunds to manual review", "count", reviewed)
	}
	return settled, claimed, nil
}

// holdOneShot reports whether recovery must not ask r's gateway about r:
// the gateway is OneShot (refundry.OneShot), so a second call could
// refund twice. why, when set, sends r to manual review at once: no
// answer to the request's own call was ever recorded (a crash, or the
// process stopped, between the reservation and the answer), so whether
// the money moved is unknown. (Recovery leaves refunds younger than its
// age limit to their request; a call slower than that, answered after
// its refund went to review, is not recorded over the review, which a
// person then resolves: never a second call.) A refund its gateway acknowledged as
// pending (its call recorded, Attempts above 1) waits for the review
// limits or the gateway's own report. A refund a person sent back from
// review (ReviewReason set, schedule reset) is sent: that person
// checked at the provider.
func (e *Engine) holdOneShot(ctx context.Context, r *refundry.Refund, sale *refundry.Sale) (hold bool, why error) {
	txn := findTransaction(sale, r.TransactionID)
	if txn == nil {
		return false, nil
	}
	g, err := e.gatewayOf(ctx, r.MerchantID, txn)
	if err != nil || g == nil || !oneShot(g) {
		return false, nil
	}
	if r.Attempts > 1 {
		return true, nil
	}
	if r.ReviewReason != "" {
		return false, nil
	}
	return true, refundry.Errorf(refundry.EUNAVAILABLE,
		"No answer from %s was recorded for this refund, and %s offers no way to ask about it or send it again safely: check at %s whether it was made, then resolve it.",
		r.Gateway, r.Gateway, r.Gateway)
}

// review moves r, which recovery just asked its gateway about and which
// stays pending (lastErr: why, if the gateway gave no answer or turned
// the call away), to manual review (refundry.RefundRequiresAction) when
// e.Review says a person must decide. Recovery claims only pending
// refunds, so it never asks about r again; its amount stays held, since
// the gateway may have paid it. It reports whether r was moved.
func (e *Engine) review(ctx context.Context, r *refundry.Refund, lastErr error) bool {
	why := e.Review.Review(r, lastErr, e.Now())
	if why == "" {
		return false
	}
	return e.toReview(ctx, r, why)
}

// toReview moves r to manual review, saying why.
func (e *Engine) toReview(ctx context.Context, r *refundry.Refund, why string) bool {
	moved, err := e.Stores.Refunds.SettleRefund(context.WithoutCancel(ctx), r.MerchantID, r.ID,
		refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery, Note: why})
	if err != nil {
		// Settled meanwhile (ECONFLICT), or the write failed: either way
		// recovery meets it again only if it is still pending.
		if refundry.ErrorCode(err) != refundry.ECONFLICT {
			e.Logger.WarnContext(ctx, "could not send a refund to manual review; recovery asks about it again", "refund", r.ID, "err", err)
		}
		return false
	}
	e.Logger.WarnContext(ctx, "refund sent to manual review", "refund", r.ID, "merchant", r.MerchantID,
		"gateway", r.Gateway, "attempts", r.Attempts, "reason", why)
	e.observe().RefundReviewed(moved)
	return true
}

// gatewayRefund is what r's gateway is asked: the reason is the one its
// code mapped to when it was made (Refund.GatewayReason), the line is
// the provider's own id of r's line item, and Remainder says r returns
// the whole payment.
//
// Remainder is held to the whole payment, not to whatever remained of
// it, because a gateway reads it as "refund everything" (Payop's
// refundType 1, KeepUp's whole sale): after a partial refund made
// elsewhere (offsite, or by an earlier refund), "everything" at the
// gateway would return more than this refund's amount.
func gatewayRefund(r *refundry.Refund, sale *refundry.Sale, txn *refundry.Transaction) refundry.GatewayRefund {
	g := refundry.GatewayRefund{
		RefundID: r.ID, Transaction: txn, Amount: r.Amount - r.Fee, Currency: r.Currency,
		Reason: r.GatewayReason, GatewayRefundID: r.GatewayRefundID, Created: r.Created,
		Remainder: r.Fee == 0 && r.Amount == txn.Amount, Offsite: r.Offsite,
	}
	if r.LineItemID != "" && sale != nil {
		for _, li := range sale.LineItems {
			if li.ID == r.LineItemID {
				g.GatewayLineID = li.GatewayLineID
			}
		}
	}
	return g
}

func findTransaction(s *refundry.Sale, id string) *refundry.Transaction {
	for _, t := range s.Transactions {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// CreateReferral validates and stores a referral (see Store.CreateReferral).
func (e *Engine) CreateReferral(ctx context.Context, r *refundry.Referral, idem *refundry.Idempotency) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	return e.Stores.Referrals.CreateReferral(ctx, r, idem)
}

// KeySpec is what the maker of a key chooses: a name, a scope and an
// optional expiry (zero: never).
type KeySpec struct {
	Name    string
	Scope   refundry.Scope
	Expires time.Time
}

// CreateAPIKey makes another key for a merchant and returns it with its
// text, shown this once. An empty name is "default", an empty scope write.
// Returns EINVALID for a bad name, scope or expiry, ENOTFOUND for a
// merchant that does not exist.
func (e *Engine) CreateAPIKey(ctx context.Context, merchantID string, spec KeySpec) (*refundry.APIKey, string, error) {
	now := e.Now().UTC()
	key, text := refundry.NewAPIKey(merchantID, now)
	if spec.Name != "" {
		key.Name = spec.Name
	}
	if spec.Scope != "" {
		key.Scope = spec.Scope
	}
	key.Expires = spec.Expires
	if err := key.Validate(now); err != nil {
		return nil, "", err
	}
	if err := e.Stores.Merchants.CreateAPIKey(ctx, key); err != nil {
		return nil, "", err
	}
	return key, text, nil
}
