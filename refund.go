package refundry

import (
	"encoding/json"
	"strconv"
	"time"
)

// Refund statuses. Which status follows which, who may cause each step,
// and what each step does to the money held is the table Transitions
// (transition.go): nothing else decides it.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
	RefundCanceled  = "canceled"
	// RefundRequiresApproval holds its amount, but no gateway hears of
	// it until a second person approves it (see RefundPolicy).
	RefundRequiresApproval = "requires_approval"
	// RefundRequiresAction holds its amount while a person decides what
	// became of it: its gateway kept refusing it or left its outcome
	// unknown past the review limits (ReviewRule). Recovery leaves it
	// alone.
	RefundRequiresAction = "requires_action"
)

// Sources name the edge a refund came through.
const (
	SourceNative    = "native"
	SourceKeepUp    = "keepup"
	SourceTalkable  = "talkable"
	SourceRevCent   = "revcent"
	SourcePayop     = "payop"
	SourceJetti     = "jetti"
	SourceDashboard = "dashboard"
	SourceBulk      = "bulk"
)

// Refund moves money back for exactly one transaction, optionally charged
// against one line item too. A request that spans several transactions (a
// sale paid twice) makes one refund per transaction, all sharing the Group
// id of the first.
type Refund struct {
	ID            string `json:"id"`
	MerchantID    string `json:"-"`
	Group         string `json:"group"`
	SaleID        string `json:"sale"`
	TransactionID string `json:"transaction"`
	LineItemID    string `json:"line_item"`
	Amount        int64  `json:"amount"`
	Fee           int64  `json:"fee"`
	Currency      string `json:"currency"`
	Status        string `json:"status"`
	Reason        string `json:"reason"`
	// Description is free text about the refund; Reason is one of the
	// merchant's reason codes.
	Description string `json:"description"`
	// GatewayReason is what the gateway is told of why (the Stripe reason
	// Reason mapped to when the refund was made). It is kept so that a
	// retry, by recovery, sends the parameters of the first call, as the
	// gateway's idempotency key requires, even if the merchant has
	// remapped the code since.
	GatewayReason   string          `json:"-"`
	Metadata        json.RawMessage `json:"metadata"`
	Offsite         bool            `json:"offsite"`
	NotifyCustomer  bool            `json:"notify_customer"`
	Gateway         string          `json:"gateway"`
	GatewayRefundID string          `json:"gateway_refund_id"`
	FailureReason   string          `json:"failure_reason"`
	Source          string          `json:"source"`
	Name            string          `json:"name"`
	ExternalID      string          `json:"external_id"`
	CreatedSource   string          `json:"created_source"`
	// Lines is what the refund returns of each line item, in line order;
	// the amounts add up to Amount, but for a gateway's refund adopted
	// beyond what remained on the sale's lines (an over-refund), whose
	// excess lands on no line. A release (failure, cancel) reverses
	// exactly these.
	Lines []RefundLine `json:"lines"`
	// ReturnID names the return the refund pays for, if any.
	ReturnID string `json:"return"`
	// RequestedBy is who asked for the refund (Actor.Who): the one
	// identity that may not approve it.
	RequestedBy string `json:"requested_by"`
	// DecidedBy and DecisionNote are who last approved, rejected or
	// resolved the refund by hand, and why; "system" when its approval
	// expired.
	DecidedBy    string `json:"decided_by"`
	DecisionNote string `json:"decision_note"`
	// ReviewReason says why the refund was sent to manual review.
	ReviewReason string `json:"review_reason"`
	// ApprovalExpires is when a refund requiring approval is released if
	// nobody approves it; zero for the others.
	ApprovalExpires time.Time `json:"approval_expires_at,omitzero"`
	// Attempts is how many times recovery has asked the gateway about
	// the refund; stores fill it in where recovery claims refunds.
	Attempts int `json:"-"`
	// RefundedAt dates the refund: when it was asked for, or the date its
	// client gave (Talkable's refunded_at), and, once a refund asked for
	// without a date succeeds, when it did. It is a refund time only for
	// a succeeded refund: see RefundTime.
	RefundedAt time.Time `json:"refunded_at"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// RefundTime is when the refund's money went back, and whether it did:
// only a succeeded refund has a refund time. A pending, failed or
// canceled one has none to show, whatever date it carries.
func (r *Refund) RefundTime() (time.Time, bool) {
	if r.Status != RefundSucceeded {
		return time.Time{}, false
	}
	return r.RefundedAt, true
}

// Settle moves a pending refund to the final status st names, at now:
// the one rule both stores apply before they write it. A refund that
// succeeds is dated now, when its money went back, unless its client
// dated it (a RefundedAt other than its Created, which is where a
// request without a date leaves it).
func (r *Refund) Settle(st Settlement, now time.Time) {
	r.Status = st.Status
	if st.GatewayRefundID != "" {
		r.GatewayRefundID = st.GatewayRefundID
	}
	if st.FailureReason != "" {
		r.FailureReason = st.FailureReason
	}
	if r.Status == RefundSucceeded && r.RefundedAt.Equal(r.Created) {
		r.RefundedAt = now
	}
	switch {
	case st.Status == RefundRequiresAction:
		r.ReviewReason = st.Note
	case st.By&(ByApprover|ByExpiry) != 0:
		r.DecidedBy, r.DecisionNote = st.Actor, st.Note
	}
	if r.Status != RefundRequiresApproval {
		r.ApprovalExpires = time.Time{}
	}
	r.Updated = now
}

// Final reports whether the refund's status can no longer change: no
// transition of the table leaves it.
func (r *Refund) Final() bool { return FinalStatus(r.Status) }

// Refusal is EGATEWAY with the gateway's reason when the refund failed, and
// nil otherwise: the one way every edge tells a client its refund was
// declined.
func (r *Refund) Refusal() error {
	if r.Status != RefundFailed {
		return nil
	}
	reason := r.FailureReason
	if reason == "" {
		reason = "The payment gateway refused the refund."
	}
	return &Error{Code: EGATEWAY, Message: reason}
}

// RefundTarget names what a refund is for: exactly one of a sale, a line
// item or a transaction, by id.
type RefundTarget struct {
	SaleID        string
	LineItemID    string
	TransactionID string
}

// RefundRequest asks a store to reserve and record refunds. The store
// decides them with DecideRefund inside its transaction, so the check of
// what remains and the write of the refund are one atomic step
// (invariant 2).
type RefundRequest struct {
	MerchantID string
	Target     RefundTarget
	// Amount in minor units; nil asks for everything that remains.
	Amount *int64
	// ExactRemainder requires Amount, when given, to be exactly what
	// remains refundable on the target (Payop's refundType 1). It is
	// checked with the amount, under the store's lock, so a refund that
	// lands between a client's read and its request cannot make "all"
	// mean a part.
	ExactRemainder bool
	// Lines asks for units (or amounts) of line items of Target.SaleID;
	// Shipping for its shipping. Either or both replace a single target
	// amount.
	Lines    []LineRequest
	Shipping *ShippingRequest
	// Description is free text; Reason is a reason code.
	Description string
	// GatewayReason is what Reason maps to for the gateway; the engine
	// sets it from the merchant's reasons, never an edge.
	GatewayReason string
	// ReturnID names the return the refund pays for.
	ReturnID string
	// Fee is what the merchant keeps of the whole refund (see
	// DecideRefund).
	Fee            int64
	Reason         string
	Metadata       json.RawMessage
	Offsite        bool
	NotifyCustomer bool
	Source         string
	Name           string
	ExternalID     string
	CreatedSource  string
	RefundedAt     time.Time // zero: the time the refund is recorded (its Created)
	// VoidReferrals voids the referrals of the sale's purchase origin in the
	// same transaction as the refund (Talkable's origin refund).
	VoidReferrals bool
	Idempotency   *Idempotency
	// Policy is the merchant's refund policy, which the engine reads and
	// DecideRefund applies under the store's lock; nil: no rules. A store
	// fills in the sale's HeldRefunds when Policy.MaxRefundsPerSale is set.
	Policy *RefundPolicy
	// RequestedBy is who asks (Actor.Who of the request's actor); the
	// engine sets it, never an edge.
	RequestedBy string
}

// Validate checks the parts of a request that do not depend on stored state.
func (r *RefundRequest) Validate() error {
	n := 0
	for _, id := range []string{r.Target.SaleID, r.Target.LineItemID, r.Target.TransactionID} {
		if id != "" {
			n++
		}
	}
	if n != 1 {
		return ParamErrorf(EINVALID, "sale", "Name exactly one of sale, line_item or transaction.")
	}
	if r.Amount != nil && *r.Amount <= 0 {
		return ParamErrorf(EINVALID, "amount", "Amount must be a positive whole number of minor units.")
	}
	if r.Amount != nil && *r.Amount > maxAmount {
		return ParamErrorf(ETOOLARGE, "amount", "Amount is larger than any sale.")
	}
	if r.Fee < 0 || (r.Amount != nil && r.Fee > *r.Amount) {
		return ParamErrorf(EINVALID, "fee", "Fee must be between 0 and the refund's amount.")
	}
	if err := r.validateLines(); err != nil {
		return err
	}
	if err := checkTexts(500, "reason", r.Reason, "name", r.Name, "external_id", r.ExternalID, "created_source", r.CreatedSource); err != nil {
		return err
	}
	if err := checkTexts(MaxDescription, "description", r.Description); err != nil {
		return err
	}
	if !r.RefundedAt.IsZero() && (r.RefundedAt.Year() < 1970 || r.RefundedAt.Year() > 9999) {
		return ParamErrorf(EINVALID, "refunded_at", "The refund's time must fall between the years 1970 and 9999.")
	}
	if len(r.Metadata) > MaxMetadata {
		return ParamErrorf(EINVALID, "metadata", "Metadata must be under %d bytes once serialized.", MaxMetadata)
	}
	if len(r.Metadata) > 0 && (!json.Valid(r.Metadata) || checkTexts(MaxMetadata, "metadata", string(r.Metadata)) != nil) {
		return ParamErrorf(EINVALID, "metadata", "Metadata must be valid JSON in UTF-8.")
	}
	return nil
}

// validateLines checks a request's Lines and Shipping as far as they can
// be without the sale: DecideRefund checks them against it.
func (r *RefundRequest) validateLines() error {
	if len(r.Lines) == 0 && r.Shipping == nil {
		return nil
	}
	if r.Target.SaleID == "" {
		param := "lines"
		if len(r.Lines) == 0 {
			param = "shipping"
		}
		return ParamErrorf(EINVALID, param, "Lines and shipping are refunded of a sale: name the sale, not a line item or a transaction.")
	}
	if r.Amount != nil || r.ExactRemainder {
		return ParamErrorf(EINVALID, "amount", "Name either an amount or lines and shipping, not both.")
	}
	if len(r.Lines) > 1000 {
		return ParamErrorf(EINVALID, "lines", "A refund names at most 1000 lines.")
	}
	for i, l := range r.Lines {
		p := "lines[" + strconv.Itoa(i) + "]."
		if l.LineItemID == "" {
			return ParamErrorf(EINVALID, p+"line_item", "Name the line item.")
		}
		if l.Quantity < 0 || l.Quantity > 1_000_000 || (l.Quantity == 0 && l.Amount == nil) {
			return ParamErrorf(EINVALID, p+"quantity", "Quantity must be a whole number of units, at least 1.")
		}
		if l.Amount != nil && (*l.Amount < 0 || *l.Amount > maxAmount || (*l.Amount == 0 && l.Quantity == 0)) {
			return ParamErrorf(EINVALID, p+"amount", "Amount must be a positive whole number of minor units.")
		}
	}
	if sh := r.Shipping; sh != nil && !sh.All && (sh.Amount <= 0 || sh.Amount > maxAmount) {
		return ParamErrorf(EINVALID, "shipping", "Shipping is true or a positive whole number of minor units.")
	}
	return nil
}

// MaxMetadata bounds a refund's serialized metadata (Payop allows 800 KB).
const MaxMetadata = 819200

// Allocation is one refund that a request will create: how much goes back
// through which transaction, and the status it starts in.
type Allocation struct {
	TransactionID string
	LineItemID    string
	Gateway       string
	Amount        int64
	Status        string
}

// PlanRefund decides how a refund of target is spread over sale's
// transactions, given the amounts already refunded. Stores call it inside
// the database transaction that holds the sale's rows, then write exactly
// the allocations it returns: this is the one place the over-refund rule of
// invariant 2 is decided.
//
// What remains on a sale is what remains on its transactions; what remains
// on a line item is its own remainder, capped by what remains on the sale.
// A sale or line-item refund takes from the transactions in order.
//
// Returns ENOTFOUND if the target is not part of sale, EREFUNDED if
// nothing remains (with or without an amount), ETOOLARGE if an amount
// exceeds what remains.
func PlanRefund(sale *Sale, target RefundTarget, amount *int64, offsite bool) ([]Allocation, error) {
	return planRefund(sale, target, amount, offsite, false)
}

// planRefund is PlanRefund; exact refuses an amount that is not all that
// remains (RefundRequest.ExactRemainder) with EINVALID.
func planRefund(sale *Sale, target RefundTarget, amount *int64, offsite, exact bool) ([]Allocation, error) {
	cur, err := LookupCurrency(sale.Currency)
	if err != nil {
		return nil, err
	}
	txns := sale.Transactions
	var li *LineItem
	var remaining int64
	switch {
	case target.TransactionID != "":
		txns = nil
		for _, t := range sale.Transactions {
			if t.ID == target.TransactionID {
				txns = []*Transaction{t}
			}
		}
		if txns == nil {
			return nil, Errorf(ENOTFOUND, "No such transaction: %s", target.TransactionID)
		}
		if err := refuseDisputed(txns[0], "transaction"); err != nil {
			return nil, err
		}
		remaining = sale.TransactionRefundable(txns[0])
	case target.LineItemID != "":
		for _, l := range sale.LineItems {
			if l.ID == target.LineItemID {
				li = l
			}
		}
		if li == nil {
			return nil, Errorf(ENOTFOUND, "No such line item: %s", target.LineItemID)
		}
		remaining = sale.LineRefundable(li)
	default:
		if target.SaleID != sale.ID {
			return nil, Errorf(ENOTFOUND, "No such sale: %s", target.SaleID)
		}
		remaining = sale.Refundable()
	}
	// Nothing left is already_refunded whether or not an amount was
	// named: "amount too large (0.00 remain)" would send a person looking
	// for a smaller amount that does not exist.
	if remaining <= 0 {
		return nil, ParamErrorf(EREFUNDED, "amount", "Nothing remains to refund: it has already been refunded in full.")
	}
	want := remaining
	if amount != nil {
		want = *amount
	}
	if want <= 0 {
		return nil, ParamErrorf(EINVALID, "amount", "Amount must be above zero.")
	}
	if want > remaining {
		return nil, ParamErrorf(ETOOLARGE, "amount", "Refund amount (%s %s) is greater than the amount that remains refundable (%s %s).",
			FormatMajor(want, cur), cur.Code, FormatMajor(remaining, cur), cur.Code)
	}
	if exact && want != remaining {
		return nil, ParamErrorf(EINVALID, "amount", "Amount must equal the %s's remaining amount (%s %s), or be left out.",
			targetNoun(target), FormatMajor(remaining, cur), cur.Code)
	}
	return takeFromTransactions(txns, want, li, offsite, target)
}

// takeFromTransactions takes want from txns in order, each giving what
// remains on it, as the refunds to make.
func takeFromTransactions(txns []*Transaction, want int64, li *LineItem, offsite bool, target RefundTarget) ([]Allocation, error) {
	var out []Allocation
	for _, t := range txns {
		if want == 0 {
			break
		}
		take := min(t.Refundable(), want)
		if take <= 0 {
			continue
		}
		// A sale or line-item refund is refused, not steered around a
		// disputed payment: taking the same amount from the sale's other
		// payments instead would surprise the person who asked, and the
		// dispute's outcome decides what remains.
		if err := refuseDisputed(t, targetParam(target)); err != nil {
			return nil, err
		}
		a := Allocation{TransactionID: t.ID, Gateway: t.Gateway, Amount: take}
		if li != nil {
			a.LineItemID = li.ID
		}
		if offsite || t.Gateway == GatewayOffsite {
			a.Gateway = GatewayOffsite
		}
		a.Status = InitialStatus(a.Gateway == GatewayOffsite, false)
		out = append(out, a)
		want -= take
	}
	return out, nil
}

// refuseDisputed is ECHARGEDISPUTED for a transaction under an open
// dispute: refunding it as well would pay the customer twice.
func refuseDisputed(t *Transaction, param string) error {
	if !DisputeOpen(t.DisputeStatus) {
		return nil
	}
	return ParamErrorf(ECHARGEDISPUTED, param,
		"Transaction %s is disputed (%s): the card network may return the payment to the customer, so it cannot be refunded until the dispute is closed.",
		t.ID, t.DisputeStatus)
}

func targetParam(t RefundTarget) string {
	switch {
	case t.TransactionID != "":
		return "transaction"
	case t.LineItemID != "":
		return "line_item"
	default:
		return "sale"
	}
}

func targetNoun(t RefundTarget) string {
	switch {
	case t.TransactionID != "":
		return "transaction"
	case t.LineItemID != "":
		return "line item"
	default:
		return "sale"
	}
}

// Settlement is a word on a refund that moves its status: usually its
// gateway's final answer; also a person's approval, rejection or
// resolution, an approval's expiry, or recovery sending it to review.
type Settlement struct {
	Status          string // the status the refund moves to
	GatewayRefundID string
	FailureReason   string
	// By is who causes it, checked against the table Transitions; zero
	// means ByGateway.
	By Cause
	// Actor is who decided it by hand (Actor.Who), for ByApprover and
	// ByExpiry; DecideSettlement refuses an approval by the refund's own
	// requester.
	Actor string
	// Note is why: a person's reason for a decision, or why recovery
	// sent the refund to review.
	Note string
	// From, if set, is the status the step was decided from: a refund
	// that has left it meanwhile is not moved (ECONFLICT). A withdrawal
	// of a refund awaiting approval sets it, so that it never cancels a
	// refund an approval sent to its gateway in between.
	From string
	// Creating marks the gateway's answer to the call made by the request
	// that created the refund, recorded within that request (By
	// ByGateway). A final answer so marked writes no audit row of its
	// own (SettleAudit): the request's row is the refund.create written
	// with the reservation.
	Creating bool
}

// cause is who causes st: By, or ByGateway when By is zero.
func (st Settlement) cause() Cause {
	if st.By == 0 {
		return ByGateway
	}
	return st.By
}
