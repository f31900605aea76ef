package refundry_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// planSale is a 100.00 USD sale: line items li1 (60.00) and li2 (40.00),
// paid by t1 (70.00, simulator) and then t2 (30.00, stripe).
func planSale() *refundry.Sale {
	return &refundry.Sale{
		ID: "sale1", Currency: "USD", Amount: 10000, Status: refundry.PaymentPaid,
		LineItems: []*refundry.LineItem{
			{ID: "li1", SaleID: "sale1", Name: "Ticket", Quantity: 3, UnitAmount: 2000, Amount: 6000},
			{ID: "li2", SaleID: "sale1", Name: "Parking", Quantity: 1, UnitAmount: 4000, Amount: 4000},
		},
		Transactions: []*refundry.Transaction{
			{ID: "t1", SaleID: "sale1", Gateway: refundry.GatewaySimulator, Currency: "USD", Amount: 7000},
			{ID: "t2", SaleID: "sale1", Gateway: refundry.GatewayStripe, Currency: "USD", Amount: 3000},
		},
	}
}

// apply records allocations on the sale as a store would.
func apply(s *refundry.Sale, allocs []refundry.Allocation) {
	for _, a := range allocs {
		s.RefundedAmount += a.Amount
		for _, t := range s.Transactions {
			if t.ID == a.TransactionID {
				t.RefundedAmount += a.Amount
			}
		}
		for _, li := range s.LineItems {
			if li.ID == a.LineItemID {
				li.RefundedAmount += a.Amount
			}
		}
	}
}

// refundedBy returns a planSale on which the given targets have already
// been refunded in full or by the given amount.
func refundedBy(t *testing.T, steps ...step) *refundry.Sale {
	t.Helper()
	s := planSale()
	for _, st := range steps {
		allocs, err := refundry.PlanRefund(s, st.target, st.amount, false)
		if err != nil {
			t.Fatalf("setting up %+v: %v", st, err)
		}
		apply(s, allocs)
	}
	return s
}

type step struct {
	target refundry.RefundTarget
	amount *int64
}

func amt(n int64) *int64 { return &n }

var (
	saleTarget = refundry.RefundTarget{SaleID: "sale1"}
	li1Target  = refundry.RefundTarget{LineItemID: "li1"}
	li2Target  = refundry.RefundTarget{LineItemID: "li2"}
	t1Target   = refundry.RefundTarget{TransactionID: "t1"}
	t2Target   = refundry.RefundTarget{TransactionID: "t2"}
)

