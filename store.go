package refundry

import (
	"context"
	"time"
)

// Idempotency carries a client's Idempotency-Key and a hash of the request
// it came with (method, path and body, computed by the edge). A store
// records it in the same transaction as the objects the request created
// (invariant 4).
type Idempotency struct {
	Key  string
	Hash string
}

// Page is cursor pagination, newest first: StartingAfter returns objects
// older than that id, EndingBefore objects newer than it.
type Page struct {
	Limit         int // 1 to 100; 0 means 10
	StartingAfter string
	EndingBefore  string
}

// MaxPageLimit is the largest page any list returns.
const MaxPageLimit = 100

// Normalize applies the default limit and checks the bounds.
func (p *Page) Normalize() error {
	if p.Limit == 0 {
		p.Limit = 10
	}
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return ParamErrorf(EINVALID, "limit", "Limit must be between 1 and %d.", MaxPageLimit)
	}
	if p.StartingAfter != "" && p.EndingBefore != "" {
		return ParamErrorf(EINVALID, "ending_before", "Give starting_after or ending_before, not both.")
	}
	return nil
}

// SaleLookup finds a sale by exactly one of its own or its parts' identities.
type SaleLookup struct {
	ID                   string
	Reference            string
	LineItemID           string
	TransactionID        string
	TransactionNumber    int64
	TransactionReference string
}

// SaleFilter narrows ListSales.
type SaleFilter struct {
	Page
	Reference string
	// CustomerEmail matches the customer's email whole, in any case of
	// A to Z (see FoldCase): Ann@Example.com finds ann@example.com.
	CustomerEmail string
	Status        string // paid, partially_refunded, refunded
	// Search keeps the sales whose order number (reference), customer
	// email, customer name ("first last") or last name starts with it,
	// in any case of A to Z. Stores answer it from indexes, never by
	// reading every sale.
	Search string
}

// Normalize applies the page's defaults and refuses text no store could
// compare. Returns EINVALID.
func (f *SaleFilter) Normalize() error {
	if err := f.Page.Normalize(); err != nil {
		return err
	}
	for _, p := range []struct{ name, value string }{{"reference", f.Reference}, {"customer_email", f.CustomerEmail}, {"search", f.Search}} {
		if err := checkText(p.name, p.value); err != nil {
			return err
		}
	}
	if len(f.Search) > MaxSearchLength {
		return ParamErrorf(EINVALID, "search", "A search is at most %d bytes.", MaxSearchLength)
	}
	return nil
}

// RefundFilter narrows ListRefunds.
type RefundFilter struct {
	Page
	SaleID        string
	TransactionID string
	LineItemID    string
	Group         string
	Status        string
	Source        string
	CreatedFrom   time.Time // inclusive; zero: no bound
	CreatedTo     time.Time // exclusive; zero: no bound
}

// EventFilter narrows ListEvents.
type EventFilter struct {
	Page
	Types    []string
	ObjectID string
}

// RefundResult is what CreateRefunds made: the refunds, the sale as it is
// after them, and the referrals voided with them.
type RefundResult struct {
	Refunds  []*Refund
	Sale     *Sale
	Voided   []*Referral
	Replayed bool // the Idempotency-Key was seen: nothing new was written
}

// Store keeps everything durable, in one database: each aggregate's
// store, the outbox and the refund batches. Each method is one database
// transaction. Implementations: store/sqlite and store/postgres; both pass
// store/storetest and check at compile time that they are a Store. Objects
// of another merchant are answered exactly like missing ones (ENOTFOUND),
// never with a different error (invariant 5).
type Store interface {
	MerchantStore
	AuditStore
	SaleStore
	RefundStore
	ReferralStore
	EventStore
	Outbox
	BatchStore
	InboxStore
	ReportStore
	ReconciliationStore
	ReturnStore
	ReasonStore
	PolicyStore
	UserStore
	GatewayAccountStore
	SessionStore
	RateCounter
	LeaseStore
	Pinger
	StatementCounter
	Close() error
}

// Stores is what the engine is given: one store per aggregate, each a
// field the compiler checks, so that a capability the engine needs is
// never found (or missed) at run time. One database usually keeps them
// all (StoresOf); a field may be a different implementation, such as a
// test's store that fails on purpose.
type Stores struct {
	Merchants MerchantStore
	Audit     AuditStore
	Sales     SaleStore
	Refunds   RefundStore
	Referrals ReferralStore
	Events    EventStore
	Outbox    Outbox
	Batches   BatchStore
	Inbox     InboxStore
	Reports   ReportStore
	Reconcile ReconciliationStore
	Returns   ReturnStore
	Reasons   ReasonStore
	Policies  PolicyStore
	Users     UserStore
	Accounts  GatewayAccountStore
	Sessions  SessionStore
	Rates     RateCounter
	Leases    LeaseStore
	Health    Pinger
	Stats     StatementCounter
}

