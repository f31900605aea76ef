package refundry_test

import (
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// validSale returns a sale that passes Validate: 2 x 5.00 + 1 x 2.50 USD,
// paid by one payment whose amount Validate fills in.
func validSale() *refundry.Sale {
	return &refundry.Sale{
		Reference: "order-1001",
		Currency:  "usd",
		Customer:  refundry.Customer{Email: "ann@example.com", FirstName: "Ann"},
		LineItems: []*refundry.LineItem{
			{Name: "Ticket", Quantity: 2, UnitAmount: 500},
			{Name: "Fee", Quantity: 1, UnitAmount: 250},
		},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewayStripe}},
	}
}

func TestSaleValidate(t *testing.T) {
	const maxAmount = int64(1) << 53
	for _, tt := range []struct {
		name   string
		mutate func(s *refundry.Sale)
		param  string // "" when valid
	}{
		{"OK", func(s *refundry.Sale) {}, ""},
		{"OKNoEmail", func(s *refundry.Sale) { s.Customer.Email = "" }, ""},
		{"OKTwoPayments", func(s *refundry.Sale) {
			s.Transactions = []*refundry.Transaction{{Amount: 1000}, {Amount: 250, Gateway: refundry.GatewayOffsite}}
		}, ""},
		{"OKSinglePaymentExact", func(s *refundry.Sale) { s.Transactions[0].Amount = 1250 }, ""},
		{"OKFreeLineItem", func(s *refundry.Sale) {
			s.LineItems = append(s.LineItems, &refundry.LineItem{Name: "Gift", Quantity: 1, UnitAmount: 0})
		}, ""},
		{"OKLargestTotal", func(s *refundry.Sale) {
			s.LineItems = []*refundry.LineItem{{Name: "Big", Quantity: 1, UnitAmount: maxAmount}}
		}, ""},
		{"OKBaseCurrency", func(s *refundry.Sale) {
			s.Transactions[0].BaseCurrency, s.Transactions[0].BaseAmount = "eur", 1100
		}, ""},
		{"OKFeeEqualsAmount", func(s *refundry.Sale) { s.Transactions[0].Amount, s.Transactions[0].ProcessingFee = 1250, 1250 }, ""},
		{"OKTaxAndShipping", func(s *refundry.Sale) {
			s.LineItems[0].TaxAmount = 83
			s.LineItems = append(s.LineItems, &refundry.LineItem{Name: "Post", Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 490, TaxAmount: 10})
		}, ""},
		{"OKTaxOnlyLine", func(s *refundry.Sale) {
			s.LineItems = append(s.LineItems, &refundry.LineItem{Name: "Duty", Quantity: 1, TaxAmount: 5})
		}, ""},
		{"OKLargestTotalWithTax", func(s *refundry.Sale) {
			s.LineItems = []*refundry.LineItem{{Name: "Big", Quantity: 1, UnitAmount: maxAmount - 7, TaxAmount: 7}}
		}, ""},
		{"ErrKind", func(s *refundry.Sale) { s.LineItems[1].Kind = "discount" }, "line_items[1].kind"},
		{"ErrKindCase", func(s *refundry.Sale) { s.LineItems[1].Kind = "Shipping" }, "line_items[1].kind"},
		{"ErrTaxNegative", func(s *refundry.Sale) { s.LineItems[0].TaxAmount = -1 }, "line_items[0].tax_amount"},
		{"ErrTaxAboveMax", func(s *refundry.Sale) {
			s.LineItems[0].Quantity, s.LineItems[0].UnitAmount, s.LineItems[0].TaxAmount = 1, maxAmount-7, 8
		}, "line_items[0].tax_amount"},
		{"ErrTaxOverflow", func(s *refundry.Sale) { s.LineItems[0].TaxAmount = 1<<63 - 1 }, "line_items[0].tax_amount"},
		{"ErrCurrencyUnknown", func(s *refundry.Sale) { s.Currency = "XYZ" }, "currency"},
		{"ErrCurrencyRequired", func(s *refundry.Sale) { s.Currency = "" }, "currency"},
		{"ErrReferenceTooLong", func(s *refundry.Sale) { s.Reference = strings.Repeat("r", 256) }, "reference"},
		{"ErrEmail", func(s *refundry.Sale) { s.Customer.Email = "not-an-email" }, "customer.email"},
		{"ErrEmailWithName", func(s *refundry.Sale) { s.Customer.Email = "Ann <ann@example.com>" }, "customer.email"},
		{"ErrEmailTwoAddresses", func(s *refundry.Sale) { s.Customer.Email = "a@example.com, b@example.com" }, "customer.email"},
		{"ErrNoLineItems", func(s *refundry.Sale) { s.LineItems = nil }, "line_items"},
		{"ErrTooManyLineItems", func(s *refundry.Sale) {
			s.LineItems = nil
			for range 1001 {
				s.LineItems = append(s.LineItems, &refundry.LineItem{Name: "x", Quantity: 1, UnitAmount: 1})
			}
		}, "line_items"},
		{"ErrLineItemName", func(s *refundry.Sale) { s.LineItems[1].Name = "  " }, "line_items[1].name"},
		{"ErrLineItemNameNUL", func(s *refundry.Sale) { s.LineItems[1].Name = "a\x00" }, "line_items[1].name"},
		{"ErrReferenceInvalidUTF8", func(s *refundry.Sale) { s.Reference = "B\xc3" }, "reference"},
		{"ErrCampaignNameNUL", func(s *refundry.Sale) { s.CampaignName = "\x00" }, "campaign.name"},
		{"ErrQuantityZero", func(s *refundry.Sale) { s.LineItems[0].Quantity = 0 }, "line_items[0].quantity"},
		{"ErrQuantityNegative", func(s *refundry.Sale) { s.LineItems[0].Quantity = -2 }, "line_items[0].quantity"},
		{"ErrQuantityTooLarge", func(s *refundry.Sale) { s.LineItems[0].Quantity = 1_000_001 }, "line_items[0].quantity"},
		{"ErrUnitAmountNegative", func(s *refundry.Sale) { s.LineItems[1].UnitAmount = -1 }, "line_items[1].unit_amount"},
		{"ErrUnitAmountOverflow", func(s *refundry.Sale) {
			// 1e6 * 2^62 overflows int64: the guard must refuse it before multiplying.
			s.LineItems[0].Quantity, s.LineItems[0].UnitAmount = 1_000_000, 1<<62
		}, "line_items[0].unit_amount"},
		{"ErrUnitAmountAboveMax", func(s *refundry.Sale) {
			s.LineItems[0].Quantity, s.LineItems[0].UnitAmount = 2, maxAmount/2+1
		}, "line_items[0].unit_amount"},
		{"ErrTotalTooLarge", func(s *refundry.Sale) {
			s.LineItems = []*refundry.LineItem{
				{Name: "a", Quantity: 1, UnitAmount: maxAmount},
				{Name: "b", Quantity: 1, UnitAmount: 1},
			}
		}, "line_items"},
		{"ErrTotalZero", func(s *refundry.Sale) {
			s.LineItems = []*refundry.LineItem{{Name: "Gift", Quantity: 3, UnitAmount: 0}}
		}, "line_items"},
		{"ErrNoPayment", func(s *refundry.Sale) { s.Transactions = nil }, "payment"},
		{"ErrPaymentsDoNotAddUp", func(s *refundry.Sale) { s.Transactions[0].Amount = 1000 }, "payments"},
		{"ErrPaymentsAboveTotal", func(s *refundry.Sale) { s.Transactions[0].Amount = 1251 }, "payments"},
		{"ErrTwoPaymentsDoNotAddUp", func(s *refundry.Sale) {
			s.Transactions = []*refundry.Transaction{{Amount: 1000}, {Amount: 249}}
		}, "payments"},
		{"ErrPaymentsTotalTooLarge", func(s *refundry.Sale) {
			s.Transactions = []*refundry.Transaction{{Amount: maxAmount}, {Amount: maxAmount}}
		}, "payments"},
		{"ErrSecondPaymentAmountMissing", func(s *refundry.Sale) {
			s.Transactions = []*refundry.Transaction{{Amount: 1250}, {}}
		}, "payments[1].amount"},
		{"ErrPaymentAmountNegative", func(s *refundry.Sale) { s.Transactions[0].Amount = -1250 }, "payments[0].amount"},
		{"ErrPaymentAmountAboveMax", func(s *refundry.Sale) { s.Transactions[0].Amount = maxAmount + 1 }, "payments[0].amount"},
		{"ErrGatewayUnknown", func(s *refundry.Sale) { s.Transactions[0].Gateway = "paypal" }, "payments[0].gateway"},
		{"ErrGatewayCase", func(s *refundry.Sale) { s.Transactions[0].Gateway = "Stripe" }, "payments[0].gateway"},
		{"ErrProcessingFeeNegative", func(s *refundry.Sale) { s.Transactions[0].ProcessingFee = -1 }, "payments[0].processing_fee"},
		{"ErrProcessingFeeAboveAmount", func(s *refundry.Sale) { s.Transactions[0].ProcessingFee = 1251 }, "payments[0].processing_fee"},
		{"ErrBaseCurrencyUnknown", func(s *refundry.Sale) { s.Transactions[0].BaseCurrency = "ABC" }, "payments[0].base_currency"},
		{"ErrBaseAmountNegative", func(s *refundry.Sale) { s.Transactions[0].BaseAmount = -1 }, "payments[0].base_amount"},
		{"ErrPaymentReferenceTooLong", func(s *refundry.Sale) { s.Transactions[0].Reference = strings.Repeat("p", 256) }, "payments[0].reference"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := validSale()
			tt.mutate(s)
			checkValidate(t, s.Validate(), refundry.EINVALID, tt.param)
		})
	}
}

