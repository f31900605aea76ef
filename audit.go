package refundry

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Actor is who makes a write, and from where: the edge that authenticated
// the request puts it in the context, and each store write that changes
// data records it in the audit log, in the same transaction as the change.
type Actor struct {
	KeyID string // an API key's id, or ActorCLI, ActorSystem
	// UserID is the dashboard user who acted, signed in with a password;
	// empty for an API key (on the API or signed in to the dashboard with
	// it), the CLI and the system.
	UserID     string
	RemoteAddr string
	RequestID  string
	Method     string // the HTTP method, or the CLI command
	Path       string // the HTTP path, or what a system actor is doing
}

// Actors that are not API keys.
const (
	// ActorCLI is the command line, run by whoever holds the database.
	ActorCLI = "cli"
	// ActorSystem is serve's own background work on a client's behalf:
	// recovery of pending refunds and the refund batch worker.
	ActorSystem = "system"
)

// Who names the actor as approvals compare identities: "user:ID" for a
// dashboard user, "key:ID" for an API key, or ActorCLI, ActorSystem. Two
// requests by the same person signed in twice are the same Who; a key
// and a user are never the same.
func (a Actor) Who() string {
	switch {
	case a.UserID != "":
		return "user:" + a.UserID
	case a.KeyID == "", a.KeyID == ActorCLI, a.KeyID == ActorSystem:
		return a.KeyID
	default:
		return "key:" + a.KeyID
	}
}

type actorKey struct{}

// WithActor returns ctx carrying a, so that the writes made under it are
// audited.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, and whether there is one.
// Writes made without one are not audited.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// AuditSucceeded is the result of a write that was made. A refused one
// carries its error code (EINVALID, EFORBIDDEN, ...) instead.
const AuditSucceeded = "succeeded"

// AuditEntry is one write in the audit log: who (Actor), what (Action on
// ObjectID), when, from where, and with what result.
type AuditEntry struct {
	ID         string `json:"id"`
	MerchantID string `json:"merchant_id"`
	Actor      Actor  `json:"actor"`
	Action     string `json:"action"`    // e.g. refund.create, api_key.revoke
	ObjectID   string `json:"object_id"` // "" when the write names none
	Result     string `json:"result"`    // AuditSucceeded or an error code
	// Note is why, where a person said: the reason given for approving,
	// rejecting or resolving a refund.
	Note    string    `json:"note"`
	Created time.Time `json:"created"`
}

// NewAuditEntry returns the entry for a successful write made under ctx's
// actor, or nil when ctx carries none.
func NewAuditEntry(ctx context.Context, merchantID, action, objectID string, now time.Time) *AuditEntry {
	a, ok := ActorFrom(ctx)
	if !ok {
		return nil
	}
	return &AuditEntry{ID: NewID(), MerchantID: merchantID, Actor: a, Action: action,
		ObjectID: objectID, Result: AuditSucceeded, Created: now}
}

// Storable returns e as a store writes it: every text field through
// AuditText. Both stores call it on every row they insert, so that a write
// refused for what its request held (a path with %00 or %FF in it) is
// still recorded, and recorded alike on SQLite and PostgreSQL.
func (e AuditEntry) Storable() AuditEntry {
	e.ID, e.MerchantID = AuditText(e.ID), AuditText(e.MerchantID)
	e.Action, e.ObjectID, e.Result = AuditText(e.Action), AuditText(e.ObjectID), AuditText(e.Result)
	e.Note = AuditText(e.Note)
	a := &e.Actor
	a.UserID = AuditText(a.UserID)
	a.KeyID, a.RemoteAddr, a.RequestID = AuditText(a.KeyID), AuditText(a.RemoteAddr), AuditText(a.RequestID)
	a.Method, a.Path = AuditText(a.Method), AuditText(a.Path)
	return e
}

