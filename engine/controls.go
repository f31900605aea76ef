package engine

import (
	"context"
	"strings"
	"time"

	"github.com/refundry/refundry"
)

// Refund controls: the merchant's policy, approvals, manual review and
// the people who decide. The rules are refundry's (control.go); this file
// only reads, asks and writes.

// RefundPolicy returns the merchant's policy (empty if never set).
func (e *Engine) RefundPolicy(ctx context.Context, merchantID string) (*refundry.RefundPolicy, error) {
	return e.Stores.Policies.FindRefundPolicy(ctx, merchantID)
}

// SetRefundPolicy applies c to the merchant's policy and stores it,
// audited. Returns EINVALID naming the first bad field; nothing is
// stored then.
func (e *Engine) SetRefundPolicy(ctx context.Context, merchantID string, c refundry.PolicyChange) (*refundry.RefundPolicy, error) {
	cur, err := e.Stores.Policies.FindRefundPolicy(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	next, err := cur.Apply(c, e.Now().UTC())
	if err != nil {
		return nil, err
	}
	next.MerchantID = merchantID
	defer e.policies.forget(merchantID)
	if err := e.Stores.Policies.PutRefundPolicy(ctx, next); err != nil {
		return nil, err
	}
	return next, nil
}

// refundPolicy is the policy a refund is checked against, kept for
// freshness: a change made through this engine applies from the next
// refund, one made by another process sharing the database within a
// second (as a policy change racing a refund applies to the next one).
func (e *Engine) refundPolicy(ctx context.Context, merchantID string) (*refundry.RefundPolicy, error) {
	return e.policies.load(merchantID, e.Now(), func() (*refundry.RefundPolicy, bool, error) {
		p, err := e.Stores.Policies.FindRefundPolicy(ctx, merchantID)
		return p, true, err
	})
}

// who is the identity ctx's actor acts as (refundry.Actor.Who); "" when
// the context carries none.
func who(ctx context.Context) string {
	a, _ := refundry.ActorFrom(ctx)
	return a.Who()
}

// Approve approves a refund that requires approval, as ctx's actor, who
// must not be the one who asked for it, and sends it to its gateway (or
// records it succeeded when no money moves through one). Returns
// ENOTFOUND, EFORBIDDEN for the requester, ECONFLICT when the refund is
// not awaiting approval (approved, rejected, expired or withdrawn
// already: of two racing decisions exactly one is made).
func (e *Engine) Approve(ctx context.Context, merchantID, id, note string) (*refundry.Refund, error) {
	r, err := e.awaiting(ctx, merchantID, id, refundry.RefundRequiresApproval, "approved")
	if err != nil {
		return nil, err
	}
	if err := refundry.CheckApprover(r, who(ctx)); err != nil {
		return nil, err
	}
	st := refundry.Settlement{Status: refundry.InitialStatus(r.Offsite, r.Fee == r.Amount), By: refundry.ByApprover, Actor: who(ctx), Note: note,
		From: refundry.RefundRequiresApproval}
	approved, err := e.settle(ctx, r, st)
	if err != nil || approved.Status != refundry.RefundPending {
		return approved, err
	}
	return e.send(ctx, approved)
}

// Reject rejects a refund that requires approval, releasing its amount.
// Returns ENOTFOUND, or ECONFLICT when it is not awaiting approval.
func (e *Engine) Reject(ctx context.Context, merchantID, id, note string) (*refundry.Refund, error) {
	r, err := e.awaiting(ctx, merchantID, id, refundry.RefundRequiresApproval, "rejected")
	if err != nil {
		return nil, err
	}
	return e.settle(ctx, r, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByApprover, Actor: who(ctx), Note: note,
		From: refundry.RefundRequiresApproval})
}

// Resolve decides a refund in manual review as res says: succeeded with
// the gateway's reference, failed (releasing its amount), or retry (back
// to recovery, which asks its gateway again at once). Returns EINVALID
// for an incomplete resolution, ENOTFOUND, or ECONFLICT when the refund
// is not in review.
func (e *Engine) Resolve(ctx context.Context, merchantID, id string, res refundry.Resolution) (*refundry.Refund, error) {
	st, err := res.Settlement(who(ctx))
	if err != nil {
		return nil, err
	}
	r, err := e.awaiting(ctx, merchantID, id, refundry.RefundRequiresAction, "resolved")
	if err != nil {
		return nil, err
	}
	st.From = refundry.RefundRequiresAction
	return e.settle(ctx, r, st)
}

// awaiting reads the merchant's refund id and refuses it with ECONFLICT
// unless it is in status, saying what became of it instead. The store's
// conditional write decides a race; this only words the common case.
func (e *Engine) awaiting(ctx context.Context, merchantID, id, status, verb string) (*refundry.Refund, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such refund: %s", id)
	}
	r, err := e.Stores.Refunds.FindRefund(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	if r.Status != status {
		waiting := "awaiting approval"
		if status == refundry.RefundRequiresAction {
			waiting = "in manual review"
		}
		return nil, refundry.Errorf(refundry.ECONFLICT, "Refund %s is %s; only a refund %s can be %s.",
			id, strings.ReplaceAll(r.Status, "_", " "), waiting, verb)
	}
	return r, nil
}

