package refundry

import (
	"context"
	"encoding/json"
	"time"
)

// Gateway truth: what a gateway says happened after Refundry's call
// (a refund that failed late, a refund made in its own dashboard, a
// dispute), heard from its inbound events or found by reconciliation.

// SourceGateway is the source of a refund Refundry did not create: made at
// the gateway (its dashboard, its API) and adopted from its report.
const SourceGateway = "gateway"

// ECHARGEDISPUTED refuses a refund of a transaction under an open dispute:
// refunding it as well would pay the customer twice.
const ECHARGEDISPUTED = "charge_disputed"

// Events of gateway truth.
const (
	// EventSaleOverRefunded: a refund made at the gateway, adopted, put the
	// sale's refunds above what was paid. The money is gone already; the
	// ledger shows it and flags the sale.
	EventSaleOverRefunded = "sale.over_refunded"
	EventDisputeCreated   = "dispute.created"
	EventDisputeUpdated   = "dispute.updated"
	EventDisputeClosed    = "dispute.closed"
)

// Dispute statuses, as Stripe names them.
const (
	DisputeWarningNeedsResponse = "warning_needs_response"
	DisputeWarningUnderReview   = "warning_under_review"
	DisputeWarningClosed        = "warning_closed"
	DisputeNeedsResponse        = "needs_response"
	DisputeUnderReview          = "under_review"
	DisputeWon                  = "won"
	DisputeLost                 = "lost"
	DisputePrevented            = "prevented"
)

// Dispute is a chargeback (or an inquiry) on one transaction.
type Dispute struct {
	ID               string    `json:"id"`
	MerchantID       string    `json:"-"`
	SaleID           string    `json:"sale"`
	TransactionID    string    `json:"transaction"`
	Gateway          string    `json:"gateway"`
	GatewayDisputeID string    `json:"gateway_dispute_id"`
	Amount           int64     `json:"amount"`
	Currency         string    `json:"currency"`
	Status           string    `json:"status"`
	Reason           string    `json:"reason"`
	FundsWithdrawn   bool      `json:"funds_withdrawn"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

// DisputeFilter narrows ListDisputes.
type DisputeFilter struct {
	Page
	TransactionID string
	SaleID        string
	Status        string
}

// RefundReport is a gateway's word about one refund of one of its
// payments, heard after the call: from an inbound event, or from listing
// the payment's refunds during reconciliation.
type RefundReport struct {
	// Gateway is the name of the gateway reporting (stripe, simulator).
	Gateway string
	// ChargeIDs are the ids the gateway knows the payment by (Stripe: the
	// charge ch_... and its PaymentIntent pi_...): a transaction of that
	// gateway whose GatewayChargeID or Reference is one of them is the
	// one refunded.
	ChargeIDs []string
	// GatewayRefundID is the gateway's id of the refund.
	GatewayRefundID string
	// RefundID is Refundry's id of the refund, when the gateway carries it
	// (Stripe's metadata refundry_refund_id); "" for a refund made
	// elsewhere.
	RefundID string
	Amount   int64
	Currency string
	// Status is the refund's status in Refundry's words: pending,
	// succeeded, failed or canceled.
	Status        string
	FailureReason string
	Created       time.Time
}

// DisputeReport is a gateway's word about one dispute, or a dispute
// recorded by hand (POST /v1/disputes: MerchantID and TransactionID set,
// no ChargeIDs).
type DisputeReport struct {
	// DisputeID names a dispute Refundry recorded (by hand) to update it.
	DisputeID        string
	Gateway          string
	ChargeIDs        []string
	MerchantID       string
	TransactionID    string
	GatewayDisputeID string
	Amount           int64
	Currency         string
	Status           string
	Reason           string
	// FundsWithdrawn is set by charge.dispute.funds_withdrawn and cleared
	// by charge.dispute.funds_reinstated; nil leaves it as it is.
	FundsWithdrawn *bool
	Created        time.Time
}

// GatewayReport is one report: exactly one of Refund and Dispute is set.
type GatewayReport struct {
	Refund  *RefundReport
	Dispute *DisputeReport
}

// Outcomes of applying a report: what it did to the ledger.
const (
	// OutcomeMatched: the ledger already said so; nothing changed.
	OutcomeMatched = "matched"
	// OutcomeSettled: a pending refund settled.
	OutcomeSettled = "settled"
	// OutcomeCorrected: a refund recorded succeeded failed late.
	OutcomeCorrected = "corrected"
	// OutcomeAdopted: a refund made at the gateway was recorded.
	OutcomeAdopted = "adopted"
	// OutcomeDispute: a dispute was recorded or changed.
	OutcomeDispute = "dispute"
	// OutcomeUnknownCharge: no merchant has the payment.
	OutcomeUnknownCharge = "unknown_charge"
	// OutcomeRefused: the state machine refuses the change (a refund
	// moving backwards, succeeded to pending): logged, counted, never
	// applied.
	OutcomeRefused = "refused"
	// OutcomeIgnored: an event type Refundry does not act on.
	OutcomeIgnored = "ignored"
)

// ReportResult is what applying a report did.
type ReportResult struct {
	Outcome    string
	MerchantID string
	Refund     *Refund
	Dispute    *Dispute
	Sale       *Sale
	// Detail says why, for a refused or unknown report.
	Detail string
}

// GatewayEvent is one event a gateway sent, kept in the inbox: stored
// before it is acknowledged, applied after, so a crash between the two
// loses nothing.
type GatewayEvent struct {
	ID       string          `json:"id"`
	Gateway  string          `json:"gateway"`
	EventID  string          `json:"event_id"` // the gateway's id, unique per gateway
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"-"`
	Received time.Time       `json:"received"`
	// Applied is zero until a worker has applied the event.
	Applied    time.Time `json:"applied"`
	Outcome    string    `json:"outcome"`
	Detail     string    `json:"detail"`
	MerchantID string    `json:"-"`
	Attempts   int       `json:"attempts"`
}