func TestPlanRefund(t *testing.T) {
	pending := refundry.RefundPending
	for _, tt := range []struct {
		name    string
		sale    func(t *testing.T) *refundry.Sale
		target  refundry.RefundTarget
		amount  *int64
		offsite bool
		want    []refundry.Allocation
		code    string // "" when the plan succeeds
	}{
		{name: "OKFullSale", target: saleTarget, want: []refundry.Allocation{
			{TransactionID: "t1", Gateway: "simulator", Amount: 7000, Status: pending},
			{TransactionID: "t2", Gateway: "stripe", Amount: 3000, Status: pending},
		}},
		{name: "OKPartialSale", target: saleTarget, amount: amt(2500), want: []refundry.Allocation{
			{TransactionID: "t1", Gateway: "simulator", Amount: 2500, Status: pending},
		}},
		{name: "OKPartialSaleSpansTransactions", target: saleTarget, amount: amt(8000), want: []refundry.Allocation{
			{TransactionID: "t1", Gateway: "simulator", Amount: 7000, Status: pending},
			{TransactionID: "t2", Gateway: "stripe", Amount: 1000, Status: pending},
		}},
		{name: "OKSaleSkipsRefundedTransaction", target: saleTarget,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{t1Target, nil}) },
			want: []refundry.Allocation{{TransactionID: "t2", Gateway: "stripe", Amount: 3000, Status: pending}}},
		{name: "OKSaleRestAfterPartial", target: saleTarget,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, amt(6999)}) },
			want: []refundry.Allocation{
				{TransactionID: "t1", Gateway: "simulator", Amount: 1, Status: pending},
				{TransactionID: "t2", Gateway: "stripe", Amount: 3000, Status: pending},
			}},
		{name: "OKOneCentLeft", target: saleTarget, amount: amt(1),
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, amt(9999)}) },
			want: []refundry.Allocation{{TransactionID: "t2", Gateway: "stripe", Amount: 1, Status: pending}}},
		{name: "ErrTooLarge", target: saleTarget, amount: amt(10001), code: refundry.ETOOLARGE},
		{name: "ErrTooLargeByOneCentAfterPartials", target: saleTarget, amount: amt(2),
			sale: func(t *testing.T) *refundry.Sale {
				return refundedBy(t, step{saleTarget, amt(5000)}, step{t2Target, amt(2999)}, step{li1Target, amt(2000)})
			},
			code: refundry.ETOOLARGE},
		{name: "ErrRefunded", target: saleTarget,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, nil}) },
			code: refundry.EREFUNDED},
		// An amount on a sale with nothing left is already refunded, not
		// too large: no smaller amount would do.
		{name: "ErrRefundedOneMoreCent", target: saleTarget, amount: amt(1),
			sale: func(t *testing.T) *refundry.Sale {
				return refundedBy(t, step{saleTarget, amt(4000)}, step{saleTarget, amt(4000)}, step{saleTarget, amt(2000)})
			},
			code: refundry.EREFUNDED},
		{name: "ErrLineItemRefundedWithAmount", target: li1Target, amount: amt(1),
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{li1Target, nil}) },
			code: refundry.EREFUNDED},
		{name: "ErrTransactionRefundedWithAmount", target: t2Target, amount: amt(3000),
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{t2Target, nil}) },
			code: refundry.EREFUNDED},
		{name: "ErrRefundedByTransactions", target: saleTarget,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{t1Target, nil}, step{t2Target, nil}) },
			code: refundry.EREFUNDED},

		{name: "OKLineItemFull", target: li1Target, want: []refundry.Allocation{
			{TransactionID: "t1", LineItemID: "li1", Gateway: "simulator", Amount: 6000, Status: pending},
		}},
		{name: "OKLineItemSpansTransactions", target: li2Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{li1Target, nil}) },
			want: []refundry.Allocation{
				{TransactionID: "t1", LineItemID: "li2", Gateway: "simulator", Amount: 1000, Status: pending},
				{TransactionID: "t2", LineItemID: "li2", Gateway: "stripe", Amount: 3000, Status: pending},
			}},
		{name: "OKLineItemRemaining", target: li1Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{li1Target, amt(5000)}) },
			want: []refundry.Allocation{{TransactionID: "t1", LineItemID: "li1", Gateway: "simulator", Amount: 1000, Status: pending}}},
		{name: "ErrLineItemCappedByLineItem", target: li1Target, amount: amt(1001),
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{li1Target, amt(5000)}) },
			code: refundry.ETOOLARGE},
		{name: "ErrLineItemAboveItsAmount", target: li2Target, amount: amt(4001), code: refundry.ETOOLARGE},
		{name: "OKLineItemCappedBySale", target: li1Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, amt(9500)}) },
			want: []refundry.Allocation{{TransactionID: "t2", LineItemID: "li1", Gateway: "stripe", Amount: 500, Status: pending}}},
		{name: "ErrLineItemCappedBySale", target: li1Target, amount: amt(501),
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, amt(9500)}) },
			code: refundry.ETOOLARGE},
		{name: "ErrLineItemRefunded", target: li1Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{li1Target, nil}) },
			code: refundry.EREFUNDED},
		{name: "ErrLineItemAfterFullSaleRefund", target: li2Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, nil}) },
			code: refundry.EREFUNDED},

		{name: "OKTransaction", target: t2Target, want: []refundry.Allocation{
			{TransactionID: "t2", Gateway: "stripe", Amount: 3000, Status: pending},
		}},
		{name: "OKTransactionPartial", target: t1Target, amount: amt(1), want: []refundry.Allocation{
			{TransactionID: "t1", Gateway: "simulator", Amount: 1, Status: pending},
		}},
		{name: "OKTransactionRemaining", target: t1Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, amt(6000)}) },
			want: []refundry.Allocation{{TransactionID: "t1", Gateway: "simulator", Amount: 1000, Status: pending}}},
		{name: "ErrTransactionTooLarge", target: t2Target, amount: amt(3001), code: refundry.ETOOLARGE},
		{name: "ErrTransactionRefunded", target: t1Target,
			sale: func(t *testing.T) *refundry.Sale { return refundedBy(t, step{saleTarget, amt(7000)}) },
			code: refundry.EREFUNDED},

		{name: "ErrUnknownSale", target: refundry.RefundTarget{SaleID: "sale2"}, code: refundry.ENOTFOUND},
		{name: "ErrUnknownLineItem", target: refundry.RefundTarget{LineItemID: "li9"}, code: refundry.ENOTFOUND},
		{name: "ErrUnknownTransaction", target: refundry.RefundTarget{TransactionID: "t9"}, code: refundry.ENOTFOUND},
		{name: "ErrNoTarget", target: refundry.RefundTarget{}, code: refundry.ENOTFOUND},

		{name: "OKOffsite", target: saleTarget, offsite: true, want: []refundry.Allocation{
			{TransactionID: "t1", Gateway: "offsite", Amount: 7000, Status: refundry.RefundSucceeded},
			{TransactionID: "t2", Gateway: "offsite", Amount: 3000, Status: refundry.RefundSucceeded},
		}},
		{name: "OKOffsiteLineItem", target: li2Target, amount: amt(100), offsite: true, want: []refundry.Allocation{
			{TransactionID: "t1", LineItemID: "li2", Gateway: "offsite", Amount: 100, Status: refundry.RefundSucceeded},
		}},
		{name: "OKOffsiteGatewayTransaction", target: t2Target,
			sale: func(t *testing.T) *refundry.Sale {
				s := planSale()
				s.Transactions[1].Gateway = refundry.GatewayOffsite
				return s
			},
			want: []refundry.Allocation{{TransactionID: "t2", Gateway: "offsite", Amount: 3000, Status: refundry.RefundSucceeded}}},
		{name: "OKMixedGateways", target: saleTarget,
			sale: func(t *testing.T) *refundry.Sale {
				s := planSale()
				s.Transactions[0].Gateway = refundry.GatewayOffsite
				return s
			},
			want: []refundry.Allocation{
				{TransactionID: "t1", Gateway: "offsite", Amount: 7000, Status: refundry.RefundSucceeded},
				{TransactionID: "t2", Gateway: "stripe", Amount: 3000, Status: pending},
			}},

		{name: "ErrAmountZero", target: saleTarget, amount: amt(0), code: refundry.EINVALID},
		{name: "ErrAmountNegative", target: saleTarget, amount: amt(-100), code: refundry.EINVALID},
		{name: "ErrAmountNegativeTransaction", target: t1Target, amount: amt(-1), code: refundry.EINVALID},
		{name: "ErrCurrencyUnknown", target: saleTarget,
			sale: func(t *testing.T) *refundry.Sale {
				s := planSale()
				s.Currency = "XYZ"
				return s
			},
			code: refundry.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := planSale()
			if tt.sale != nil {
				s = tt.sale(t)
			}
			before := snapshot(s)
			got, err := refundry.PlanRefund(s, tt.target, tt.amount, tt.offsite)
			if snapshot(s) != before {
				t.Fatal("PlanRefund changed the sale")
			}
			if tt.code != "" {
				if code := refundry.ErrorCode(err); code != tt.code {
					t.Fatalf("PlanRefund = %+v, %v; want code %q", got, err, tt.code)
				}
				if got != nil {
					t.Fatalf("PlanRefund returned allocations with an error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("PlanRefund = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("PlanRefund =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func snapshot(s *refundry.Sale) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestPlanRefund_ErrorNamesAmounts(t *testing.T) {
	_, err := refundry.PlanRefund(planSale(), saleTarget, amt(10001), false)
	if refundry.ErrorParam(err) != "amount" {
		t.Fatalf("param = %q, want amount", refundry.ErrorParam(err))
	}
	msg := refundry.ErrorMessage(err)
	if !strings.Contains(msg, "100.01 USD") || !strings.Contains(msg, "100.00 USD") {
		t.Fatalf("message %q does not name both amounts in major units", msg)
	}
}

// Invariant 2: whatever sequence of refunds is asked for, no transaction,
// line item or sale is ever refunded beyond what was paid, and every plan
// moves exactly the amount asked for.
func TestPlanRefund_Invariant2NoOverRefund(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	targets := []refundry.RefundTarget{saleTarget, li1Target, li2Target, t1Target, t2Target}
	for round := range 500 {
		s := planSale()
		for range 20 {
			target := targets[r.IntN(len(targets))]
			var amount *int64
			if r.IntN(4) > 0 {
				amount = amt(r.Int64N(4000) + 1)
			}
			allocs, err := refundry.PlanRefund(s, target, amount, r.IntN(2) == 0)
			if err != nil {
				if c := refundry.ErrorCode(err); c != refundry.ETOOLARGE && c != refundry.EREFUNDED {
					t.Fatalf("round %d: PlanRefund(%+v) = %v", round, target, err)
				}
				continue
			}
			var sum int64
			for _, a := range allocs {
				if a.Amount <= 0 {
					t.Fatalf("round %d: allocation of %d", round, a.Amount)
				}
				sum += a.Amount
			}
			if amount != nil && sum != *amount {
				t.Fatalf("round %d: plan moves %d, asked %d", round, sum, *amount)
			}
			apply(s, allocs)
			if s.RefundedAmount > s.Amount {
				t.Fatalf("round %d: sale refunded %d of %d", round, s.RefundedAmount, s.Amount)
			}
			for _, tx := range s.Transactions {
				if tx.RefundedAmount > tx.Amount {
					t.Fatalf("round %d: transaction %s refunded %d of %d", round, tx.ID, tx.RefundedAmount, tx.Amount)
				}
			}
			for _, li := range s.LineItems {
				if li.RefundedAmount > li.Amount {
					t.Fatalf("round %d: line item %s refunded %d of %d", round, li.ID, li.RefundedAmount, li.Amount)
				}
			}
		}
	}
}

func TestRefundRequestValidate(t *testing.T) {
	const maxAmount = int64(1) << 53
	valid := func() *refundry.RefundRequest {
		return &refundry.RefundRequest{MerchantID: "m1", Target: refundry.RefundTarget{SaleID: "sale1"}}
	}
	for _, tt := range []struct {
		name   string
		mutate func(r *refundry.RefundRequest)
		code   string
		param  string // "" when valid
	}{
		{"OK", func(r *refundry.RefundRequest) {}, "", ""},
		{"OKLineItem", func(r *refundry.RefundRequest) { r.Target = li1Target }, "", ""},
		{"OKTransaction", func(r *refundry.RefundRequest) { r.Target = t1Target }, "", ""},
		{"OKAmount", func(r *refundry.RefundRequest) { r.Amount = amt(1) }, "", ""},
		{"OKLargestAmount", func(r *refundry.RefundRequest) { r.Amount = amt(maxAmount) }, "", ""},
		{"OKFeeEqualsAmount", func(r *refundry.RefundRequest) { r.Amount, r.Fee = amt(500), 500 }, "", ""},
		{"OKFeeWithFullRefund", func(r *refundry.RefundRequest) { r.Fee = 100 }, "", ""},
		{"OKReason500", func(r *refundry.RefundRequest) { r.Reason = strings.Repeat("é", 250) }, "", ""},
		{"OKMetadataObject", func(r *refundry.RefundRequest) { r.Metadata = json.RawMessage(`{"order":"1001"}`) }, "", ""},
		{"OKMetadataLargest", func(r *refundry.RefundRequest) { r.Metadata = bigJSON(refundry.MaxMetadata) }, "", ""},
		{"OKLines", func(r *refundry.RefundRequest) {
			r.Lines = []refundry.LineRequest{{LineItemID: "li1", Quantity: 2}, {LineItemID: "li2", Amount: amt(5)}, {LineItemID: "li3", Quantity: 1, Amount: amt(0)}}
		}, "", ""},
		{"OKShipping", func(r *refundry.RefundRequest) { r.Shipping = &refundry.ShippingRequest{All: true} }, "", ""},
		{"OKShippingAmount", func(r *refundry.RefundRequest) { r.Shipping = &refundry.ShippingRequest{Amount: 300} }, "", ""},
		{"ErrLinesOfLineItem", func(r *refundry.RefundRequest) {
			r.Target, r.Lines = li1Target, []refundry.LineRequest{{LineItemID: "li1", Quantity: 1}}
		}, refundry.EINVALID, "lines"},
		{"ErrLinesAndAmount", func(r *refundry.RefundRequest) {
			r.Amount, r.Lines = amt(5), []refundry.LineRequest{{LineItemID: "li1", Quantity: 1}}
		}, refundry.EINVALID, "amount"},
		{"ErrLineWithoutItem", func(r *refundry.RefundRequest) { r.Lines = []refundry.LineRequest{{Quantity: 1}} }, refundry.EINVALID, "lines[0].line_item"},
		{"ErrLineQuantityZero", func(r *refundry.RefundRequest) {
			r.Lines = []refundry.LineRequest{{LineItemID: "li1", Quantity: 1}, {LineItemID: "li2"}}
		}, refundry.EINVALID, "lines[1].quantity"},
		{"ErrLineQuantityNegative", func(r *refundry.RefundRequest) { r.Lines = []refundry.LineRequest{{LineItemID: "li1", Quantity: -3}} }, refundry.EINVALID, "lines[0].quantity"},
		{"ErrLineAmountNegative", func(r *refundry.RefundRequest) {
			r.Lines = []refundry.LineRequest{{LineItemID: "li1", Quantity: 1, Amount: amt(-1)}}
		}, refundry.EINVALID, "lines[0].amount"},
		{"ErrLineAmountZeroNoUnits", func(r *refundry.RefundRequest) { r.Lines = []refundry.LineRequest{{LineItemID: "li1", Amount: amt(0)}} }, refundry.EINVALID, "lines[0].amount"},
		{"ErrShippingZero", func(r *refundry.RefundRequest) { r.Shipping = &refundry.ShippingRequest{} }, refundry.EINVALID, "shipping"},
		{"ErrShippingOfTransaction", func(r *refundry.RefundRequest) {
			r.Target, r.Shipping = t1Target, &refundry.ShippingRequest{All: true}
		}, refundry.EINVALID, "shipping"},
		{"ErrNoTarget", func(r *refundry.RefundRequest) { r.Target = refundry.RefundTarget{} }, refundry.EINVALID, "sale"},
		{"ErrTwoTargets", func(r *refundry.RefundRequest) { r.Target.TransactionID = "t1" }, refundry.EINVALID, "sale"},
		{"ErrThreeTargets", func(r *refundry.RefundRequest) {
			r.Target = refundry.RefundTarget{SaleID: "s", LineItemID: "l", TransactionID: "t"}
		}, refundry.EINVALID, "sale"},
		{"ErrAmountZero", func(r *refundry.RefundRequest) { r.Amount = amt(0) }, refundry.EINVALID, "amount"},
		{"ErrAmountNegative", func(r *refundry.RefundRequest) { r.Amount = amt(-1) }, refundry.EINVALID, "amount"},
		{"ErrAmountTooLarge", func(r *refundry.RefundRequest) { r.Amount = amt(maxAmount + 1) }, refundry.ETOOLARGE, "amount"},
		{"ErrFeeNegative", func(r *refundry.RefundRequest) { r.Fee = -1 }, refundry.EINVALID, "fee"},
		{"ErrRefundedAtBefore1970", func(r *refundry.RefundRequest) { r.RefundedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, refundry.EINVALID, "refunded_at"},
		{"ErrRefundedAtAfter9999", func(r *refundry.RefundRequest) { r.RefundedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, refundry.EINVALID, "refunded_at"},
		{"ErrReasonNUL", func(r *refundry.RefundRequest) { r.Reason = "a\x00b" }, refundry.EINVALID, "reason"},
		{"ErrNameInvalidUTF8", func(r *refundry.RefundRequest) { r.Name = "\xff\xfe" }, refundry.EINVALID, "name"},
		{"ErrMetadataInvalidUTF8", func(r *refundry.RefundRequest) { r.Metadata = json.RawMessage("{\"a\":\"\xff\"}") }, refundry.EINVALID, "metadata"},
		{"ErrFeeAboveAmount", func(r *refundry.RefundRequest) { r.Amount, r.Fee = amt(500), 501 }, refundry.EINVALID, "fee"},
		{"ErrReasonTooLong", func(r *refundry.RefundRequest) { r.Reason = strings.Repeat("x", 501) }, refundry.EINVALID, "reason"},
		{"ErrMetadataTooLarge", func(r *refundry.RefundRequest) { r.Metadata = bigJSON(refundry.MaxMetadata + 1) }, refundry.EINVALID, "metadata"},
		{"ErrMetadataInvalid", func(r *refundry.RefundRequest) { r.Metadata = json.RawMessage(`{"a":`) }, refundry.EINVALID, "metadata"},
		{"ErrMetadataTrailingJunk", func(r *refundry.RefundRequest) { r.Metadata = json.RawMessage(`{} x`) }, refundry.EINVALID, "metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mutate(r)
			checkValidate(t, r.Validate(), tt.code, tt.param)
		})
	}
}

// bigJSON returns a valid JSON object of exactly n bytes.
func bigJSON(n int) json.RawMessage {
	const frame = `{"k":""}`
	return json.RawMessage(`{"k":"` + strings.Repeat("a", n-len(frame)) + `"}`)
}

func TestRefundFinal(t *testing.T) {
	for _, tt := range []struct {
		status string
		want   bool
	}{
		{refundry.RefundPending, false},
		{refundry.RefundSucceeded, true},
		{refundry.RefundFailed, true},
		{refundry.RefundCanceled, true},
	} {
		t.Run(tt.status, func(t *testing.T) {
			if got := (&refundry.Refund{Status: tt.status}).Final(); got != tt.want {
				t.Fatalf("Final() = %v for %s, want %v", got, tt.status, tt.want)
			}
		})
	}
}

func TestRefundRefusal(t *testing.T) {
	for _, tt := range []struct {
		name, status, reason, want string
	}{
		{"Succeeded", refundry.RefundSucceeded, "", ""},
		{"Pending", refundry.RefundPending, "", ""},
		{"FailedWithReason", refundry.RefundFailed, "card expired", "card expired"},
		{"FailedWithoutReason", refundry.RefundFailed, "", "The payment gateway refused the refund."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := (&refundry.Refund{Status: tt.status, FailureReason: tt.reason}).Refusal()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Refusal() = %v", err)
				}
				return
			}
			if refundry.ErrorCode(err) != refundry.EGATEWAY || refundry.ErrorMessage(err) != tt.want {
				t.Fatalf("Refusal() = %v", err)
			}
		})
	}
}

// Only a succeeded refund has a refund time; one that succeeds later is
// dated then, unless its client dated it.
func TestRefundSettleAndRefundTime(t *testing.T) {
	created := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	settled := created.Add(5 * time.Minute)
	clientDate := created.Add(-24 * time.Hour)
	for _, tc := range []struct {
		name       string
		refundedAt time.Time // as stored at creation
		status     string
		want       time.Time // zero: no refund time
	}{
		{"SucceededDatedNow", created, refundry.RefundSucceeded, settled},
		{"SucceededKeepsClientDate", clientDate, refundry.RefundSucceeded, clientDate},
		{"FailedHasNone", created, refundry.RefundFailed, time.Time{}},
		{"CanceledHasNone", clientDate, refundry.RefundCanceled, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &refundry.Refund{Status: refundry.RefundPending, RefundedAt: tc.refundedAt, Created: created, Updated: created}
			if _, ok := r.RefundTime(); ok {
				t.Fatal("a pending refund has a refund time")
			}
			r.Settle(refundry.Settlement{Status: tc.status, GatewayRefundID: "re_1"}, settled)
			at, ok := r.RefundTime()
			if r.Status != tc.status || r.GatewayRefundID != "re_1" || !r.Updated.Equal(settled) || ok != !tc.want.IsZero() || !at.Equal(tc.want) {
				t.Fatalf("after settling %s: %+v; refund time %v, %v; want %v", tc.status, r, at, ok, tc.want)
			}
		})
	}
}
