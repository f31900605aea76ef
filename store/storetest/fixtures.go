package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// Fixture builders. Every one of them makes names (slugs, references,
// emails) unique with refundry.NewID, so that suites running in parallel
// against one shared database never collide and never depend on what else
// is stored there.

// NewMerchant returns a valid, not yet stored merchant with a new id, a
// unique slug and a creation time, as the edges build one.
func NewMerchant() *refundry.Merchant {
	return &refundry.Merchant{
		ID: refundry.NewID(), Slug: "m-" + refundry.NewID(), Name: "Test Merchant", Currency: "USD",
		Created: time.Now().UTC().Truncate(time.Microsecond),
	}
}

// MustCreateMerchant stores a new merchant with one API key and returns it.
func MustCreateMerchant(tb testing.TB, s refundry.Store) *refundry.Merchant {
	tb.Helper()
	m := NewMerchant()
	key, _ := refundry.NewAPIKey(m.ID, m.Created)
	if err := s.CreateMerchant(context.Background(), m, key); err != nil {
		tb.Fatalf("CreateMerchant: %v", err)
	}
	return m
}

// SaleOption changes a sale that NewSale builds.
type SaleOption func(*refundry.Sale)

// Lines replaces the sale's line items with one item per amount (quantity 1).
func Lines(amounts ...int64) SaleOption {
	return func(s *refundry.Sale) {
		s.LineItems = nil
		for i, a := range amounts {
			s.LineItems = append(s.LineItems, &refundry.LineItem{Name: "Item " + string(rune('A'+i%26)), Quantity: 1, UnitAmount: a})
		}
		if len(s.Transactions) == 1 {
			s.Transactions[0].Amount = 0 // Validate fills in the total
		}
	}
}

// Payments replaces the sale's payments with one simulator transaction per
// amount; the amounts must add up to the line items' total.
func Payments(amounts ...int64) SaleOption {
	return func(s *refundry.Sale) {
		s.Transactions = nil
		for _, a := range amounts {
			s.Transactions = append(s.Transactions, &refundry.Transaction{
				Gateway: refundry.GatewaySimulator, Amount: a,
			})
		}
	}
}

// Gateway sets the gateway of every payment of the sale.
func Gateway(name string) SaleOption {
	return func(s *refundry.Sale) {
		for _, t := range s.Transactions {
			t.Gateway = name
		}
	}
}

// Reference sets the sale's reference (order number).
func Reference(ref string) SaleOption {
	return func(s *refundry.Sale) { s.Reference = ref }
}

// PaymentReferences sets the payments' references, in order.
func PaymentReferences(refs ...string) SaleOption {
	return func(s *refundry.Sale) {
		for i, r := range refs {
			s.Transactions[i].Reference = r
		}
	}
}

// Email sets the customer's email.
func Email(email string) SaleOption {
	return func(s *refundry.Sale) { s.Customer.Email = email }
}

// Names sets the names of the sale's customer.
func Names(first, last string) SaleOption {
	return func(s *refundry.Sale) { s.Customer.FirstName, s.Customer.LastName = first, last }
}

// Currency sets the sale's currency.
func Currency(code string) SaleOption {
	return func(s *refundry.Sale) { s.Currency = code }
}

