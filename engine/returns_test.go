package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// returnSale makes a sale of 3 widgets at 10.00 (tax 3.00 in all) and 2
// gadgets at 5.00.
func returnSale(t *testing.T, env *testenv.Env) *refundry.Sale {
	t.Helper()
	s := &refundry.Sale{MerchantID: env.A.ID, Currency: "USD",
		LineItems: []*refundry.LineItem{
			{Name: "Widget", Quantity: 3, UnitAmount: 1000, TaxAmount: 300},
			{Name: "Gadget", Quantity: 2, UnitAmount: 500},
		},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}},
	}
	if _, err := env.Engine.CreateSale(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	return env.Reload(s)
}

func TestReturnFlow(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := returnSale(t, env)
	widget := sale.LineItems[0]
	r := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Reason: "damaged",
		Lines: []refundry.ReturnLine{{LineItemID: widget.ID, Quantity: 2}}}
	if _, err := env.Engine.CreateReturn(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	// Not received yet: no refund.
	if _, _, err := env.Engine.RefundReturn(ctx, env.A.ID, r.ID, 0); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("refund of a requested return: %v, want ECONFLICT", err)
	}
	got, err := env.Engine.ReceiveReturn(ctx, env.A.ID, r.ID)
	if err != nil || got.Status != refundry.ReturnReceived || got.ReceivedAt.IsZero() {
		t.Fatalf("receive: %+v %v", got, err)
	}
	// Receiving twice answers the return as it is.
	if again, err := env.Engine.ReceiveReturn(ctx, env.A.ID, r.ID); err != nil || !again.ReceivedAt.Equal(got.ReceivedAt) {
		t.Fatalf("receive again: %v", err)
	}
	// Two of three widgets with their tax: 2×1000 + 200 = 2200. A fee
	// above it is refused naming restocking_fee, and nothing moves.
	for _, fee := range []int64{2201, -1} {
		_, _, err := env.Engine.RefundReturn(ctx, env.A.ID, r.ID, fee)
		if refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "restocking_fee" {
			t.Fatalf("fee %d: %v", fee, err)
		}
	}
	if s := env.Reload(sale); s.RefundedAmount != 0 {
		t.Fatalf("a refused fee refunded %d", s.RefundedAmount)
	}
	got, res, err := env.Engine.RefundReturn(ctx, env.A.ID, r.ID, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refunds) != 1 {
		t.Fatalf("%d refunds", len(res.Refunds))
	}
	rf := res.Refunds[0]
	if rf.Amount != 2200 || rf.Fee != 300 || rf.ReturnID != r.ID || rf.Status != refundry.RefundSucceeded {
		t.Fatalf("refund %+v", rf)
	}
	if len(rf.Lines) != 1 || rf.Lines[0].LineItemID != widget.ID || rf.Lines[0].Quantity != 2 || rf.Lines[0].Amount != 2200 {
		t.Fatalf("refund lines %+v", rf.Lines)
	}
	if env.Sim.Moved(rf.ID) != 1900 {
		t.Fatalf("the gateway moved %d, want 2200 less the 300 fee", env.Sim.Moved(rf.ID))
	}
	if got.Status != refundry.ReturnRefunded || got.RestockingFee != 300 || len(got.RefundIDs) != 1 || got.RefundIDs[0] != rf.ID {
		t.Fatalf("return %+v", got)
	}
	s := env.Reload(sale)
	if s.LineItems[0].RefundedQuantity != 2 || s.LineItems[0].RefundedAmount != 2200 {
		t.Fatalf("widget line %+v", s.LineItems[0])
	}
	// Refunding again answers the refunded return, refunding nothing.
	if again, res, err := env.Engine.RefundReturn(ctx, env.A.ID, r.ID, 0); err != nil || again.Status != refundry.ReturnRefunded || res != nil {
		t.Fatalf("refund again: %v %v", again, err)
	}
	// The refunded units count as refunded: one widget is left to return.
	over := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: []refundry.ReturnLine{{LineItemID: widget.ID, Quantity: 2}}}
	if _, err := env.Engine.CreateReturn(ctx, over, nil); refundry.ErrorParam(err) != "lines[0].quantity" {
		t.Fatalf("returning refunded units: %v", err)
	}
	// A refunded return cannot be canceled.
	if _, err := env.Engine.CancelReturn(ctx, env.A.ID, r.ID); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("cancel refunded: %v", err)
	}
	// Another merchant sees none of it (invariant 5).
	if _, _, err := env.Engine.RefundReturn(ctx, env.B.ID, r.ID, 0); refundry.ErrorCode(err) != refundry.ENOTFOUND {
		t.Fatalf("other merchant: %v", err)
	}
	evs, _, err := env.Engine.ListEvents(ctx, env.A.ID, refundry.EventFilter{ObjectID: r.ID})
	if err != nil || len(evs) != 3 || evs[0].Type != refundry.EventReturnRefunded {
		t.Fatalf("events %d %v", len(evs), err)
	}
}

// failingReturns fails UpdateReturn while fail is set, as a crash between
// the refund and the return's update would leave things.
type failingReturns struct {
	refundry.ReturnStore
	fail atomic.Bool
}

func (f *failingReturns) UpdateReturn(ctx context.Context, r *refundry.Return, from string) error {
	if f.fail.Load() && r.Status == refundry.ReturnRefunded {
		return errors.New("disk full")
	}
	return f.ReturnStore.UpdateReturn(ctx, r, from)
}

