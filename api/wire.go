package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// The native wire shapes. Times are unix seconds, amounts integer minor
// units, absent references null.

type saleJSON struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Reference      *string           `json:"reference"`
	Currency       string            `json:"currency"`
	Amount         int64             `json:"amount"`
	RefundedAmount int64             `json:"refunded_amount"`
	Refundable     int64             `json:"refundable_amount"`
	Status         string            `json:"status"`
	Customer       customerJSON      `json:"customer"`
	Campaign       *campaignJSON     `json:"campaign"`
	LineItems      []lineItemJSON    `json:"line_items"`
	Transactions   []transactionJSON `json:"transactions"`
	// OverRefunded: refunds made at the gateway and adopted put the sale's
	// refunds above what was paid. The money is gone already; the flag
	// says so rather than hiding it.
	OverRefunded bool  `json:"over_refunded"`
	Created      int64 `json:"created"`
}

type customerJSON struct {
	ID        string  `json:"id"`
	Email     *string `json:"email"`
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
}

type campaignJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// lineItemJSON is a line with what was refunded of it by every refund
// of the sale, allocated to the lines (docs/architecture.md), and what
// remains: a sale-level refund lowers the lines' remains too.
type lineItemJSON struct {
	ID               string `json:"id"`
	Object           string `json:"object"`
	Name             string `json:"name"`
	Kind             string `json:"kind"`
	Quantity         int64  `json:"quantity"`
	UnitAmount       int64  `json:"unit_amount"`
	TaxAmount        int64  `json:"tax_amount"`
	Amount           int64  `json:"amount"`
	RefundedAmount   int64  `json:"refunded_amount"`
	RefundedQuantity int64  `json:"refunded_quantity"`
	Refundable       int64  `json:"refundable_amount"`
	// GatewayLineID is the provider's id of the line (RevCent's
	// product_sale_id), null when the payment's provider has none.
	GatewayLineID *string `json:"gateway_line_id"`
}

type transactionJSON struct {
	ID        string  `json:"id"`
	Object    string  `json:"object"`
	Number    int64   `json:"number"`
	Reference *string `json:"reference"`
	Gateway   string  `json:"gateway"`
	// GatewayAccount is the merchant's gateway account the payment was
	// taken through, whose credentials its refunds are sent with; null
	// for the server's own gateway (the simulator, --stripe-key) or an
	// offsite payment.
	GatewayAccount *string `json:"gateway_account"`
	GatewayCharge  *string `json:"gateway_charge_id"`
	Amount         int64   `json:"amount"`
	RefundedAmount int64   `json:"refunded_amount"`
	Status         string  `json:"status"`
	ProcessingFee  int64   `json:"processing_fee"`
	BaseAmount     *int64  `json:"base_amount"`
	BaseCurrency   *string `json:"base_currency"`
	// DisputeStatus is the status of the transaction's latest dispute,
	// null when it has none; DisputedAmount what lost disputes returned
	// to the customer, which is no longer refundable.
	DisputeStatus  *string `json:"dispute_status"`
	DisputedAmount int64   `json:"disputed_amount"`
}

// lineKind is a line's kind; a line stored before lines had kinds (an
// event's old snapshot) was a product.
func lineKind(li *refundry.LineItem) string {
	if li.Kind == "" {
		return refundry.LineProduct
	}
	return li.Kind
}

func renderSale(s *refundry.Sale) saleJSON {
	out := saleJSON{
		ID: s.ID, Object: "sale", Reference: nullable(s.Reference), Currency: s.Currency,
		Amount: s.Amount, RefundedAmount: s.RefundedAmount, Status: s.Status,
		Customer: customerJSON{ID: s.Customer.ID, Email: nullable(s.Customer.Email),
			FirstName: nullable(s.Customer.FirstName), LastName: nullable(s.Customer.LastName)},
		LineItems: []lineItemJSON{}, Transactions: []transactionJSON{}, Created: unix(s.Created),
	}
	if s.CampaignID != "" || s.CampaignName != "" {
		out.Campaign = &campaignJSON{ID: s.CampaignID, Name: s.CampaignName}
	}
	for _, li := range s.LineItems {
		out.LineItems = append(out.LineItems, lineItemJSON{ID: li.ID, Object: "line_item", Name: li.Name,
			Kind: lineKind(li), Quantity: li.Quantity, UnitAmount: li.UnitAmount, TaxAmount: li.TaxAmount,
			Amount: li.Amount, RefundedAmount: li.RefundedAmount, RefundedQuantity: li.RefundedQuantity,
			Refundable: s.LineRefundable(li), GatewayLineID: nullable(li.GatewayLineID)})
	}
	for _, t := range s.Transactions {
		tj := transactionJSON{ID: t.ID, Object: "transaction", Number: t.Number, Reference: nullable(t.Reference),
			Gateway: t.Gateway, GatewayAccount: nullable(t.GatewayAccount), GatewayCharge: nullable(t.GatewayChargeID), Amount: t.Amount, RefundedAmount: t.RefundedAmount, Status: t.Status,
			ProcessingFee: t.ProcessingFee, BaseCurrency: nullable(t.BaseCurrency),
			DisputeStatus: nullable(t.DisputeStatus), DisputedAmount: t.DisputedAmount}
		if t.BaseCurrency != "" {
			tj.BaseAmount = &t.BaseAmount
		}
		out.Transactions = append(out.Transactions, tj)
	}
	out.Refundable = s.Refundable()
	out.OverRefunded = s.OverRefunded()
	return out
}