func TestSaleValidate_FillsIn(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := validSale()
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if s.Currency != "USD" {
			t.Errorf("Currency = %q, want USD", s.Currency)
		}
		if s.LineItems[0].Amount != 1000 || s.LineItems[1].Amount != 250 {
			t.Errorf("line item amounts = %d, %d; want 1000, 250", s.LineItems[0].Amount, s.LineItems[1].Amount)
		}
		if s.Amount != 1250 {
			t.Errorf("Amount = %d, want 1250", s.Amount)
		}
		tx := s.Transactions[0]
		if tx.Amount != 1250 || tx.Currency != "USD" || tx.Status != refundry.PaymentPaid || tx.Gateway != refundry.GatewayStripe {
			t.Errorf("payment = %+v", tx)
		}
		if s.Status != refundry.PaymentPaid {
			t.Errorf("Status = %q, want paid", s.Status)
		}
	})
	t.Run("OKDefaults", func(t *testing.T) {
		s := validSale()
		s.Transactions = []*refundry.Transaction{{Amount: 1000}, {Amount: 250, BaseCurrency: "eur"}}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for i, tx := range s.Transactions {
			if tx.Gateway != refundry.GatewaySimulator {
				t.Errorf("payments[%d].gateway = %q, want the simulator", i, tx.Gateway)
			}
		}
		if s.Transactions[0].Amount != 1000 || s.Transactions[1].BaseCurrency != "EUR" {
			t.Errorf("payments = %+v, %+v", s.Transactions[0], s.Transactions[1])
		}
	})
	t.Run("OKTaxKindAndRefundedQuantity", func(t *testing.T) {
		s := validSale()
		s.LineItems[0].TaxAmount, s.LineItems[0].RefundedQuantity = 83, 2
		s.LineItems[1].Kind = refundry.LineShipping
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if li := s.LineItems[0]; li.Amount != 1083 || li.Kind != refundry.LineProduct || li.RefundedQuantity != 0 {
			t.Fatalf("line 0 = %+v, want 2 x 500 + 83 tax = 1083, a product, nothing refunded", li)
		}
		if s.LineItems[1].Kind != refundry.LineShipping || s.Amount != 1333 || s.Transactions[0].Amount != 1333 {
			t.Fatalf("sale = %+v", s)
		}
	})
	// A new sale has refunded nothing, whatever a client sent: Validate
	// marks it paid, and a refunded amount carried in would let PlanRefund
	// refund more than was paid (invariant 2).
	t.Run("OKRefundedAmountsReset", func(t *testing.T) {
		s := validSale()
		s.RefundedAmount = -1250
		s.LineItems[0].RefundedAmount = -1000
		s.Transactions[0].RefundedAmount = -1250
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if s.RefundedAmount != 0 || s.LineItems[0].RefundedAmount != 0 || s.Transactions[0].RefundedAmount != 0 {
			t.Fatalf("refunded amounts = %d, %d, %d; want 0", s.RefundedAmount, s.LineItems[0].RefundedAmount, s.Transactions[0].RefundedAmount)
		}
		if got := refundry.PaymentState(s.Amount, s.RefundedAmount); got != s.Status {
			t.Fatalf("Status = %q but the amounts say %q", s.Status, got)
		}
		s.ID, s.Transactions[0].ID = "sale1", "tx1"
		tooMuch := s.Amount + 1
		if _, err := refundry.PlanRefund(s, refundry.RefundTarget{TransactionID: "tx1"}, &tooMuch, false); refundry.ErrorCode(err) != refundry.ETOOLARGE {
			t.Fatalf("PlanRefund of %d on a %d sale = %v, want %s", tooMuch, s.Amount, err, refundry.ETOOLARGE)
		}
	})
}