// ChargeActivity names a payment reconciliation looks at: one with a
// refund, a dispute or the payment itself since a time.
type ChargeActivity struct {
	MerchantID      string
	SaleID          string
	TransactionID   string
	Gateway         string
	GatewayChargeID string
	// Reference is the payment's reference: the simulator, which keeps no
	// charge id, knows a payment by it.
	Reference string
	Currency  string
}

// Mismatch kinds a reconciliation run cannot resolve by itself.
const (
	// MismatchMissingAtGateway: the ledger has a refund with a gateway id
	// that the gateway does not list for the payment.
	MismatchMissingAtGateway = "missing_at_gateway"
	// MismatchAmount: both have the refund, with different amounts.
	MismatchAmount = "amount_differs"
	// MismatchStatus: both have it, and the gateway's status cannot be
	// applied (the state machine refuses it).
	MismatchStatus = "status_differs"
	// MismatchUnreachable: the gateway could not be asked about the payment.
	MismatchUnreachable = "gateway_unreachable"
)

// Mismatch is one difference between the ledger and the gateway.
type Mismatch struct {
	Kind            string `json:"kind"`
	SaleID          string `json:"sale"`
	TransactionID   string `json:"transaction"`
	RefundID        string `json:"refund"`
	GatewayRefundID string `json:"gateway_refund_id"`
	Detail          string `json:"detail"`
}

// ReconciliationRun is one comparison of a merchant's ledger with its
// gateways.
type ReconciliationRun struct {
	ID         string     `json:"id"`
	MerchantID string     `json:"-"`
	Trigger    string     `json:"trigger"` // sweep or command
	Since      time.Time  `json:"since"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	Charges    int        `json:"charges"`
	Matched    int        `json:"matched"`
	Adopted    int        `json:"adopted"`
	Corrected  int        `json:"corrected"`
	Mismatched int        `json:"mismatched"`
	Mismatches []Mismatch `json:"mismatches"`
}

// RefundLister is a gateway that can list the refunds it holds for a
// payment, for reconciliation.
type RefundLister interface {
	// ListRefunds returns every refund of the payment chargeID, as reports.
	ListRefunds(ctx context.Context, chargeID string) ([]RefundReport, error)
}

// InboxStore keeps the gateways' inbound events.
type InboxStore interface {
	// ReceiveGatewayEvent stores ev unless an event with its gateway and
	// EventID is stored already: then duplicate is true and nothing
	// changes. It returns only once ev is durable.
	ReceiveGatewayEvent(ctx context.Context, ev *GatewayEvent) (duplicate bool, err error)
	// ClaimGatewayEvents returns up to limit events not yet applied whose
	// lease ran out, oldest first, and leases them until now plus lease so
	// that another worker skips them.
	ClaimGatewayEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*GatewayEvent, error)
	// FinishGatewayEvent records that the event was applied, with its
	// outcome.
	FinishGatewayEvent(ctx context.Context, ev *GatewayEvent) error
	// CountGatewayEvents counts the stored events by outcome; "" counts
	// those not applied yet.
	CountGatewayEvents(ctx context.Context) (map[string]int64, error)
}

// ReportStore applies gateway reports to the ledger.
type ReportStore interface {
	// ApplyRefundReport finds the transaction the report's payment is,
	// locks its sale, finds the refund (by GatewayRefundID, else RefundID)
	// and writes what DecideRefundReport decides, in one transaction.
	// A report for a payment no merchant has is OutcomeUnknownCharge, not
	// an error.
	ApplyRefundReport(ctx context.Context, rep RefundReport) (*ReportResult, error)
	// ApplyDisputeReport records or updates the dispute (by gateway and
	// GatewayDisputeID) as DecideDisputeReport decides, in one
	// transaction.
	ApplyDisputeReport(ctx context.Context, rep DisputeReport) (*ReportResult, error)
	// FindDispute returns ENOTFOUND if the merchant has no such dispute.
	FindDispute(ctx context.Context, merchantID, id string) (*Dispute, error)
	// ListDisputes returns one page, newest first, and whether more follow.
	ListDisputes(ctx context.Context, merchantID string, f DisputeFilter) ([]*Dispute, bool, error)
	// CountOverRefundedSales counts sales whose refunds exceed what was
	// paid, for /metrics.
	CountOverRefundedSales(ctx context.Context) (int64, error)
}

// ReconciliationStore keeps reconciliation runs and finds what to
// reconcile.
type ReconciliationStore interface {
	// RecentCharges lists the payments through gateway with activity (the
	// sale, a refund or a dispute created or updated) at or after since,
	// of one merchant or of all ("" merchantID), ordered by transaction
	// id, after the id afterTransaction, at most limit.
	RecentCharges(ctx context.Context, merchantID, gateway string, since time.Time, afterTransaction string, limit int) ([]ChargeActivity, error)
	// SaveReconciliationRun stores a finished run.
	SaveReconciliationRun(ctx context.Context, run *ReconciliationRun) error
	// FindReconciliationRun returns ENOTFOUND if the merchant has no such run.
	FindReconciliationRun(ctx context.Context, merchantID, id string) (*ReconciliationRun, error)
	// ListReconciliationRuns returns one page, newest first, and whether
	// more follow.
	ListReconciliationRuns(ctx context.Context, merchantID string, p Page) ([]*ReconciliationRun, bool, error)
}