// StoresOf returns the stores one database keeps, each of them s.
func StoresOf(s Store) Stores {
	return Stores{Merchants: s, Audit: s, Sales: s, Refunds: s, Referrals: s, Events: s, Outbox: s, Batches: s,
		Inbox: s, Reports: s, Reconcile: s, Returns: s, Reasons: s, Policies: s, Users: s, Accounts: s,
		Sessions: s, Rates: s, Leases: s, Health: s, Stats: s}
}

// PolicyStore keeps each merchant's refund policy.
type PolicyStore interface {
	// FindRefundPolicy returns the merchant's policy; a merchant that
	// never set one has an empty policy (no rules), not ENOTFOUND.
	FindRefundPolicy(ctx context.Context, merchantID string) (*RefundPolicy, error)
	// PutRefundPolicy stores p as the merchant's whole policy, audited as
	// AuditPolicyUpdate in the same transaction.
	PutRefundPolicy(ctx context.Context, p *RefundPolicy) error
}

// UserStore keeps the people who sign in to merchants' dashboards.
type UserStore interface {
	// CreateUser stores a validated user, audited as AuditUserCreate.
	// Returns ECONFLICT if the merchant has a user with that email in any
	// case, ENOTFOUND if the merchant does not exist.
	CreateUser(ctx context.Context, u *User) error
	// FindUser returns ENOTFOUND if the merchant has no such user.
	FindUser(ctx context.Context, merchantID, id string) (*User, error)
	// FindUserByEmail finds the merchant's user by email in any case;
	// ENOTFOUND if there is none.
	FindUserByEmail(ctx context.Context, merchantID, email string) (*User, error)
	// ListUsers returns one page of the merchant's users, newest first,
	// disabled ones included, and whether more follow.
	ListUsers(ctx context.Context, merchantID string, p Page) ([]*User, bool, error)
	// DisableUser marks the user disabled at now (once: disabling again
	// keeps the first time), audited as AuditUserDisable. ENOTFOUND if
	// the merchant has no such user.
	DisableUser(ctx context.Context, merchantID, id string, now time.Time) (*User, error)
}

// MerchantStore keeps merchants and their API keys.
type MerchantStore interface {
	// CreateMerchant stores a merchant and its first API key.
	// Returns ECONFLICT if the slug is taken.
	CreateMerchant(ctx context.Context, m *Merchant, key *APIKey) error
	// FindMerchant returns ENOTFOUND if there is no such merchant.
	FindMerchant(ctx context.Context, id string) (*Merchant, error)
	// FindMerchantBySlug returns ENOTFOUND if there is no such merchant.
	FindMerchantBySlug(ctx context.Context, slug string) (*Merchant, error)
	// CreateAPIKey stores another key for an existing merchant.
	// Returns ENOTFOUND if the merchant does not exist.
	CreateAPIKey(ctx context.Context, key *APIKey) error
	// FindAPIKey returns ENOTFOUND if there is no key with that id.
	// It is read afresh on every request, never cached, so that a key
	// revoked by any process is refused on its next use.
	FindAPIKey(ctx context.Context, id string) (*APIKey, error)
	// ListAPIKeys returns one page of the merchant's keys, newest first,
	// revoked ones included, and whether more follow.
	ListAPIKeys(ctx context.Context, merchantID string, p Page) ([]*APIKey, bool, error)
	// RevokeAPIKey marks the key revoked now, or leaves it as it is if it
	// was revoked before, and returns it. Returns ENOTFOUND if the merchant
	// has no such key.
	RevokeAPIKey(ctx context.Context, merchantID, id string) (*APIKey, error)
}

// AuditStore keeps each merchant's audit log.
type AuditStore interface {
	// RecordAudit stores an audit entry on its own: a refused write, which
	// changed nothing. Writes that change data record theirs themselves,
	// in their own transaction, when the context carries an Actor.
	RecordAudit(ctx context.Context, e *AuditEntry) error
	// ListAuditLog returns one page of the merchant's audit log, newest
	// first, and whether more follow.
	ListAuditLog(ctx context.Context, merchantID string, f AuditFilter) ([]*AuditEntry, bool, error)
}

// SaleStore keeps sales with their customers, line items and
// transactions.
type SaleStore interface {
	// CreateSale stores a validated sale with its customer (found or made by
	// email), line items and transactions, assigning ids, transaction
	// numbers and timestamps, and appends sale.created. With idem set and
	// the key already used with the same hash, it fills s with the stored
	// sale and reports replayed. Returns EIDEMPOTENCY if the key was used
	// with another hash, ECONFLICT if the sale's reference or a payment's
	// reference is taken.
	CreateSale(ctx context.Context, s *Sale, idem *Idempotency) (replayed bool, err error)
	// FindSale returns the sale with its line items and transactions.
	// Returns ENOTFOUND if none matches for this merchant.
	FindSale(ctx context.Context, merchantID string, by SaleLookup) (*Sale, error)
	// ListSales returns one page, newest first, and whether more follow.
	ListSales(ctx context.Context, merchantID string, f SaleFilter) ([]*Sale, bool, error)
}

