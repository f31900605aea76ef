package refundry

import (
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Payment states of a sale and of a transaction, derived from what was paid
// and what is refunded (pending or succeeded).
const (
	PaymentPaid              = "paid"
	PaymentPartiallyRefunded = "partially_refunded"
	PaymentRefunded          = "refunded"
)

// PaymentState derives a sale's or transaction's status from its amounts.
func PaymentState(amount, refunded int64) string {
	switch {
	case refunded <= 0:
		return PaymentPaid
	case refunded >= amount:
		return PaymentRefunded
	default:
		return PaymentPartiallyRefunded
	}
}

// Gateways a transaction can be paid through.
const (
	GatewaySimulator = "simulator"
	GatewayStripe    = "stripe"
	GatewayOffsite   = "offsite"
	GatewayPayop     = KindPayop
	GatewayRevCent   = KindRevCent
	GatewayJetti     = KindJetti
	GatewayKeepUp    = KindKeepUp
)

// PaymentGateways lists the gateways a payment may name.
var PaymentGateways = []string{GatewaySimulator, GatewayStripe, GatewayOffsite, GatewayPayop, GatewayRevCent, GatewayJetti, GatewayKeepUp}

// Customer is the person who paid for a sale; one per email and merchant.
type Customer struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// Renamed returns the customer c with the names a newer sale gave for
// the same email, and whether they differ from c's. A customer is one per
// merchant and email, and a person's name changes (a typo fixed, a
// marriage): the newest names win, as a pair, so that a sale naming
// "Ann Smith" never leaves "Ann Lee" half changed. A sale that names no
// one leaves the names as they were.
func (c Customer) Renamed(newer Customer) (Customer, bool) {
	if newer.FirstName == "" && newer.LastName == "" {
		return c, false
	}
	if newer.FirstName == c.FirstName && newer.LastName == c.LastName {
		return c, false
	}
	c.FirstName, c.LastName = newer.FirstName, newer.LastName
	return c, true
}

// Sale is an order: line items and the transactions that paid for them.
// RefundedAmount counts refunds that are pending or succeeded, the same sum
// that invariant 2 bounds.
type Sale struct {
	ID             string         `json:"id"`
	MerchantID     string         `json:"-"`
	Reference      string         `json:"reference"`
	Currency       string         `json:"currency"`
	Amount         int64          `json:"amount"`
	RefundedAmount int64          `json:"refunded_amount"`
	Status         string         `json:"status"`
	Customer       Customer       `json:"customer"`
	CampaignID     string         `json:"campaign_id"`
	CampaignName   string         `json:"campaign_name"`
	LineItems      []*LineItem    `json:"line_items"`
	Transactions   []*Transaction `json:"transactions"`
	Created        time.Time      `json:"created"`
	// HeldRefunds counts the refund requests (refund groups) that hold
	// money on the sale: those whose refunds are in a status that Holds.
	// A store reads it under the sale's lock, and only when a request's
	// policy limits refunds per sale; otherwise it is 0.
	HeldRefunds int `json:"-"`
}

// LineItem is one product of a sale ("product sale" in RevCent's words),
// or its shipping. Amount is Quantity × UnitAmount + TaxAmount.
type LineItem struct {
	ID         string `json:"id"`
	SaleID     string `json:"sale"`
	Name       string `json:"name"`
	Kind       string `json:"kind"` // LineProduct or LineShipping
	Quantity   int64  `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
	// TaxAmount is the line's total tax, in minor units.
	TaxAmount      int64 `json:"tax_amount"`
	Amount         int64 `json:"amount"`
	RefundedAmount int64 `json:"refunded_amount"`
	// RefundedQuantity counts the units refunded by quantity; never above
	// Quantity (invariant 2 extended to quantities).
	RefundedQuantity int64 `json:"refunded_quantity"`
	// GatewayLineID is the gateway's own id of the line, for a gateway
	// that refunds line by line (RevCent's product_sale_id); "" if none.
	GatewayLineID string `json:"gateway_line_id"`
}

// Line kinds.
const (
	LineProduct  = "product"
	LineShipping = "shipping"
)

// Transaction is a captured payment for a sale. Number is a second,
// integer identity (Jetti addresses transactions by integer).
type Transaction struct {
	ID              string `json:"id"`
	Number          int64  `json:"number"`
	SaleID          string `json:"sale"`
	Reference       string `json:"reference"`
	Gateway         string `json:"gateway"`
	GatewayChargeID string `json:"gateway_charge_id"`
	// GatewayAccount is the id of the merchant's GatewayAccount the
	// payment was taken through; "" for a payment through a gateway the
	// server configures for everyone (the simulator, --stripe-key) or
	// offsite. The engine fills it, when a payment names none, with the
	// merchant's only active account of the payment's kind.
	GatewayAccount string `json:"gateway_account"`
	Currency       string `json:"currency"`
	Amount         int64  `json:"amount"`
	RefundedAmount int64  `json:"refunded_amount"`
	Status         string `json:"status"`
	ProcessingFee  int64  `json:"processing_fee"`
	BaseAmount     int64  `json:"base_amount"`
	BaseCurrency   string `json:"base_currency"`
	// DisputeStatus is the status of the transaction's latest dispute, ""
	// when it has none. While it is open (DisputeOpen) no refund of the
	// transaction is made: the card network may return the money too.
	DisputeStatus string `json:"dispute_status"`
	// DisputedAmount is what lost disputes returned to the customer
	// through the card network: no longer refundable.
	DisputedAmount int64     `json:"disputed_amount"`
	Created        time.Time `json:"created"`
}

// Validate checks a sale about to be created and fills in what derives from
// its parts (amounts, the single payment's amount, statuses). It returns
// EINVALID naming the first bad parameter.
func (s *Sale) Validate() error {
	cur, err := LookupCurrency(s.Currency)
	if err != nil {
		return err
	}
	s.Currency = cur.Code
	if err := checkTexts(255, "reference", s.Reference, "customer.email", s.Customer.Email,
		"customer.first_name", s.Customer.FirstName, "customer.last_name", s.Customer.LastName,
		"campaign.id", s.CampaignID, "campaign.name", s.CampaignName); err != nil {
		return err
	}
	if s.Customer.Email != "" {
		if a, err := mail.ParseAddress(s.Customer.Email); err != nil || a.Address != s.Customer.Email {
			return ParamErrorf(EINVALID, "customer.email", "Customer email %q is not a valid address.", truncate(s.Customer.Email, 64))
		}
	}
	if len(s.LineItems) == 0 {
		return ParamErrorf(EINVALID, "line_items", "A sale needs at least one line item.")
	}
	if len(s.LineItems) > 1000 {
		return ParamErrorf(EINVALID, "line_items", "A sale has at most 1000 line items.")
	}
	var total int64
	for i, li := range s.LineItems {
		if err := checkTexts(255, lineParam(i, "name"), li.Name, lineParam(i, "gateway_line_id"), li.GatewayLineID); err != nil {
			return err
		}
		if strings.TrimSpace(li.Name) == "" {
			return ParamErrorf(EINVALID, lineParam(i, "name"), "Line item name is required.")
		}
		if li.Quantity <= 0 || li.Quantity > 1_000_000 {
			return ParamErrorf(EINVALID, lineParam(i, "quantity"), "Quantity must be between 1 and 1000000.")
		}
		switch li.Kind {
		case "":
			li.Kind = LineProduct
		case LineProduct, LineShipping:
		default:
			return ParamErrorf(EINVALID, lineParam(i, "kind"), "Kind must be product or shipping.")
		}
		if li.UnitAmount < 0 || li.UnitAmount > maxAmount/li.Quantity {
			return ParamErrorf(EINVALID, lineParam(i, "unit_amount"), "Unit amount must be between 0 and %d.", maxAmount/li.Quantity)
		}
		// Both terms are at most maxAmount (2^53), so their sum cannot
		// overflow before it is checked.
		if li.TaxAmount < 0 || li.TaxAmount > maxAmount-li.Quantity*li.UnitAmount {
			return ParamErrorf(EINVALID, lineParam(i, "tax_amount"), "Tax amount must be between 0 and %d.", maxAmount-li.Quantity*li.UnitAmount)
		}
		li.Amount = li.Quantity*li.UnitAmount + li.TaxAmount
		li.RefundedAmount = 0
		li.RefundedQuantity = 0
		if total > maxAmount-li.Amount {
			return ParamErrorf(EINVALID, "line_items", "The sale's total is too large.")
		}
		total += li.Amount
	}
	s.Amount = total
	if total == 0 {
		return ParamErrorf(EINVALID, "line_items", "A sale's total must be above zero.")
	}
	if len(s.Transactions) == 0 {
		return ParamErrorf(EINVALID, "payment", "A sale needs a payment.")
	}
	if len(s.Transactions) > 100 {
		return ParamErrorf(EINVALID, "payments", "A sale has at most 100 payments.")
	}
	if len(s.Transactions) == 1 && s.Transactions[0].Amount == 0 {
		s.Transactions[0].Amount = total
	}
	var paid int64
	for i, t := range s.Transactions {
		if t.Gateway == "" {
			t.Gateway = GatewaySimulator
		}
		if !slices.Contains(PaymentGateways, t.Gateway) {
			return ParamErrorf(EINVALID, payParam(i, "gateway"), "Gateway must be one of %s.", strings.Join(PaymentGateways, ", "))
		}
		if t.GatewayAccount != "" && (t.Gateway == GatewayOffsite || len(t.GatewayAccount) > 64) {
			return ParamErrorf(EINVALID, payParam(i, "gateway_account"), "An offsite payment has no gateway account.")
		}
		if t.Amount <= 0 || t.Amount > maxAmount {
			return ParamErrorf(EINVALID, payParam(i, "amount"), "Payment amount must be above zero.")
		}
		if t.ProcessingFee < 0 || t.ProcessingFee > t.Amount {
			return ParamErrorf(EINVALID, payParam(i, "processing_fee"), "Processing fee must be between 0 and the payment's amount.")
		}
		if t.BaseCurrency != "" {
			bc, err := LookupCurrency(t.BaseCurrency)
			if err != nil {
				err.(*Error).Param = payParam(i, "base_currency")
				return err
			}
			t.BaseCurrency = bc.Code
		}
		if t.BaseAmount < 0 {
			return ParamErrorf(EINVALID, payParam(i, "base_amount"), "Base amount must not be negative.")
		}
		if err := checkTexts(255, payParam(i, "reference"), t.Reference, payParam(i, "gateway_charge_id"), t.GatewayChargeID); err != nil {
			return err
		}
		if t.GatewayChargeID != "" && (t.Gateway == GatewaySimulator || t.Gateway == GatewayOffsite) {
			return ParamErrorf(EINVALID, payParam(i, "gateway"), "A gateway charge id needs a gateway that names its payments (stripe, payop, revcent, jetti, keepup).")
		}
		t.Currency = s.Currency
		t.Status = PaymentPaid
		t.RefundedAmount = 0 // a new payment has refunded nothing (invariant 2)
		paid += t.Amount
		if paid > maxAmount {
			return ParamErrorf(EINVALID, "payments", "The payments' total is too large.")
		}
	}
	if paid != total {
		return ParamErrorf(EINVALID, "payments", "Payments add up to %s but the line items to %s.", FormatMajor(paid, cur), FormatMajor(total, cur))
	}
	s.Status = PaymentPaid
	s.RefundedAmount = 0
	return nil
}

// maxAmount bounds every stored amount so that sums of a sale's parts can
// never overflow int64.
const maxAmount = int64(1) << 53

func lineParam(i int, f string) string { return "line_items[" + strconv.Itoa(i) + "]." + f }
func payParam(i int, f string) string  { return "payments[" + strconv.Itoa(i) + "]." + f }