type refundJSON struct {
	ID              string          `json:"id"`
	Object          string          `json:"object"`
	Amount          int64           `json:"amount"`
	Fee             int64           `json:"fee"`
	Currency        string          `json:"currency"`
	Status          string          `json:"status"`
	Sale            string          `json:"sale"`
	Transaction     string          `json:"transaction"`
	LineItem        *string         `json:"line_item"`
	Group           string          `json:"group"`
	Related         []string        `json:"related,omitempty"`
	Reason          *string         `json:"reason"`
	Description     *string         `json:"description"`
	Metadata        json.RawMessage `json:"metadata"`
	Offsite         bool            `json:"offsite"`
	NotifyCustomer  bool            `json:"notify_customer"`
	Gateway         string          `json:"gateway"`
	GatewayRefundID *string         `json:"gateway_refund_id"`
	FailureReason   *string         `json:"failure_reason"`
	Source          string          `json:"source"`
	RefundedAt      *int64          `json:"refunded_at"`
	// Lines is what the refund returns of each line of the sale, adding
	// up to its amount, whichever way it was asked for.
	Lines []refundLineJSON `json:"lines"`
	// Return is the return the refund pays for; its fee is then the
	// return's restocking fee.
	Return *string `json:"return"`
	// Refund controls: who asked for the refund and who last decided it
	// by hand (an API key "key:ID", a dashboard user "user:ID", "cli",
	// or "system" for an expiry), why, why it went to manual review, and
	// until when a refund requiring approval waits.
	RequestedBy       *string `json:"requested_by"`
	DecidedBy         *string `json:"decided_by"`
	DecisionNote      *string `json:"decision_note"`
	ReviewReason      *string `json:"review_reason"`
	ApprovalExpiresAt *int64  `json:"approval_expires_at"`
	Created           int64   `json:"created"`
}

type refundLineJSON struct {
	LineItem string `json:"line_item"`
	Quantity int64  `json:"quantity"`
	Amount   int64  `json:"amount"`
}

func renderRefund(r *refundry.Refund) refundJSON {
	md := r.Metadata
	// An event's snapshot of a refund without metadata holds null; the
	// refund is shown alike wherever it appears, always with an object.
	if len(md) == 0 || string(md) == "null" {
		md = emptyObject
	}
	// The optional fields point into r rather than at copies: one
	// allocation fewer for each, on every refund answered.
	return refundJSON{
		ID: r.ID, Object: "refund", Amount: r.Amount, Fee: r.Fee, Currency: r.Currency, Status: r.Status,
		Sale: r.SaleID, Transaction: r.TransactionID, LineItem: nullableAt(&r.LineItemID), Group: r.Group,
		Reason: nullableAt(&r.Reason), Description: nullableAt(&r.Description), Metadata: md, Offsite: r.Offsite, NotifyCustomer: r.NotifyCustomer,
		Gateway: r.Gateway, GatewayRefundID: nullableAt(&r.GatewayRefundID), FailureReason: nullableAt(&r.FailureReason),
		Source: r.Source, RefundedAt: refundTime(r), Lines: renderRefundLines(r.Lines), Return: nullableAt(&r.ReturnID),
		RequestedBy: nullableAt(&r.RequestedBy), DecidedBy: nullableAt(&r.DecidedBy), DecisionNote: nullableAt(&r.DecisionNote),
		ReviewReason: nullableAt(&r.ReviewReason), ApprovalExpiresAt: optUnix(r.ApprovalExpires),
		Created: unix(r.Created),
	}
}

// emptyObject is the metadata of a refund that has none; only ever read.
var emptyObject = json.RawMessage("{}")

// nullableAt is nullable for a field that outlives the answer: nil for
// "", else p itself.
func nullableAt(p *string) *string {
	if *p == "" {
		return nil
	}
	return p
}

func renderRefundLines(lines []refundry.RefundLine) []refundLineJSON {
	out := make([]refundLineJSON, 0, len(lines))
	for _, l := range lines {
		out = append(out, refundLineJSON{LineItem: l.LineItemID, Quantity: l.Quantity, Amount: l.Amount})
	}
	return out
}