// RefundStore keeps refunds: it reserves them against their sale
// (invariant 2), settles them and schedules their recovery.
type RefundStore interface {
	// CreateRefunds reserves and records what DecideRefund decides for req
	// on the sale read under its lock, in one transaction: the refunds, the
	// amounts they hold, the events (refund.created, refund.succeeded for
	// those that start succeeded, sale.refunded when the sale becomes fully
	// refunded, referral.voided for referrals voided), notifications and
	// audit rows. Returns ENOTFOUND if the target is not the merchant's, and
	// DecideRefund's EREFUNDED, ETOOLARGE, EINVALID; EIDEMPOTENCY as
	// CreateSale.
	CreateRefunds(ctx context.Context, req RefundRequest) (*RefundResult, error)
	// SettleRefund moves a pending refund to its final status, releasing
	// its amount unless it succeeded, and appends the matching event.
	// Settling a refund already in that status returns it unchanged.
	// Returns ENOTFOUND, or ECONFLICT if it is final in another status.
	SettleRefund(ctx context.Context, merchantID, id string, s Settlement) (*Refund, error)
	// FindRefund returns ENOTFOUND if there is no such refund.
	FindRefund(ctx context.Context, merchantID, id string) (*Refund, error)
	// ListRefunds returns one page, newest first, and whether more follow.
	ListRefunds(ctx context.Context, merchantID string, f RefundFilter) ([]*Refund, bool, error)
	// PendingRefunds lists pending refunds of every merchant created before
	// the given time, oldest first: for reports such as the age of the
	// oldest pending refund. Recovery uses ClaimRefunds.
	PendingRefunds(ctx context.Context, createdBefore time.Time, limit int) ([]*Refund, error)
	// ClaimRefunds picks pending refunds for one recovery pass and, in the
	// same transaction, records the attempt about to be made at each (see
	// RecoveryClaim): a refund is due from its creation until it is first
	// asked, then at the time its last attempt set. It takes up to
	// c.Limit due refunds, earliest due first within a merchant, no more
	// than c.Share of them per merchant, over at most c.Limit merchants
	// (c.Merchants), and returns them in c.Plan's order. A refund claimed
	// is not due again before c.Now plus its backoff, so a pass walks past
	// the refunds asked before it and every pending refund is reached in
	// bounded time (invariant 6). Stores serving several processes skip
	// rows another claim holds, so two processes do not ask twice at once.
	// Each refund's Attempts counts the times recovery has asked about it,
	// the attempt this claim records included (1 at its first claim).
	ClaimRefunds(ctx context.Context, c RecoveryClaim) ([]*Refund, error)
	// DeferRefunds records that the merchant's refunds ids were just asked
	// about at now and are still pending: each is due again at now plus
	// its backoff, as after a claim. Refunds that are not pending (or not
	// the merchant's) are left as they are.
	DeferRefunds(ctx context.Context, merchantID string, ids []string, now time.Time) error
	// ExpiredApprovals lists refunds of every merchant that require
	// approval and whose ApprovalExpires is at or before now, earliest
	// first, up to limit: what the expiry sweep releases (by SettleRefund
	// with ByExpiry, which decides the race with an approval).
	ExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]*Refund, error)
	// RefundQueues returns, for each of QueueStatuses in order, how many
	// of the merchant's refunds are in it and the smallest Updated among
	// them (when the longest-waiting one entered it); merchantID "" counts
	// every merchant's, for /metrics.
	RefundQueues(ctx context.Context, merchantID string) ([]RefundQueue, error)
}

// ReferralStore keeps referrals and their origins.
type ReferralStore interface {
	// CreateReferral stores a validated referral, resolving r.OriginSlug:
	// an event slug's origin is created on first use; a purchase must be a
	// sale's reference (ENOTFOUND otherwise). Appends referral.created.
	// Idempotency as CreateSale.
	CreateReferral(ctx context.Context, r *Referral, idem *Idempotency) (replayed bool, err error)
	// FindOrigin returns ENOTFOUND if the merchant has no such origin.
	FindOrigin(ctx context.Context, merchantID, slug string) (*Origin, error)
	// ListReferrals returns an origin's referrals, newest first.
	// Returns ENOTFOUND if the merchant has no such origin.
	ListReferrals(ctx context.Context, merchantID string, originID int64) ([]*Referral, error)
	// VoidReferrals voids every referral of the origin that is not voided
	// yet, appends referral.voided for each, and returns those it voided.
	// Returns ENOTFOUND if the merchant has no such origin.
	VoidReferrals(ctx context.Context, merchantID string, originID int64, at time.Time) ([]*Referral, error)
}

// EventStore reads the events every state change appends.
type EventStore interface {
	// ListEvents returns one page, newest first, and whether more follow.
	ListEvents(ctx context.Context, merchantID string, f EventFilter) ([]*Event, bool, error)
}

// Pinger tells whether the database answers.
type Pinger interface {
	// Ping reports whether the database answers, cheaply: background
	// loops probe it while it is down so that they resume as soon as it
	// is back. Returns an error when it does not.
	Ping(ctx context.Context) error
}

// StatementCounter counts the SQL statements a store has executed since
// it was opened (each statement of a batch or pipeline counted once), for
// the statements per refund that `refundry bench` reports.
type StatementCounter interface {
	Statements() int64
}
