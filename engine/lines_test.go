package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/storetest"
)

// 64 clients refund one unit each of a 10-unit line through the engine,
// with the gateway call between reservation and settlement: exactly 10
// succeed and move money, the rest are refused before any gateway hears
// of them, and a unit whose gateway refused it is refundable again.
func TestRefundUnitsConcurrently(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	sale := &refundry.Sale{MerchantID: env.A.ID, Currency: "USD",
		LineItems: []*refundry.LineItem{
			{Name: "Seat", Quantity: 10, UnitAmount: 1999, TaxAmount: 333},
			{Name: "Post", Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 490},
		},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator}}}
	if _, err := env.Engine.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	seat := sale.LineItems[0]
	one := refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Source: refundry.SourceNative,
		Lines: []refundry.LineRequest{{LineItemID: seat.ID, Quantity: 1}}}
	var ok, refused atomic.Int64
	var moved atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			res, err := env.Engine.Refund(ctx, one)
			switch refundry.ErrorCode(err) {
			case "":
				ok.Add(1)
				for _, r := range res.Refunds {
					if r.Status != refundry.RefundSucceeded || len(r.Lines) != 1 || r.Lines[0].Quantity != 1 {
						t.Errorf("refund %+v", r)
					}
					moved.Add(env.Sim.Moved(r.ID))
				}
			case refundry.EINVALID:
				refused.Add(1)
			default:
				t.Errorf("Refund: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 54 || moved.Load() != seat.Amount {
		t.Fatalf("%d refunded, %d refused, %d moved; want 10, 54 and the line's %d", ok.Load(), refused.Load(), moved.Load(), seat.Amount)
	}
	got := env.Reload(sale)
	if li := got.LineItems[0]; li.RefundedQuantity != 10 || li.RefundedAmount != li.Amount {
		t.Fatalf("line after = %+v", li)
	}
	storetest.CheckInvariants(t, env.Store, env.A.ID)

	// All the shipping: one unit, all its amount.
	res, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
		Source: refundry.SourceNative, Shipping: &refundry.ShippingRequest{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Refunds[0]; r.Amount != 490 || len(r.Lines) != 1 || r.Lines[0] != (refundry.RefundLine{LineItemID: sale.LineItems[1].ID, Quantity: 1, Amount: 490}) {
		t.Fatalf("shipping refund %+v", r)
	}
	storetest.CheckInvariants(t, env.Store, env.A.ID)
}

// A refund of units the gateway refuses fails, and its units and amount
// come back to the line: refundable again.
func TestRefundUnitsReleasedOnFailure(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	sale := &refundry.Sale{MerchantID: env.A.ID, Currency: "JPY",
		LineItems:    []*refundry.LineItem{{Name: "Cup", Quantity: 3, UnitAmount: 333, TaxAmount: 1}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Reference: "sim_fail-units"}}}
	if _, err := env.Engine.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	res, err := env.Engine.Refund(ctx, refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID},
		Source: refundry.SourceNative, Lines: []refundry.LineRequest{{LineItemID: sale.LineItems[0].ID, Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	// ¥1000 over 3 cups: the first two are 334 and 333.
	if r := res.Refunds[0]; r.Status != refundry.RefundFailed || r.Amount != 667 || r.Lines[0].Quantity != 2 {
		t.Fatalf("refund %+v", r)
	}
	if li := env.Reload(sale).LineItems[0]; li.RefundedQuantity != 0 || li.RefundedAmount != 0 {
		t.Fatalf("line after the failure = %+v", li)
	}
	storetest.CheckInvariants(t, env.Store, env.A.ID)
}