func TestPaymentState(t *testing.T) {
	for _, tt := range []struct {
		name             string
		amount, refunded int64
		want             string
	}{
		{"OKPaid", 1000, 0, refundry.PaymentPaid},
		{"OKPartiallyRefunded", 1000, 1, refundry.PaymentPartiallyRefunded},
		{"OKAlmostRefunded", 1000, 999, refundry.PaymentPartiallyRefunded},
		{"OKRefunded", 1000, 1000, refundry.PaymentRefunded},
		{"OKOverRefundedStillRefunded", 1000, 1001, refundry.PaymentRefunded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := refundry.PaymentState(tt.amount, tt.refunded); got != tt.want {
				t.Fatalf("PaymentState(%d, %d) = %q, want %q", tt.amount, tt.refunded, got, tt.want)
			}
		})
	}
}

func TestCustomerRenamed(t *testing.T) {
	stored := refundry.Customer{ID: "c1", Email: "ann@example.com", FirstName: "Ann", LastName: "Lee"}
	for _, tc := range []struct {
		name              string
		first, last       string
		wantFirst, wantLt string
		changed           bool
	}{
		{"NewNamesWin", "Ann", "Smith", "Ann", "Smith", true},
		{"BothAsAPair", "Bo", "", "Bo", "", true},
		{"NoNamesKeepStored", "", "", "Ann", "Lee", false},
		{"SameNamesNoChange", "Ann", "Lee", "Ann", "Lee", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := stored.Renamed(refundry.Customer{Email: stored.Email, FirstName: tc.first, LastName: tc.last})
			if got.ID != stored.ID || got.FirstName != tc.wantFirst || got.LastName != tc.wantLt || changed != tc.changed {
				t.Fatalf("Renamed(%q, %q) = %+v, %v", tc.first, tc.last, got, changed)
			}
		})
	}
}