// A retry after the refund was made but the return not marked replays
// the same refund: the money moves once, and the return ends refunded
// with the fee the refund kept.
func TestRefundReturnRetryNeverRefundsTwice(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	stores := refundry.StoresOf(env.Store)
	fr := &failingReturns{ReturnStore: env.Store}
	stores.Returns = fr
	eng := engine.NewStores(stores, env.Logger, env.Sim)
	sale := returnSale(t, env)
	r := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: []refundry.ReturnLine{{LineItemID: sale.LineItems[1].ID, Quantity: 2}}}
	if _, err := eng.CreateReturn(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ReceiveReturn(ctx, env.A.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	fr.fail.Store(true)
	if _, _, err := eng.RefundReturn(ctx, env.A.ID, r.ID, 100); err == nil {
		t.Fatal("the failing update went unnoticed")
	}
	// The refund exists, so the return can no longer be canceled.
	if _, err := eng.CancelReturn(ctx, env.A.ID, r.ID); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("cancel while refunding: %v", err)
	}
	fr.fail.Store(false)
	got, res, err := eng.RefundReturn(ctx, env.A.ID, r.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Replayed || got.Status != refundry.ReturnRefunded || got.RestockingFee != 100 {
		t.Fatalf("retry: replayed %v, %+v", res.Replayed, got)
	}
	refunds, _, err := eng.ListRefunds(ctx, env.A.ID, refundry.RefundFilter{SaleID: sale.ID})
	if err != nil || len(refunds) != 1 {
		t.Fatalf("%d refunds, want 1 (%v)", len(refunds), err)
	}
	if env.Sim.Moved(refunds[0].ID) != 900 {
		t.Fatalf("moved %d, want 1000 less 100 once", env.Sim.Moved(refunds[0].ID))
	}
	if env.Reload(sale).RefundedAmount != 1000 {
		t.Fatalf("sale refunded %d", env.Reload(sale).RefundedAmount)
	}
}

// Canceling a return frees its units for another.
func TestCancelReturnFreesUnits(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := returnSale(t, env)
	lines := []refundry.ReturnLine{{LineItemID: sale.LineItems[0].ID, Quantity: 3}}
	first := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: lines}
	if _, err := env.Engine.CreateReturn(ctx, first, nil); err != nil {
		t.Fatal(err)
	}
	second := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: lines}
	if _, err := env.Engine.CreateReturn(ctx, second, nil); refundry.ErrorCode(err) != refundry.EINVALID {
		t.Fatalf("second claim: %v", err)
	}
	if c, err := env.Engine.CancelReturn(ctx, env.A.ID, first.ID); err != nil || c.Status != refundry.ReturnCanceled {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := env.Engine.ReceiveReturn(ctx, env.A.ID, first.ID); refundry.ErrorCode(err) != refundry.ECONFLICT {
		t.Fatalf("receive canceled: %v", err)
	}
	if _, err := env.Engine.CreateReturn(ctx, second, nil); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}

// reasonsOf is a reason store that keeps the given codes for everyone.
type reasonsOf struct {
	refundry.ReasonStore
	codes []string
}

func (r reasonsOf) ListRefundReasons(context.Context, string) ([]*refundry.RefundReason, error) {
	var out []*refundry.RefundReason
	for _, c := range r.codes {
		out = append(out, &refundry.RefundReason{Code: c})
	}
	return out, nil
}

// A return's reason must be one of the merchant's codes, checked when it
// is requested, since its refund carries it.
func TestReturnReasonIsACode(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	stores := refundry.StoresOf(env.Store)
	stores.Reasons = reasonsOf{codes: []string{"damaged", "other"}}
	eng := engine.NewStores(stores, env.Logger, env.Sim)
	sale := returnSale(t, env)
	lines := []refundry.ReturnLine{{LineItemID: sale.LineItems[0].ID, Quantity: 1}}
	bad := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: lines, Reason: "it broke"}
	if _, err := eng.CreateReturn(ctx, bad, nil); refundry.ErrorCode(err) != refundry.EINVALID || refundry.ErrorParam(err) != "reason" {
		t.Fatalf("free text as reason: %v", err)
	}
	for _, reason := range []string{"damaged", ""} {
		ok := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: lines, Reason: reason, Description: "it broke"}
		if _, err := eng.CreateReturn(ctx, ok, nil); err != nil {
			t.Fatalf("reason %q: %v", reason, err)
		}
		if _, err := eng.CancelReturn(ctx, env.A.ID, ok.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// Refunding one return from many clients at once refunds it once: each
// gets the refunded return, and the money moves once.
func TestRefundReturnConcurrent(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	sale := returnSale(t, env)
	r := &refundry.Return{MerchantID: env.A.ID, SaleID: sale.ID, Lines: []refundry.ReturnLine{{LineItemID: sale.LineItems[0].ID, Quantity: 3}}}
	if _, err := env.Engine.CreateReturn(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Engine.ReceiveReturn(ctx, env.A.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	const clients = 8
	errs := make(chan error, clients)
	for range clients {
		go func() {
			got, _, err := env.Engine.RefundReturn(ctx, env.A.ID, r.ID, 100)
			if err == nil && got.Status != refundry.ReturnRefunded {
				err = errors.New("answered " + got.Status)
			}
			errs <- err
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	refunds, _, err := env.Engine.ListRefunds(ctx, env.A.ID, refundry.RefundFilter{SaleID: sale.ID})
	if err != nil || len(refunds) != 1 {
		t.Fatalf("%d refunds, want 1 (%v)", len(refunds), err)
	}
	if moved := env.Sim.Moved(refunds[0].ID); moved != 3300-100 {
		t.Fatalf("moved %d", moved)
	}
}
