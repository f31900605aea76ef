package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testSales(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		before := time.Now().UTC().Truncate(time.Microsecond)
		sale := NewSale(m.ID, Payments(1000, 2500), PaymentReferences("pa-"+refundry.NewID(), "pb-"+refundry.NewID()))
		replayed, err := s.CreateSale(ctx, sale, nil)
		if err != nil {
			t.Fatal(err)
		}
		if replayed {
			t.Fatal("replayed without an idempotency key")
		}
		checkID(t, "sale.ID", sale.ID)
		checkID(t, "customer.ID", sale.Customer.ID)
		checkTime(t, "sale.Created", sale.Created)
		if sale.Created.Before(before) || sale.Created.After(time.Now().Add(time.Second)) {
			t.Fatalf("sale.Created = %v, want about now", sale.Created)
		}
		if sale.Status != refundry.PaymentPaid || sale.RefundedAmount != 0 || sale.Amount != 3500 {
			t.Fatalf("sale = %+v", sale)
		}
		for _, li := range sale.LineItems {
			checkID(t, "line_item.ID", li.ID)
			if li.SaleID != sale.ID {
				t.Fatalf("line item sale = %q, want %q", li.SaleID, sale.ID)
			}
		}
		for _, tx := range sale.Transactions {
			checkID(t, "transaction.ID", tx.ID)
			checkTime(t, "transaction.Created", tx.Created)
			if tx.SaleID != sale.ID || tx.Number <= 0 || tx.Status != refundry.PaymentPaid || tx.Currency != "USD" {
				t.Fatalf("transaction = %+v", tx)
			}
		}
		if sale.Transactions[0].Number == sale.Transactions[1].Number {
			t.Fatalf("two transactions share number %d", sale.Transactions[0].Number)
		}
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.MerchantID != m.ID {
			t.Fatalf("MerchantID = %q, want %q", got.MerchantID, m.ID)
		}
		sameJSON(t, "FindSale", got, sale)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := NewSale(m.ID)
		sale.Transactions[0].Amount++ // payments no longer add up to the line items
		_, err := s.CreateSale(ctx, sale, nil)
		wantCode(t, err, refundry.EINVALID)
	})

	t.Run("TransactionNumbers", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		seen := map[int64]bool{}
		for range 3 {
			sale := MustCreateSale(t, s, m.ID, Lines(100, 200, 300), Payments(100, 200, 300))
			for _, tx := range sale.Transactions {
				if tx.Number <= 0 || seen[tx.Number] {
					t.Fatalf("transaction number %d is not positive and distinct", tx.Number)
				}
				seen[tx.Number] = true
			}
		}
	})

	t.Run("Customer", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		email := "same-" + refundry.NewID() + "@example.com"
		a := MustCreateSale(t, s, m.ID, Email(email))
		b := MustCreateSale(t, s, m.ID, Email(email))
		c := MustCreateSale(t, s, m.ID)
		d := MustCreateSale(t, s, other.ID, Email(email))
		if a.Customer.ID != b.Customer.ID {
			t.Fatalf("same email, two customers: %s, %s", a.Customer.ID, b.Customer.ID)
		}
		if c.Customer.ID == a.Customer.ID {
			t.Fatal("another email reused the customer")
		}
		if d.Customer.ID == a.Customer.ID {
			t.Fatal("another merchant's sale reused the customer")
		}
		if got := MustFindSale(t, s, m.ID, b.ID); got.Customer.Email != email || got.Customer.ID != a.Customer.ID {
			t.Fatalf("customer = %+v", got.Customer)
		}
	})

	// One customer per email, with the newest names a sale gave: a later
	// sale's names replace the earlier ones (both, as a pair), a sale that
	// names no one keeps them, and every sale of the customer shows them.
	t.Run("CustomerNamesNewestWin", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		email := "renamed-" + refundry.NewID() + "@example.com"
		first := MustCreateSale(t, s, m.ID, Email(email), Names("Ann", "Lee"))
		for _, step := range []struct {
			first, last         string // the new sale's names
			wantFirst, wantLast string
		}{
			{"Ann", "Smith", "Ann", "Smith"},
			{"", "", "Ann", "Smith"},
			{"Bo", "", "Bo", ""},
			{"Bo", "", "Bo", ""},
		} {
			sale := MustCreateSale(t, s, m.ID, Email(email), Names(step.first, step.last))
			for _, id := range []string{sale.ID, first.ID} {
				got := MustFindSale(t, s, m.ID, id).Customer
				if got.ID != first.Customer.ID || got.FirstName != step.wantFirst || got.LastName != step.wantLast {
					t.Fatalf("after a sale naming %q %q: customer = %+v, want %q %q", step.first, step.last, got, step.wantFirst, step.wantLast)
				}
			}
			if sale.Customer.FirstName != step.wantFirst || sale.Customer.LastName != step.wantLast {
				t.Fatalf("CreateSale returned customer %+v, want %q %q", sale.Customer, step.wantFirst, step.wantLast)
			}
		}
	})

	t.Run("Lookup", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500), PaymentReferences("pa-"+refundry.NewID(), "pb-"+refundry.NewID()))
		MustCreateSale(t, s, m.ID) // a neighbour that must not be found instead
		tx := sale.Transactions[1]
		for _, tt := range []struct {
			name string
			by   refundry.SaleLookup
		}{
			{"ID", refundry.SaleLookup{ID: sale.ID}},
			{"Reference", refundry.SaleLookup{Reference: sale.Reference}},
			{"LineItemID", refundry.SaleLookup{LineItemID: sale.LineItems[1].ID}},
			{"TransactionID", refundry.SaleLookup{TransactionID: tx.ID}},
			{"TransactionNumber", refundry.SaleLookup{TransactionNumber: tx.Number}},
			{"TransactionReference", refundry.SaleLookup{TransactionReference: tx.Reference}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.FindSale(ctx, m.ID, tt.by)
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, "FindSale", got, sale)
			})
			// Invariant 5: another merchant's sale is answered exactly
			// like a missing one.
			t.Run("ErrNotFound/"+tt.name, func(t *testing.T) {
				_, err := s.FindSale(ctx, other.ID, tt.by)
				wantCode(t, err, refundry.ENOTFOUND)
			})
		}
		for _, tt := range []struct {
			name string
			by   refundry.SaleLookup
		}{
			{"ID", refundry.SaleLookup{ID: refundry.NewID()}},
			{"Reference", refundry.SaleLookup{Reference: "nope-" + refundry.NewID()}},
			{"LineItemID", refundry.SaleLookup{LineItemID: refundry.NewID()}},
			{"TransactionID", refundry.SaleLookup{TransactionID: refundry.NewID()}},
			{"TransactionNumber", refundry.SaleLookup{TransactionNumber: 1 << 60}},
			{"TransactionReference", refundry.SaleLookup{TransactionReference: "nope-" + refundry.NewID()}},
		} {
			t.Run("ErrMissing/"+tt.name, func(t *testing.T) {
				_, err := s.FindSale(ctx, m.ID, tt.by)
				wantCode(t, err, refundry.ENOTFOUND)
			})
		}
	})

	t.Run("ErrReferenceTaken", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		first := MustCreateSale(t, s, m.ID)
		dup := NewSale(m.ID, Reference(first.Reference))
		_, err := s.CreateSale(ctx, dup, nil)
		wantCode(t, err, refundry.ECONFLICT)
		// Nothing of the refused sale is kept: its payment reference is free.
		MustCreateSale(t, s, m.ID, PaymentReferences(dup.Transactions[0].Reference))
		// References are unique per merchant only.
		MustCreateSale(t, s, other.ID, Reference(first.Reference))
		// An empty reference is no reference: any number of sales have one.
		MustCreateSale(t, s, m.ID, Reference(""))
		MustCreateSale(t, s, m.ID, Reference(""))
	})

	t.Run("ErrPaymentReferenceTaken", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		first := MustCreateSale(t, s, m.ID)
		ref := first.Transactions[0].Reference
		_, err := s.CreateSale(ctx, NewSale(m.ID, PaymentReferences(ref)), nil)
		wantCode(t, err, refundry.ECONFLICT)
		same := "p-" + refundry.NewID()
		_, err = s.CreateSale(ctx, NewSale(m.ID, Payments(1000, 2500), PaymentReferences(same, same)), nil)
		wantCode(t, err, refundry.ECONFLICT)
		MustCreateSale(t, s, other.ID, PaymentReferences(ref))
		MustCreateSale(t, s, m.ID, Payments(1000, 2500), PaymentReferences("", ""))
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		key := idem("hash-1")
		first := NewSale(m.ID)
		if replayed, err := s.CreateSale(ctx, first, key); err != nil || replayed {
			t.Fatalf("CreateSale = %v, %v", replayed, err)
		}
		// A second sale stands for the retried request: the store fills it
		// in with the first sale and stores nothing of it.
		again := NewSale(m.ID)
		replayed, err := s.CreateSale(ctx, again, key)
		if err != nil {
			t.Fatal(err)
		}
		if !replayed {
			t.Fatal("replayed = false")
		}
		sameJSON(t, "replayed sale", again, first)
		if again.MerchantID != m.ID {
			t.Fatalf("replayed MerchantID = %q", again.MerchantID)
		}
		sales, _, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sales) != 1 {
			t.Fatalf("replay created a sale: %d sales", len(sales))
		}
		events, _, err := s.ListEvents(ctx, m.ID, refundry.EventFilter{Types: []string{refundry.EventSaleCreated}})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Fatalf("replay appended an event: %d sale.created", len(events))
		}

		t.Run("ErrIdempotency", func(t *testing.T) {
			_, err := s.CreateSale(ctx, NewSale(m.ID), &refundry.Idempotency{Key: key.Key, Hash: "hash-2"})
			wantCode(t, err, refundry.EIDEMPOTENCY)
		})
		t.Run("OtherMerchant", func(t *testing.T) {
			sale := NewSale(other.ID)
			replayed, err := s.CreateSale(ctx, sale, key)
			if err != nil || replayed {
				t.Fatalf("CreateSale with another merchant's key = %v, %v", replayed, err)
			}
			if sale.ID == first.ID {
				t.Fatal("keys leaked across merchants")
			}
		})
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		MustCreateSale(t, s, MustCreateMerchant(t, s).ID) // another merchant's, never listed
		var ids []string                                  // newest first
		for range 5 {
			ids = append([]string{MustCreateSale(t, s, m.ID).ID}, ids...)
		}
		for _, tt := range []struct {
			name string
			page refundry.Page
			want []string
			more bool
		}{
			{"All", refundry.Page{}, ids, false},
			{"First", refundry.Page{Limit: 2}, ids[:2], true},
			{"StartingAfter", refundry.Page{Limit: 2, StartingAfter: ids[1]}, ids[2:4], true},
			{"StartingAfterLast", refundry.Page{Limit: 2, StartingAfter: ids[3]}, ids[4:], false},
			{"StartingAfterEnd", refundry.Page{Limit: 2, StartingAfter: ids[4]}, nil, false},
			{"EndingBefore", refundry.Page{Limit: 2, EndingBefore: ids[4]}, ids[2:4], true},
			{"EndingBeforeFirst", refundry.Page{Limit: 2, EndingBefore: ids[2]}, ids[:2], false},
			{"EndingBeforeStart", refundry.Page{Limit: 2, EndingBefore: ids[0]}, nil, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, more, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{Page: tt.page})
				if err != nil {
					t.Fatal(err)
				}
				checkIDs(t, saleIDs(got), tt.want)
				if more != tt.more {
					t.Fatalf("hasMore = %v, want %v", more, tt.more)
				}
			})
		}
	})

	t.Run("ListFilters", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		email := "f-" + refundry.NewID() + "@example.com"
		paid := MustCreateSale(t, s, m.ID, Email(email))
		partial := MustCreateSale(t, s, m.ID, Email(email))
		refunded := MustCreateSale(t, s, m.ID)
		MustRefund(t, s, SaleRefund(m.ID, partial.ID, Amount(1)))
		MustRefund(t, s, SaleRefund(m.ID, refunded.ID, nil))
		for _, tt := range []struct {
			name string
			f    refundry.SaleFilter
			want []string
		}{
			{"Reference", refundry.SaleFilter{Reference: partial.Reference}, []string{partial.ID}},
			{"CustomerEmail", refundry.SaleFilter{CustomerEmail: email}, []string{partial.ID, paid.ID}},
			{"CustomerEmailAnyCase", refundry.SaleFilter{CustomerEmail: strings.ToUpper(email)}, []string{partial.ID, paid.ID}},
			{"CustomerEmailWhole", refundry.SaleFilter{CustomerEmail: email[:len(email)-1]}, nil},
			{"StatusPaid", refundry.SaleFilter{Status: refundry.PaymentPaid}, []string{paid.ID}},
			{"StatusPartiallyRefunded", refundry.SaleFilter{Status: refundry.PaymentPartiallyRefunded}, []string{partial.ID}},
			{"StatusRefunded", refundry.SaleFilter{Status: refundry.PaymentRefunded}, []string{refunded.ID}},
			{"Combined", refundry.SaleFilter{CustomerEmail: email, Status: refundry.PaymentPaid}, []string{paid.ID}},
			{"NoMatch", refundry.SaleFilter{Reference: "nope-" + refundry.NewID()}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, more, err := s.ListSales(ctx, m.ID, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				checkIDs(t, saleIDs(got), tt.want)
				if more {
					t.Fatal("hasMore = true")
				}
				for _, sale := range got {
					if sale.Status != refundry.PaymentState(sale.Amount, sale.RefundedAmount) {
						t.Fatalf("listed sale status %q does not match its amounts", sale.Status)
					}
				}
			})
		}
	})
}