// send asks an approved refund's gateway to refund, as Refund does for a
// new one, and records its answer.
func (e *Engine) send(ctx context.Context, r *refundry.Refund) (*refundry.Refund, error) {
	sale, err := e.Stores.Sales.FindSale(ctx, r.MerchantID, refundry.SaleLookup{ID: r.SaleID})
	if err != nil {
		// Approved and durable: recovery sends it.
		return r, nil
	}
	out, err := e.callGateway(ctx, r, sale, refundry.ByGateway)
	if err != nil {
		return r, err
	}
	if out == nil {
		e.deferRecovery(ctx, r.MerchantID, []string{r.ID})
		return r, nil
	}
	settled, err := e.settle(ctx, r, *out)
	if err != nil {
		return e.unsettled(ctx, r, err), nil
	}
	return settled, nil
}

// ExpireApprovals releases up to limit refunds whose approval deadline
// has passed, as the system. It returns how many it released; one an
// approver decided meanwhile is left to that decision.
func (e *Engine) ExpireApprovals(ctx context.Context, limit int) (int, error) {
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorSystem, Method: "expiry"})
	due, err := e.Stores.Refunds.ExpiredApprovals(ctx, e.Now().UTC(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range due {
		_, err := e.settle(ctx, r, refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByExpiry, Actor: refundry.ActorSystem,
			Note: "Nobody approved the refund by " + r.ApprovalExpires.UTC().Format(time.RFC3339) + ".", From: refundry.RefundRequiresApproval})
		switch refundry.ErrorCode(err) {
		case "":
			n++
		case refundry.ECONFLICT:
			// Approved, rejected or withdrawn meanwhile.
		default:
			return n, err
		}
	}
	return n, nil
}

// expiryBatch is the most approvals one expiry pass releases.
const expiryBatch = 500

// RunExpiry releases expired approvals at start and then every interval
// until ctx ends. A pass that released a full batch is followed at once
// by the next, so a backlog (a server stopped over a weekend) drains in
// one go.
func (e *Engine) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := e.ExpireApprovals(ctx, expiryBatch)
		if ctx.Err() == nil {
			e.observe().ExpiryPass(n, err)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			e.Logger.WarnContext(ctx, "expiring approvals failed; trying again", "err", err, "retry_in", interval)
		case n > 0:
			e.Logger.InfoContext(ctx, "released refunds nobody approved in time", "count", n)
			if n >= expiryBatch {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefundQueues returns the approval and review queues of a merchant ("":
// of every merchant).
func (e *Engine) RefundQueues(ctx context.Context, merchantID string) ([]refundry.RefundQueue, error) {
	return e.Stores.Refunds.RefundQueues(ctx, merchantID)
}

// UserSpec is what the maker of a user chooses.
type UserSpec struct {
	Name, Email string
	Role        refundry.Role
	Password    string
}

// CreateUser makes a dashboard user of the merchant, audited. Returns
// EINVALID for a bad field, ECONFLICT for an email the merchant's users
// already have, ENOTFOUND for no such merchant.
func (e *Engine) CreateUser(ctx context.Context, merchantID string, spec UserSpec) (*refundry.User, error) {
	u, err := refundry.NewUser(merchantID, spec.Name, spec.Email, spec.Role, spec.Password, e.Now().UTC())
	if err != nil {
		return nil, err
	}
	if err := e.Stores.Users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// FindUser returns ENOTFOUND if the merchant has no such user.
func (e *Engine) FindUser(ctx context.Context, merchantID, id string) (*refundry.User, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such user: %s", id)
	}
	return e.Stores.Users.FindUser(ctx, merchantID, id)
}

// ListUsers returns one page of the merchant's users, newest first.
func (e *Engine) ListUsers(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.User, bool, error) {
	return e.Stores.Users.ListUsers(ctx, merchantID, p)
}

// DisableUser disables one of the merchant's users: their sessions end at
// their next request. Disabling again changes nothing.
func (e *Engine) DisableUser(ctx context.Context, merchantID, id string) (*refundry.User, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such user: %s", id)
	}
	return e.Stores.Users.DisableUser(ctx, merchantID, id, e.Now().UTC())
}

// SignIn checks a dashboard user's password: the merchant by slug, the
// user by email. Every failure is the same EUNAUTHORIZED, taking as long,
// so that it reveals neither which merchants nor which emails exist; a
// disabled user is told so only with the right password.
func (e *Engine) SignIn(ctx context.Context, merchantSlug, email, password string) (*refundry.Merchant, *refundry.User, error) {
	refused := refundry.Errorf(refundry.EUNAUTHORIZED, "The merchant, email or password is wrong.")
	m, err := e.Stores.Merchants.FindMerchantBySlug(ctx, strings.TrimSpace(merchantSlug))
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		refundry.DummyPasswordCheck(password)
		return nil, nil, refused
	} else if err != nil {
		return nil, nil, err
	}
	u, err := e.Stores.Users.FindUserByEmail(ctx, m.ID, strings.TrimSpace(email))
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		refundry.DummyPasswordCheck(password)
		return nil, nil, refused
	} else if err != nil {
		return nil, nil, err
	}
	if !u.CheckPassword(password) {
		return nil, nil, refused
	}
	if err := u.Usable(); err != nil {
		return nil, nil, err
	}
	return m, u, nil
}

// FindUserByEmail returns the merchant's user with that email, in any
// case; ENOTFOUND if there is none.
func (e *Engine) FindUserByEmail(ctx context.Context, merchantID, email string) (*refundry.User, error) {
	return e.Stores.Users.FindUserByEmail(ctx, merchantID, strings.TrimSpace(email))
}
