package storetest

import (
	"context"
	"testing"

	"github.com/refundry/refundry"
)

// CheckInvariants walks every sale and refund of the merchant and asserts
// invariant 2 as stored: for every transaction, line item and sale,
// refunded_amount equals the sum of its refunds that hold money
// (refundry.RefundReserves: pending, succeeded, waiting for a person) and
// does not exceed what was paid; every refund lands on lines, and a
// line's refunded units are its refunds' and never above its count. Other packages' tests (the engine, the
// benchmarks) call it after hammering a store.
func CheckInvariants(t testing.TB, s refundry.Store, merchantID string) {
	t.Helper()
	ctx := context.Background()

	reserved := map[string]int64{} // by sale, transaction and line item id: ids never collide
	// Only a refund made at the gateway and adopted may take a row above
	// what was paid (sale.over_refunded): its money was gone already.
	adopted := map[string]bool{}
	units := map[string]int64{} // refunded by quantity, by line item
	var after string
	for {
		page, more, err := s.ListRefunds(ctx, merchantID, refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: after}})
		if err != nil {
			t.Fatalf("CheckInvariants: ListRefunds: %v", err)
		}
		for _, r := range page {
			if r.Amount <= 0 {
				t.Errorf("invariant 2: refund %s has amount %d", r.ID, r.Amount)
			}
			if !refundry.RefundReserves(r.Status) {
				continue
			}
			reserved[r.SaleID] += r.Amount
			reserved[r.TransactionID] += r.Amount
			// Every refund lands on lines; its lines add up to its amount
			// (an adopted over-refund's excess lands on none).
			var onLines int64
			for _, l := range r.Lines {
				reserved[l.LineItemID] += l.Amount
				units[l.LineItemID] += l.Quantity
				onLines += l.Amount
			}
			if onLines != r.Amount && !(r.Source == refundry.SourceGateway && onLines < r.Amount) {
				t.Errorf("refund %s of %d has lines adding up to %d: %+v", r.ID, r.Amount, onLines, r.Lines)
			}
			if r.Source == refundry.SourceGateway {
				adopted[r.SaleID], adopted[r.TransactionID] = true, true
			}
		}
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}

	check := func(kind, id string, amount, refunded int64) {
		t.Helper()
		if refunded != reserved[id] {
			t.Errorf("invariant 2: %s %s has refunded_amount %d, but its pending and succeeded refunds add up to %d", kind, id, refunded, reserved[id])
		}
		if refunded < 0 || refunded > amount && !adopted[id] {
			t.Errorf("invariant 2: %s %s has %d refunded of %d paid", kind, id, refunded, amount)
		}
	}
	after = ""
	for {
		page, more, err := s.ListSales(ctx, merchantID, refundry.SaleFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: after}})
		if err != nil {
			t.Fatalf("CheckInvariants: ListSales: %v", err)
		}
		for _, listed := range page {
			// FindSale, not the listed sale: the contract promises the
			// parts only there.
			sale, err := s.FindSale(ctx, merchantID, refundry.SaleLookup{ID: listed.ID})
			if err != nil {
				t.Fatalf("CheckInvariants: FindSale(%s): %v", listed.ID, err)
			}
			check("sale", sale.ID, sale.Amount, sale.RefundedAmount)
			var txRefunded int64
			for _, tx := range sale.Transactions {
				check("transaction", tx.ID, tx.Amount, tx.RefundedAmount)
				txRefunded += tx.RefundedAmount
			}
			if txRefunded != sale.RefundedAmount {
				t.Errorf("invariant 2: sale %s has %d refunded, its transactions %d", sale.ID, sale.RefundedAmount, txRefunded)
			}
			var linesRefunded int64
			for _, li := range sale.LineItems {
				check("line item", li.ID, li.Amount, li.RefundedAmount)
				if li.RefundedAmount > li.Amount {
					t.Errorf("invariant 2: line item %s has %d refunded of %d", li.ID, li.RefundedAmount, li.Amount)
				}
				if li.RefundedQuantity != units[li.ID] || li.RefundedQuantity < 0 || li.RefundedQuantity > li.Quantity {
					t.Errorf("invariant 2: line item %s has %d of %d units refunded, its refunds %d", li.ID, li.RefundedQuantity, li.Quantity, units[li.ID])
				}
				linesRefunded += li.RefundedAmount
			}
			if linesRefunded != min(sale.RefundedAmount, sale.Amount) {
				t.Errorf("sale %s has %d refunded, its lines %d", sale.ID, sale.RefundedAmount, linesRefunded)
			}
		}
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}
}