// refundTime is refunded_at: null until the refund succeeded, since only
// money that went back has a refund time.
func refundTime(r *refundry.Refund) *int64 {
	at, ok := r.RefundTime()
	if !ok {
		return nil
	}
	n := unix(at)
	return &n
}

type disputeJSON struct {
	ID               string  `json:"id"`
	Object           string  `json:"object"`
	Amount           int64   `json:"amount"`
	Currency         string  `json:"currency"`
	Status           string  `json:"status"`
	Reason           *string `json:"reason"`
	Sale             string  `json:"sale"`
	Transaction      string  `json:"transaction"`
	Gateway          string  `json:"gateway"`
	GatewayDisputeID *string `json:"gateway_dispute_id"`
	FundsWithdrawn   bool    `json:"funds_withdrawn"`
	Created          int64   `json:"created"`
	Updated          int64   `json:"updated"`
}

func renderDispute(d *refundry.Dispute) disputeJSON {
	return disputeJSON{
		ID: d.ID, Object: "dispute", Amount: d.Amount, Currency: d.Currency, Status: d.Status,
		Reason: nullable(d.Reason), Sale: d.SaleID, Transaction: d.TransactionID, Gateway: d.Gateway,
		GatewayDisputeID: nullable(d.GatewayDisputeID), FundsWithdrawn: d.FundsWithdrawn,
		Created: unix(d.Created), Updated: unix(d.Updated),
	}
}

type personJSON struct {
	ID        int64   `json:"id"`
	Email     string  `json:"email"`
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
}

type referralJSON struct {
	ID          int64      `json:"id"`
	Object      string     `json:"object"`
	Origin      string     `json:"origin"`
	OriginID    int64      `json:"origin_id"`
	CampaignID  int64      `json:"campaign_id"`
	OfferID     int64      `json:"offer_id"`
	Advocate    personJSON `json:"advocate"`
	Friend      personJSON `json:"friend"`
	TrackMethod *string    `json:"track_method"`
	Status      string     `json:"status"`
	AdRewarded  bool       `json:"ad_rewarded"`
	QAGenerated bool       `json:"qa_generated"`
	Subtotal    int64      `json:"subtotal"`
	Currency    string     `json:"currency"`
	Created     int64      `json:"created"`
	Updated     int64      `json:"updated"`
}

func renderPerson(p refundry.Person) personJSON {
	return personJSON{ID: p.ID, Email: p.Email, FirstName: nullable(p.FirstName), LastName: nullable(p.LastName)}
}

func renderReferral(r *refundry.Referral) referralJSON {
	return referralJSON{
		ID: r.ID, Object: "referral", Origin: r.OriginSlug, OriginID: r.OriginID, CampaignID: r.CampaignID,
		OfferID: r.OfferID, Advocate: renderPerson(r.Advocate), Friend: renderPerson(r.Friend),
		TrackMethod: nullable(r.TrackMethod), Status: r.Status, AdRewarded: r.AdRewarded, QAGenerated: r.QAGenerated,
		Subtotal: r.Subtotal, Currency: r.Currency, Created: unix(r.Created), Updated: unix(r.Updated),
	}
}

type eventJSON struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Type    string        `json:"type"`
	Data    eventDataJSON `json:"data"`
	Created int64         `json:"created"`
}

type eventDataJSON struct {
	Object any `json:"object"`
}

// renderEvent shows an event's snapshot in the same shape the API gives
// the object itself, so a consumer parses one shape, not two.
func renderEvent(e *refundry.Event) eventJSON {
	var obj any = e.Data
	switch e.ObjectType {
	case "refund":
		var r refundry.Refund
		if json.Unmarshal(e.Data, &r) == nil {
			obj = renderRefund(&r)
		}
	case "sale":
		var s refundry.Sale
		if json.Unmarshal(e.Data, &s) == nil {
			obj = renderSale(&s)
		}
	case "referral":
		var r refundry.Referral
		if json.Unmarshal(e.Data, &r) == nil {
			obj = renderReferral(&r)
		}
	}
	return eventJSON{ID: e.ID, Object: "event", Type: e.Type, Data: eventDataJSON{obj}, Created: unix(e.Created)}
}

type listJSON struct {
	Object  string `json:"object"`
	Data    any    `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

// writeList answers one page of a list: items rendered in order, and
// whether more follow.
func writeList[T, J any](w http.ResponseWriter, items []T, render func(T) J, more bool, url string) {
	data := make([]J, 0, len(items))
	for _, it := range items {
		data = append(data, render(it))
	}
	edge.WriteJSON(w, http.StatusOK, listJSON{"list", data, more, url})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
