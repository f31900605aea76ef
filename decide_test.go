package refundry_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// feeSale is a 10.00 USD sale paid 3.00 (t1) and then 7.00 (t2).
func feeSale() *refundry.Sale {
	return &refundry.Sale{
		ID: "sale1", MerchantID: "m1", Currency: "USD", Amount: 1000, Status: refundry.PaymentPaid,
		LineItems: []*refundry.LineItem{{ID: "li1", SaleID: "sale1", Name: "Ticket", Quantity: 1, UnitAmount: 1000, Amount: 1000}},
		Transactions: []*refundry.Transaction{
			{ID: "t1", SaleID: "sale1", Gateway: refundry.GatewaySimulator, Currency: "USD", Amount: 300},
			{ID: "t2", SaleID: "sale1", Gateway: refundry.GatewayStripe, Currency: "USD", Amount: 700},
		},
	}
}

func TestDecideRefund(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type want struct {
		txn         string
		amount, fee int64
		status      string
		notify      bool
	}
	pending, succeeded := refundry.RefundPending, refundry.RefundSucceeded
	amt := func(n int64) *int64 { return &n }
	for _, tt := range []struct {
		name    string
		target  refundry.RefundTarget
		amount  *int64
		fee     int64
		offsite bool
		exact   bool
		code    string
		want    []want
		events  []string
	}{
		// The fee of issue 16: 300 + 700 refunded 1000 with fee 500.
		{name: "FeeSpansRefunds", amount: amt(1000), fee: 500,
			want:   []want{{"t1", 300, 300, succeeded, false}, {"t2", 700, 200, pending, false}},
			events: []string{"refund.created", "refund.succeeded", "refund.created", "sale.refunded"}},
		{name: "FeeOnFirst", fee: 100,
			want:   []want{{"t1", 300, 100, pending, false}, {"t2", 700, 0, pending, false}},
			events: []string{"refund.created", "refund.created", "sale.refunded"}},
		{name: "FeeCoversAll", fee: 1000,
			want:   []want{{"t1", 300, 300, succeeded, false}, {"t2", 700, 700, succeeded, false}},
			events: []string{"refund.created", "refund.succeeded", "refund.created", "refund.succeeded", "sale.refunded"}},
		{name: "PartialNoFee", amount: amt(400),
			want:   []want{{"t1", 300, 0, pending, false}, {"t2", 100, 0, pending, false}},
			events: []string{"refund.created", "refund.created"}},
		{name: "OffsiteNotifies", amount: amt(500), fee: 300, offsite: true,
			want:   []want{{"t1", 300, 300, succeeded, false}, {"t2", 200, 0, succeeded, true}},
			events: []string{"refund.created", "refund.succeeded", "refund.created", "refund.succeeded"}},
		{name: "ExactRemainder", target: refundry.RefundTarget{TransactionID: "t2"}, amount: amt(700), exact: true,
			want: []want{{"t2", 700, 0, pending, false}}, events: []string{"refund.created"}},
		{name: "ErrFeeAboveRemainder", fee: 1001, code: refundry.EINVALID},
		{name: "ErrFeeAboveAmount", amount: amt(200), fee: 201, code: refundry.EINVALID},
		{name: "ErrNegativeFee", fee: -1, code: refundry.EINVALID},
		{name: "ErrExactBelow", target: refundry.RefundTarget{TransactionID: "t2"}, amount: amt(699), exact: true, code: refundry.EINVALID},
		{name: "ErrExactAbove", target: refundry.RefundTarget{TransactionID: "t2"}, amount: amt(701), exact: true, code: refundry.ETOOLARGE},
		{name: "ErrOverRefund", amount: amt(1001), code: refundry.ETOOLARGE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sale := feeSale()
			target := tt.target
			if target == (refundry.RefundTarget{}) {
				target.SaleID = sale.ID
			}
			req := refundry.RefundRequest{MerchantID: "m1", Target: target, Amount: tt.amount, Fee: tt.fee,
				Offsite: tt.offsite, ExactRemainder: tt.exact, NotifyCustomer: true, Source: refundry.SourceNative}
			d, err := refundry.DecideRefund(sale, req, now)
			if !reflect.DeepEqual(sale, feeSale()) {
				t.Fatal("DecideRefund changed the sale it was given")
			}
			if tt.code != "" {
				if refundry.ErrorCode(err) != tt.code || d != nil {
					t.Fatalf("DecideRefund = %+v, %v; want code %q", d, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Refunds) != len(tt.want) {
				t.Fatalf("%d refunds, want %d", len(d.Refunds), len(tt.want))
			}
			var total int64
			var notified []string
			for _, r := range d.Notify {
				notified = append(notified, r.TransactionID)
			}
			var wantNotified []string
			for i, r := range d.Refunds {
				w := tt.want[i]
				if r.TransactionID != w.txn || r.Amount != w.amount || r.Fee != w.fee || r.Status != w.status ||
					r.Group != d.Refunds[0].ID || !r.Created.Equal(now) || r.SaleID != sale.ID {
					t.Fatalf("refund %d = %+v, want %+v", i, r, w)
				}
				if w.notify {
					wantNotified = append(wantNotified, w.txn)
				}
				if d.Audit[i].ObjectID != r.ID || d.Audit[i].Action != refundry.AuditRefundCreate {
					t.Fatalf("audit %d = %+v", i, d.Audit[i])
				}
				total += r.Amount
			}
			if !reflect.DeepEqual(notified, wantNotified) {
				t.Fatalf("notified %v, want %v", notified, wantNotified)
			}
			var types []string
			for _, e := range d.Events {
				types = append(types, e.Type)
			}
			if !reflect.DeepEqual(types, tt.events) {
				t.Fatalf("events %v, want %v", types, tt.events)
			}
			// Every row moves once, by what its refunds hold, and the sale
			// returned is the sale with those moves made.
			sums := map[refundry.HoldKind]int64{}
			seen := map[string]bool{}
			for _, m := range d.Moves {
				key := string(rune('0'+m.Kind)) + m.ID
				if seen[key] {
					t.Fatalf("row %s moved twice: %+v", m.ID, d.Moves)
				}
				seen[key] = true
				sums[m.Kind] += m.Delta
			}
			// Every refund lands on lines: the sale's one line holds it all.
			if sums[refundry.OnSale] != total || sums[refundry.OnTransaction] != total || sums[refundry.OnLineItem] != total {
				t.Fatalf("moves %+v, want %d on the sale, its transactions and its lines", d.Moves, total)
			}
			if d.Sale.RefundedAmount != total || d.Sale.Status != refundry.PaymentState(d.Sale.Amount, total) {
				t.Fatalf("sale after = %+v, want %d refunded", d.Sale, total)
			}
		})
	}
}

func TestDecideSettlement(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	created := now.Add(-time.Minute)
	refund := func(status string) *refundry.Refund {
		return &refundry.Refund{ID: "r1", MerchantID: "m1", SaleID: "sale1", TransactionID: "t1", LineItemID: "li1",
			Amount: 500, Fee: 100, Status: status, NotifyCustomer: true, RefundedAt: created, Created: created, Updated: created}
	}
	for _, tt := range []struct {
		name      string
		from      string
		st        refundry.Settlement
		code      string
		unchanged bool
		delta     int64 // on each row; 0: no moves
		event     string
		notify    bool
	}{
		{name: "Succeeded", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundSucceeded, GatewayRefundID: "re_1"},
			event: refundry.EventRefundSucceeded, notify: true},
		{name: "Failed", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundFailed, FailureReason: "declined", By: refundry.ByRecovery},
			delta: -500, event: refundry.EventRefundFailed},
		{name: "CanceledByClient", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient},
			delta: -500, event: refundry.EventRefundCanceled},
		{name: "Repeated", from: refundry.RefundFailed, st: refundry.Settlement{Status: refundry.RefundFailed}, unchanged: true},
		{name: "ErrClientSucceeds", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByClient}, code: refundry.ECONFLICT},
		{name: "ErrFinal", from: refundry.RefundSucceeded, st: refundry.Settlement{Status: refundry.RefundFailed}, code: refundry.ECONFLICT},
		{name: "ErrWithdrawnAfterApproval", from: refundry.RefundPending,
			st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, From: refundry.RefundRequiresApproval}, code: refundry.ECONFLICT},
		{name: "Withdrawn", from: refundry.RefundRequiresApproval,
			st:    refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, From: refundry.RefundRequiresApproval},
			delta: -500, event: refundry.EventRefundCanceled},
		{name: "PendingRepeated", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundPending}, unchanged: true},
		{name: "ErrClientRequiresAction", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByClient}, code: refundry.ECONFLICT},
		{name: "ErrUnknown", from: refundry.RefundPending, st: refundry.Settlement{Status: "refunded"}, code: refundry.EINVALID},
		// A withdrawal read the refund awaiting approval; an approval sent
		// it to its gateway meanwhile, so it is not canceled without the
		// gateway's word.
		{name: "WithdrawnAwaitingApproval", from: refundry.RefundRequiresApproval, st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, From: refundry.RefundRequiresApproval},
			delta: -500, event: refundry.EventRefundCanceled},
		{name: "ErrWithdrawnAfterApproval", from: refundry.RefundPending, st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, From: refundry.RefundRequiresApproval}, code: refundry.ECONFLICT},
		{name: "ErrWithdrawnTwice", from: refundry.RefundCanceled, st: refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, From: refundry.RefundRequiresApproval}, code: refundry.ECONFLICT},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := refund(tt.from)
			d, err := refundry.DecideSettlement(r, tt.st, now)
			if !reflect.DeepEqual(r, refund(tt.from)) {
				t.Fatal("DecideSettlement changed the refund it was given")
			}
			if tt.code != "" {
				if refundry.ErrorCode(err) != tt.code {
					t.Fatalf("DecideSettlement = %+v, %v; want code %q", d, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Unchanged != tt.unchanged {
				t.Fatalf("Unchanged = %v", d.Unchanged)
			}
			if tt.unchanged {
				if len(d.Moves)+len(d.Events)+len(d.Notify)+len(d.Audit) != 0 {
					t.Fatalf("a repeated settlement changes something: %+v", d)
				}
				return
			}
			if d.Refund.Status != tt.st.Status || d.From != tt.from || !d.Refund.Updated.Equal(now) {
				t.Fatalf("refund after = %+v (from %s)", d.Refund, d.From)
			}
			if len(d.Events) != 1 || d.Events[0].Type != tt.event || d.Events[0].ObjectID != "r1" {
				t.Fatalf("events = %+v, want one %s", d.Events, tt.event)
			}
			if (len(d.Notify) == 1) != tt.notify {
				t.Fatalf("notify = %v, want %v", d.Notify, tt.notify)
			}
			if tt.delta == 0 && len(d.Moves) != 0 {
				t.Fatalf("moves = %+v, want none", d.Moves)
			}
			if tt.delta != 0 {
				if len(d.Moves) != 3 {
					t.Fatalf("moves = %+v, want the transaction, the line item and the sale", d.Moves)
				}
				for _, m := range d.Moves {
					if m.Delta != tt.delta {
						t.Fatalf("moves = %+v, want %d each", d.Moves, tt.delta)
					}
				}
			}
			if len(d.Audit) != 1 || d.Audit[0].Action != refundry.SettleAction(refundry.RefundPending, tt.st.Status, tt.st.By) {
				t.Fatalf("audit = %+v", d.Audit)
			}
		})
	}
}