// AuditText returns s as the audit log keeps it: a NUL byte and each byte
// that is not part of valid UTF-8 become the four characters \xNN. The
// text comes from the request (the decoded path holds whatever the client
// percent-encoded), PostgreSQL refuses both in text (SQLSTATE 22021), and
// an audit row that cannot be stored is a refused write nobody sees.
// Escaping rather than U+FFFD keeps what was sent readable for whoever
// investigates it; the rest of s, a backslash included, is kept as it is.
func AuditText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || (r == utf8.RuneError && size == 1) {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// AuditFilter narrows ListAuditLog.
type AuditFilter struct {
	Page
	KeyID       string
	Action      string
	CreatedFrom time.Time // inclusive; zero: no bound
	CreatedTo   time.Time // exclusive; zero: no bound
}

// Audit actions: the object type and the verb, as events are named.
const (
	AuditMerchantCreate = "merchant.create"
	AuditAPIKeyCreate   = "api_key.create"
	AuditAPIKeyRevoke   = "api_key.revoke"
	AuditSaleCreate     = "sale.create"
	AuditRefundCreate   = "refund.create"
	AuditRefundSettle   = "refund.settle"
	AuditRefundCancel   = "refund.cancel"
	AuditReferralCreate = "referral.create"
	AuditReferralVoid   = "referral.void"
	AuditBatchCreate    = "refund_batch.create"
	AuditWebhookCreate  = "webhook_endpoint.create"
	AuditWebhookDelete  = "webhook_endpoint.delete"
	AuditWebhookEnable  = "webhook_endpoint.enable"
	AuditDeliveryReplay = "webhook_delivery.replay"
	AuditRefundAdopt    = "refund.adopt"
	AuditRefundCorrect  = "refund.correct"
	AuditDisputeRecord  = "dispute.record"
	AuditDisputeUpdate  = "dispute.update"
	AuditReasonPut      = "refund_reason.put"
	AuditReasonDelete   = "refund_reason.delete"
	// Refund controls.
	AuditPolicyUpdate  = "refund_policy.update"
	AuditRefundApprove = "refund.approve"
	AuditRefundReject  = "refund.reject"
	AuditRefundExpire  = "refund.expire"
	AuditRefundReview  = "refund.review"  // sent to manual review
	AuditRefundResolve = "refund.resolve" // resolved from manual review
	AuditUserCreate    = "user.create"
	AuditUserDisable   = "user.disable"

	AuditGatewayAccountCreate = "gateway_account.create"
	AuditGatewayAccountRemove = "gateway_account.remove"
)

// SettleAction is the audit action of moving a refund from one status to
// another by a cause: an approver approves, rejects or resolves; an
// expiry expires; recovery sends to review; a cancel is the client's
// doing; any other settlement is the gateway's answer.
func SettleAction(from, to string, by Cause) string {
	switch {
	case by == ByApprover && from == RefundRequiresApproval && to == RefundCanceled:
		return AuditRefundReject
	case by == ByApprover && from == RefundRequiresApproval:
		return AuditRefundApprove
	case by == ByApprover:
		return AuditRefundResolve
	case by == ByExpiry:
		return AuditRefundExpire
	case to == RefundRequiresAction:
		return AuditRefundReview
	case to == RefundCanceled:
		return AuditRefundCancel
	}
	return AuditRefundSettle
}

// SettleAudit is the audit rows a settlement st of r (as it is before
// the settlement) writes: one, or none for the gateway's final answer
// (succeeded, failed or canceled) to the call made by the request that
// created r, recorded within that request (st.Creating, by ByGateway).
// That request's row is the refund.create written durably with the
// reservation: it names the refund, and the outcome is in the refund and
// its event, so a second row would tell nothing the log does not hold.
// Every other settlement has its row: recovery's, the gateway's later
// word (webhooks, reconciliation), a person's decision, an expiry, a
// cancel, a move to review (which a person must act on), and the answer
// to the call an approval made.
func SettleAudit(r *Refund, st Settlement) []AuditRow {
	by := st.cause()
	if st.Creating && by == ByGateway && FinalStatus(st.Status) {
		return nil
	}
	return []AuditRow{{Action: SettleAction(r.Status, st.Status, by), ObjectID: r.ID, Note: st.Note}}
}