// NewSale returns a validated, not yet stored sale of the merchant: by
// default two line items (10.00 and 25.00 USD) paid by one simulator
// transaction, a unique reference and a unique customer email. Options are
// applied in order before validation. It panics if the result is invalid,
// since that is a fault in the test itself.
func NewSale(merchantID string, opts ...SaleOption) *refundry.Sale {
	id := refundry.NewID()
	s := &refundry.Sale{
		MerchantID: merchantID,
		Reference:  "order-" + id,
		Currency:   "USD",
		Customer:   refundry.Customer{Email: "c-" + id + "@example.com", FirstName: "Ada", LastName: "Lovelace"},
		CampaignID: "camp-1", CampaignName: "Spring",
		LineItems: []*refundry.LineItem{
			{Name: "Ticket", Quantity: 2, UnitAmount: 500},
			{Name: "Parking", Quantity: 1, UnitAmount: 2500},
		},
		Transactions: []*refundry.Transaction{{
			Gateway: refundry.GatewaySimulator, Reference: "pay-" + id,
			ProcessingFee: 30, BaseAmount: 3200, BaseCurrency: "EUR",
		}},
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.Validate(); err != nil {
		panic("storetest: NewSale built an invalid sale: " + err.Error())
	}
	return s
}

// MustCreateSale builds a sale with NewSale, stores it and returns it as the
// store filled it in.
func MustCreateSale(tb testing.TB, s refundry.Store, merchantID string, opts ...SaleOption) *refundry.Sale {
	tb.Helper()
	sale := NewSale(merchantID, opts...)
	if _, err := s.CreateSale(context.Background(), sale, nil); err != nil {
		tb.Fatalf("CreateSale: %v", err)
	}
	return sale
}

// MustFindSale returns the stored sale with the given id.
func MustFindSale(tb testing.TB, s refundry.Store, merchantID, id string) *refundry.Sale {
	tb.Helper()
	sale, err := s.FindSale(context.Background(), merchantID, refundry.SaleLookup{ID: id})
	if err != nil {
		tb.Fatalf("FindSale(%s): %v", id, err)
	}
	return sale
}

// Amount returns a pointer to n, for RefundRequest.Amount.
func Amount(n int64) *int64 { return &n }

// SaleRefund returns a request to refund amount of a sale (nil: in full).
func SaleRefund(merchantID, saleID string, amount *int64) refundry.RefundRequest {
	return refundry.RefundRequest{MerchantID: merchantID, Target: refundry.RefundTarget{SaleID: saleID}, Amount: amount, Source: refundry.SourceNative}
}

// LineItemRefund returns a request to refund amount of a line item.
func LineItemRefund(merchantID, lineItemID string, amount *int64) refundry.RefundRequest {
	return refundry.RefundRequest{MerchantID: merchantID, Target: refundry.RefundTarget{LineItemID: lineItemID}, Amount: amount, Source: refundry.SourceNative}
}

// TransactionRefund returns a request to refund amount of a transaction.
func TransactionRefund(merchantID, transactionID string, amount *int64) refundry.RefundRequest {
	return refundry.RefundRequest{MerchantID: merchantID, Target: refundry.RefundTarget{TransactionID: transactionID}, Amount: amount, Source: refundry.SourceNative}
}

// MustRefund runs CreateRefunds and fails the test on error.
func MustRefund(tb testing.TB, s refundry.Store, req refundry.RefundRequest) *refundry.RefundResult {
	tb.Helper()
	res, err := s.CreateRefunds(context.Background(), req)
	if err != nil {
		tb.Fatalf("CreateRefunds(%+v): %v", req.Target, err)
	}
	return res
}

// NewReferral returns a valid, not yet stored referral to origin.
func NewReferral(merchantID, origin string) *refundry.Referral {
	id := refundry.NewID()
	return &refundry.Referral{
		MerchantID:  merchantID,
		OriginSlug:  origin,
		CampaignID:  7,
		OfferID:     11,
		Advocate:    refundry.Person{Email: "adv-" + id + "@example.com", FirstName: "Alice", LastName: "A"},
		Friend:      refundry.Person{Email: "fr-" + id + "@example.com", FirstName: "Bob", LastName: "B"},
		TrackMethod: "email",
		Status:      refundry.ReferralApproved,
		Subtotal:    1234,
		Currency:    "USD",
	}
}

// MustCreateReferral stores a new referral to origin.
func MustCreateReferral(tb testing.TB, s refundry.Store, merchantID, origin string) *refundry.Referral {
	tb.Helper()
	r := NewReferral(merchantID, origin)
	if _, err := s.CreateReferral(context.Background(), r, nil); err != nil {
		tb.Fatalf("CreateReferral(%s): %v", origin, err)
	}
	return r
}

// idem returns a fresh idempotency record.
func idem(hash string) *refundry.Idempotency {
	return &refundry.Idempotency{Key: "key-" + refundry.NewID(), Hash: hash}
}

// wantCode fails the test unless err carries the code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := refundry.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// sameJSON fails the test unless got and want marshal to equal JSON. JSON
// is the comparison because it is what clients see: times are compared as
// RFC 3339 text, so a time that came back in another zone or with more
// than microsecond precision shows up as a difference.
func sameJSON(tb testing.TB, what string, got, want any) {
	tb.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		tb.Fatalf("%s: marshal got: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		tb.Fatalf("%s: marshal want: %v", what, err)
	}
	if !jsonEqual(g, w) {
		tb.Fatalf("%s differs:\n got: %s\nwant: %s", what, g, w)
	}
}

// jsonEqual compares two JSON texts by value, not by bytes.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// checkTime fails unless tm is in UTC with at most microsecond precision.
func checkTime(tb testing.TB, what string, tm time.Time) {
	tb.Helper()
	if tm.IsZero() {
		tb.Fatalf("%s is zero", what)
	}
	if tm.Location() != time.UTC {
		tb.Fatalf("%s = %v, want UTC", what, tm)
	}
	if tm.Nanosecond()%1000 != 0 {
		tb.Fatalf("%s = %v, want microsecond precision", what, tm)
	}
}