// testSearch: a search finds sales by the start of an order number, an
// email or a name, in any case of A to Z, and nothing else; another
// merchant's sales are never found (invariant 5).
func testSearch(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	m := MustCreateMerchant(t, s)
	other := MustCreateMerchant(t, s)
	ann := MustCreateSale(t, s, m.ID, Reference("ORDER-1003"), Email("Ann@Example.com"), Names("Ann", "Smith"))
	ann2 := MustCreateSale(t, s, m.ID, Reference("order-2001"), Email("ann@example.com"), Names("Ann", "Smith"))
	bob := MustCreateSale(t, s, m.ID, Reference("B-77"), Email("bob@annex.example"), Names("Bob", "Annan"))
	emile := MustCreateSale(t, s, m.ID, Reference("É-1"), Email("emile@example.fr"), Names("Émile", "Zola"))
	odd := MustCreateSale(t, s, m.ID, Reference("Z\U0010FFFF"+"x"), Email("z@example.com"), Names("", ""))
	MustCreateSale(t, s, other.ID, Reference("ORDER-1004"), Email("ann@example.com"), Names("Ann", "Other"))

	for _, tt := range []struct {
		name   string
		search string
		want   []string
	}{
		{"EmailAnyCase", "ANN@EXAMPLE.COM", []string{ann2.ID, ann.ID}},
		{"EmailPrefix", "ann@", []string{ann2.ID, ann.ID}},
		{"ReferenceAnyCase", "order-1003", []string{ann.ID}},
		{"ReferencePrefix", "Order-", []string{ann2.ID, ann.ID}},
		{"FirstName", "ann", []string{bob.ID, ann2.ID, ann.ID}}, // Bob Annan by his last name
		{"FullName", "ann sm", []string{ann2.ID, ann.ID}},
		{"LastName", "ANNAN", []string{bob.ID}},
		{"NonASCIIAsTyped", "Émile", []string{emile.ID}},
		{"NonASCIINotFolded", "émile", nil},
		{"NoUpperBound", "z\U0010FFFF", []string{odd.ID}},
		{"NoMatch", "nobody", nil},
		{"LikeIsNotAPattern", "%", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{Search: tt.search})
			if err != nil {
				t.Fatal(err)
			}
			checkIDs(t, saleIDs(got), tt.want)
			if more {
				t.Fatal("hasMore = true")
			}
		})
	}
	t.Run("Pages", func(t *testing.T) {
		first, more, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{Search: "a", Page: refundry.Page{Limit: 1}})
		if err != nil || !more {
			t.Fatalf("first page: more %v, %v", more, err)
		}
		rest, _, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{Search: "a", Page: refundry.Page{StartingAfter: first[0].ID}})
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, saleIDs(append(first, rest...)), []string{bob.ID, ann2.ID, ann.ID})
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, f := range []refundry.SaleFilter{{Search: "a\x00"}, {Search: "\xff"}, {CustomerEmail: "\xc3@example.com"}} {
			if _, _, err := s.ListSales(ctx, m.ID, f); refundry.ErrorCode(err) != refundry.EINVALID {
				t.Errorf("%+q: %v, want EINVALID", f.Search+f.CustomerEmail, err)
			}
		}
	})
}

func checkID(tb testing.TB, what, id string) {
	tb.Helper()
	if len(id) != refundry.IDLength || !refundry.ValidID(id) {
		tb.Fatalf("%s = %q, want a %d-character id", what, id, refundry.IDLength)
	}
}

func checkIDs(tb testing.TB, got, want []string) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("ids = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			tb.Fatalf("ids = %v, want %v", got, want)
		}
	}
}

func saleIDs(sales []*refundry.Sale) []string {
	var ids []string
	for _, s := range sales {
		ids = append(ids, s.ID)
	}
	return ids
}
