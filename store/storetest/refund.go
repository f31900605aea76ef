package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testRefunds(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("Full", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		before := time.Now().UTC().Truncate(time.Microsecond)
		res := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil))
		if res.Replayed || len(res.Refunds) != 1 {
			t.Fatalf("result = %+v", res)
		}
		r := res.Refunds[0]
		checkID(t, "refund.ID", r.ID)
		checkTime(t, "refund.Created", r.Created)
		if r.Created.Before(before) {
			t.Fatalf("refund.Created = %v, before the request (%v)", r.Created, before)
		}
		if !r.RefundedAt.Equal(r.Created) || !r.Updated.Equal(r.Created) {
			t.Fatalf("RefundedAt %v, Updated %v, want Created %v", r.RefundedAt, r.Updated, r.Created)
		}
		want := refundry.Refund{
			ID: r.ID, MerchantID: m.ID, Group: r.ID, SaleID: sale.ID, TransactionID: sale.Transactions[0].ID,
			Amount: sale.Amount, Currency: sale.Currency, Status: refundry.RefundPending,
			Gateway: refundry.GatewaySimulator, Source: refundry.SourceNative,
			RefundedAt: r.Created, Created: r.Created, Updated: r.Created,
		}
		// A refund of the whole sale returns every line whole.
		for _, li := range sale.LineItems {
			want.Lines = append(want.Lines, refundry.RefundLine{LineItemID: li.ID, Amount: li.Amount})
		}
		sameJSON(t, "refund", r, want)
		if r.MerchantID != m.ID {
			t.Fatalf("MerchantID = %q", r.MerchantID)
		}
		if res.Sale.RefundedAmount != sale.Amount || res.Sale.Status != refundry.PaymentRefunded ||
			res.Sale.Transactions[0].RefundedAmount != sale.Amount || res.Sale.Transactions[0].Status != refundry.PaymentRefunded {
			t.Fatalf("sale after = %+v", res.Sale)
		}
		sameJSON(t, "result sale", res.Sale, MustFindSale(t, s, m.ID, sale.ID))
		got, err := s.FindRefund(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "FindRefund", got, r)
		CheckInvariants(t, s, m.ID)
	})

	t.Run("Partial", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID) // 35.00
		steps := []struct {
			amount   int64
			code     string
			refunded int64
			status   string
		}{
			{1000, "", 1000, refundry.PaymentPartiallyRefunded},
			{1000, "", 2000, refundry.PaymentPartiallyRefunded},
			{1501, refundry.ETOOLARGE, 2000, refundry.PaymentPartiallyRefunded},
			{1499, "", 3499, refundry.PaymentPartiallyRefunded},
			{2, refundry.ETOOLARGE, 3499, refundry.PaymentPartiallyRefunded},
			{1, "", 3500, refundry.PaymentRefunded},
			// Nothing left is already refunded, whatever the amount.
			{1, refundry.EREFUNDED, 3500, refundry.PaymentRefunded},
		}
		for i, st := range steps {
			res, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(st.amount)))
			if refundry.ErrorCode(err) != st.code {
				t.Fatalf("step %d: refund %d: err = %v, want code %q", i, st.amount, err, st.code)
			}
			if err == nil && (len(res.Refunds) != 1 || res.Refunds[0].Amount != st.amount) {
				t.Fatalf("step %d: refunds = %+v", i, res.Refunds)
			}
			got := MustFindSale(t, s, m.ID, sale.ID)
			if got.RefundedAmount != st.refunded || got.Status != st.status {
				t.Fatalf("step %d: sale refunded %d (%s), want %d (%s)", i, got.RefundedAmount, got.Status, st.refunded, st.status)
			}
		}
		_, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, nil))
		wantCode(t, err, refundry.EREFUNDED)
		CheckInvariants(t, s, m.ID)
	})

	t.Run("LineItem", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(1000, 2000))
		a, b := sale.LineItems[0], sale.LineItems[1]

		// Capped by the line item.
		_, err := s.CreateRefunds(ctx, LineItemRefund(m.ID, a.ID, Amount(1001)))
		wantCode(t, err, refundry.ETOOLARGE)
		res := MustRefund(t, s, LineItemRefund(m.ID, a.ID, nil))
		if r := res.Refunds[0]; r.Amount != 1000 || r.LineItemID != a.ID || r.TransactionID != sale.Transactions[0].ID {
			t.Fatalf("refund = %+v", r)
		}
		if li := res.Sale.LineItems[0]; li.RefundedAmount != 1000 {
			t.Fatalf("line item refunded = %d, want 1000", li.RefundedAmount)
		}
		_, err = s.CreateRefunds(ctx, LineItemRefund(m.ID, a.ID, Amount(1)))
		wantCode(t, err, refundry.EREFUNDED)
		_, err = s.CreateRefunds(ctx, LineItemRefund(m.ID, a.ID, nil))
		wantCode(t, err, refundry.EREFUNDED)

		// Capped by the sale: a transaction refund leaves 500 on the sale,
		// and lands on what remains, all of it on the second line.
		MustRefund(t, s, TransactionRefund(m.ID, sale.Transactions[0].ID, Amount(1500)))
		_, err = s.CreateRefunds(ctx, LineItemRefund(m.ID, b.ID, Amount(501)))
		wantCode(t, err, refundry.ETOOLARGE)
		res = MustRefund(t, s, LineItemRefund(m.ID, b.ID, nil))
		if res.Refunds[0].Amount != 500 {
			t.Fatalf("line item refund in full = %d, want what remains on the sale (500)", res.Refunds[0].Amount)
		}
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.LineItems[0].RefundedAmount != 1000 || got.LineItems[1].RefundedAmount != 2000 ||
			got.RefundedAmount != 3000 || got.Transactions[0].RefundedAmount != 3000 {
			t.Fatalf("sale after = %+v", got)
		}
		_, err = s.CreateRefunds(ctx, LineItemRefund(m.ID, b.ID, Amount(1)))
		wantCode(t, err, refundry.EREFUNDED)
		_, err = s.CreateRefunds(ctx, LineItemRefund(m.ID, b.ID, nil))
		wantCode(t, err, refundry.EREFUNDED)
		CheckInvariants(t, s, m.ID)
	})

	t.Run("Transaction", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
		t1, t2 := sale.Transactions[0], sale.Transactions[1]
		_, err := s.CreateRefunds(ctx, TransactionRefund(m.ID, t1.ID, Amount(1001)))
		wantCode(t, err, refundry.ETOOLARGE)
		res := MustRefund(t, s, TransactionRefund(m.ID, t2.ID, Amount(700)))
		if r := res.Refunds[0]; len(res.Refunds) != 1 || r.TransactionID != t2.ID || r.LineItemID != "" || r.Amount != 700 {
			t.Fatalf("refunds = %+v", res.Refunds)
		}
		res = MustRefund(t, s, TransactionRefund(m.ID, t2.ID, nil))
		if res.Refunds[0].Amount != 1800 {
			t.Fatalf("refund in full = %d, want 1800", res.Refunds[0].Amount)
		}
		_, err = s.CreateRefunds(ctx, TransactionRefund(m.ID, t2.ID, Amount(1)))
		wantCode(t, err, refundry.EREFUNDED)
		_, err = s.CreateRefunds(ctx, TransactionRefund(m.ID, t2.ID, nil))
		wantCode(t, err, refundry.EREFUNDED)
		got := MustFindSale(t, s, m.ID, sale.ID)
		if got.Transactions[0].RefundedAmount != 0 || got.Transactions[1].RefundedAmount != 2500 ||
			got.Transactions[1].Status != refundry.PaymentRefunded || got.Transactions[0].Status != refundry.PaymentPaid ||
			got.RefundedAmount != 2500 || got.Status != refundry.PaymentPartiallyRefunded {
			t.Fatalf("sale after = %+v", got)
		}
		// The transaction's refunds land on the sale's lines all the same.
		var onLines int64
		for _, li := range got.LineItems {
			onLines += li.RefundedAmount
		}
		if onLines != 2500 {
			t.Fatalf("lines refunded %d, want the transaction's 2500", onLines)
		}
		CheckInvariants(t, s, m.ID)
	})

	t.Run("SplitPayment", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		for _, tt := range []struct {
			name   string
			amount *int64
			want   []int64
		}{
			{"Partial", Amount(1500), []int64{1000, 500}},
			{"Full", nil, []int64{1000, 2500}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
				res := MustRefund(t, s, SaleRefund(m.ID, sale.ID, tt.amount))
				if len(res.Refunds) != len(tt.want) {
					t.Fatalf("%d refunds, want %d", len(res.Refunds), len(tt.want))
				}
				group := res.Refunds[0].ID
				for i, r := range res.Refunds {
					if r.TransactionID != sale.Transactions[i].ID || r.Amount != tt.want[i] || r.Group != group {
						t.Fatalf("refund %d = %+v, want %d on %s in group %s", i, r, tt.want[i], sale.Transactions[i].ID, group)
					}
				}
				got, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{Group: group})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("group lists %d refunds, want %d", len(got), len(tt.want))
				}
				CheckInvariants(t, s, m.ID)
			})
		}
	})

	t.Run("Offsite", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		for _, tt := range []struct {
			name    string
			opts    []SaleOption
			offsite bool
		}{
			{"Requested", nil, true},
			{"OffsitePayment", []SaleOption{Gateway(refundry.GatewayOffsite)}, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sale := MustCreateSale(t, s, m.ID, tt.opts...)
				req := SaleRefund(m.ID, sale.ID, Amount(100))
				req.Offsite = tt.offsite
				r := MustRefund(t, s, req).Refunds[0]
				if r.Status != refundry.RefundSucceeded || r.Gateway != refundry.GatewayOffsite || !r.Offsite {
					t.Fatalf("offsite refund = %+v, want succeeded through offsite", r)
				}
				events := listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: r.ID})
				checkEventTypes(t, events, refundry.EventRefundSucceeded, refundry.EventRefundCreated)
				CheckInvariants(t, s, m.ID)
			})
		}
	})

	t.Run("Fields", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Currency("JPY"), Lines(500, 700))
		at := time.Date(2024, 3, 1, 12, 34, 56, 789123456, time.FixedZone("CET", 3600))
		meta := json.RawMessage(`{"b": [1, 2.5, "x"], "a": {"nested": true}, "n": null}`)
		req := refundry.RefundRequest{
			MerchantID: m.ID, Target: refundry.RefundTarget{LineItemID: sale.LineItems[1].ID}, Amount: Amount(300),
			Fee: 20, Reason: "requested_by_customer", Metadata: meta, NotifyCustomer: true,
			Source: refundry.SourceJetti, Name: "Refund #1", ExternalID: "ext-1", CreatedSource: "pos",
			RefundedAt: at,
		}
		r := MustRefund(t, s, req).Refunds[0]
		got, err := s.FindRefund(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*refundry.Refund{r, got} {
			if x.Fee != 20 || x.Reason != req.Reason || !x.NotifyCustomer || x.Source != refundry.SourceJetti ||
				x.Name != req.Name || x.ExternalID != req.ExternalID || x.CreatedSource != req.CreatedSource ||
				x.Currency != "JPY" || x.LineItemID != sale.LineItems[1].ID || x.Offsite {
				t.Fatalf("refund = %+v", x)
			}
			if !jsonEqual(x.Metadata, meta) {
				t.Fatalf("metadata = %s, want %s", x.Metadata, meta)
			}
			checkTime(t, "RefundedAt", x.RefundedAt)
			if want := at.Truncate(time.Microsecond); !x.RefundedAt.Equal(want) {
				t.Fatalf("RefundedAt = %v, want %v", x.RefundedAt, want)
			}
		}
		sameJSON(t, "FindRefund", got, r)

		t.Run("NoMetadata", func(t *testing.T) {
			r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(1))).Refunds[0]
			got, err := s.FindRefund(ctx, m.ID, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Metadata) != 0 && string(got.Metadata) != "null" {
				t.Fatalf("metadata = %s, want none", got.Metadata)
			}
		})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		theirs := MustCreateSale(t, s, other.ID)
		for _, tt := range []struct {
			name string
			req  refundry.RefundRequest
		}{
			{"OtherMerchantSale", SaleRefund(m.ID, theirs.ID, nil)},
			{"OtherMerchantLineItem", LineItemRefund(m.ID, theirs.LineItems[0].ID, nil)},
			{"OtherMerchantTransaction", TransactionRefund(m.ID, theirs.Transactions[0].ID, nil)},
			{"MissingSale", SaleRefund(m.ID, refundry.NewID(), nil)},
			{"MissingLineItem", LineItemRefund(m.ID, refundry.NewID(), nil)},
			{"MissingTransaction", TransactionRefund(m.ID, refundry.NewID(), nil)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.CreateRefunds(ctx, tt.req)
				wantCode(t, err, refundry.ENOTFOUND)
			})
		}
		if got := MustFindSale(t, s, other.ID, theirs.ID); got.RefundedAmount != 0 {
			t.Fatal("another merchant's request refunded the sale")
		}
		r := MustRefund(t, s, SaleRefund(other.ID, theirs.ID, Amount(1))).Refunds[0]
		_, err := s.FindRefund(ctx, m.ID, r.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindRefund(ctx, m.ID, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
	})

	// A refund's fee is what the merchant keeps of the whole request: it
	// is taken from the refunds it makes, in order, never more than each
	// one's amount, and a refund the fee covers whole moves no money, so
	// it is recorded succeeded at once, without a gateway.
	t.Run("Fee", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		pending, succeeded := refundry.RefundPending, refundry.RefundSucceeded
		type want struct {
			amount, fee int64
			status      string
		}
		for _, tt := range []struct {
			name   string
			amount *int64
			fee    int64
			want   []want
		}{
			{"SpansRefunds", Amount(1000), 500, []want{{300, 300, succeeded}, {700, 200, pending}}},
			{"FirstOnly", nil, 100, []want{{300, 100, pending}, {700, 0, pending}}},
			{"CoversFirstExactly", nil, 300, []want{{300, 300, succeeded}, {700, 0, pending}}},
			{"CoversAll", nil, 1000, []want{{300, 300, succeeded}, {700, 700, succeeded}}},
			{"Partial", Amount(500), 400, []want{{300, 300, succeeded}, {200, 100, pending}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sale := MustCreateSale(t, s, m.ID, Lines(1000), Payments(300, 700))
				req := SaleRefund(m.ID, sale.ID, tt.amount)
				req.Fee = tt.fee
				res := MustRefund(t, s, req)
				if len(res.Refunds) != len(tt.want) {
					t.Fatalf("%d refunds, want %d", len(res.Refunds), len(tt.want))
				}
				var total int64
				for i, r := range res.Refunds {
					w := tt.want[i]
					if r.Amount != w.amount || r.Fee != w.fee || r.Status != w.status ||
						r.Gateway != refundry.GatewaySimulator || r.Offsite || r.TransactionID != sale.Transactions[i].ID {
						t.Fatalf("refund %d = %+v, want %d with fee %d %s through the simulator", i, r, w.amount, w.fee, w.status)
					}
					found, err := s.FindRefund(ctx, m.ID, r.ID)
					if err != nil {
						t.Fatal(err)
					}
					sameJSON(t, "FindRefund", found, r)
					types := []string{refundry.EventRefundCreated}
					if w.status == succeeded {
						types = []string{refundry.EventRefundSucceeded, refundry.EventRefundCreated}
					}
					checkEventTypes(t, listEvents(t, s, m.ID, refundry.EventFilter{ObjectID: r.ID}), types...)
					total += r.Amount
				}
				if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != total {
					t.Fatalf("sale refunded %d, want %d", got.RefundedAmount, total)
				}
				CheckInvariants(t, s, m.ID)
			})
		}

		for _, tt := range []struct {
			name   string
			amount *int64
			fee    int64
		}{
			{"ErrAboveRemainder", nil, 1001},
			{"ErrAboveAmount", Amount(400), 401},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sale := MustCreateSale(t, s, m.ID, Lines(1000), Payments(300, 700))
				req := SaleRefund(m.ID, sale.ID, tt.amount)
				req.Fee = tt.fee
				before := len(listEvents(t, s, m.ID, refundry.EventFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}}))
				_, err := s.CreateRefunds(ctx, req)
				wantCode(t, err, refundry.EINVALID)
				if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 0 {
					t.Fatalf("a refused request reserved %d", got.RefundedAmount)
				}
				if after := len(listEvents(t, s, m.ID, refundry.EventFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}})); after != before {
					t.Fatalf("a refused request appended %d events", after-before)
				}
			})
		}
	})

	// Payop's refundType 1 with an amount: the amount must be all that
	// remains, decided under the store's lock with the amount itself.
	t.Run("ExactRemainder", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(1000), Payments(300, 700))
		txn := sale.Transactions[1]
		MustRefund(t, s, TransactionRefund(m.ID, txn.ID, Amount(100)))
		for _, tt := range []struct {
			name   string
			amount *int64
			code   string
		}{
			{"Below", Amount(599), refundry.EINVALID},
			{"WhatItWasBefore", Amount(700), refundry.ETOOLARGE},
			{"Exact", Amount(600), ""},
			{"NothingLeft", Amount(600), refundry.EREFUNDED},
		} {
			req := TransactionRefund(m.ID, txn.ID, tt.amount)
			req.ExactRemainder = true
			_, err := s.CreateRefunds(ctx, req)
			if tt.code == "" && err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if tt.code != "" {
				wantCode(t, err, tt.code)
			}
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 700 {
			t.Fatalf("sale refunded %d, want 700", got.RefundedAmount)
		}
		CheckInvariants(t, s, m.ID)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		for _, tt := range []struct {
			name string
			req  refundry.RefundRequest
		}{
			{"ZeroAmount", SaleRefund(m.ID, sale.ID, Amount(0))},
			{"NegativeAmount", SaleRefund(m.ID, sale.ID, Amount(-5))},
			{"TwoTargets", refundry.RefundRequest{MerchantID: m.ID, Target: refundry.RefundTarget{SaleID: sale.ID, TransactionID: sale.Transactions[0].ID}}},
			{"NoTarget", refundry.RefundRequest{MerchantID: m.ID}},
			{"BadMetadata", func() refundry.RefundRequest {
				r := SaleRefund(m.ID, sale.ID, nil)
				r.Metadata = json.RawMessage(`{"a":`)
				return r
			}()},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.CreateRefunds(ctx, tt.req)
				wantCode(t, err, refundry.EINVALID)
			})
		}
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 0 {
			t.Fatal("a refused request reserved money")
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Payments(1000, 2500))
		req := SaleRefund(m.ID, sale.ID, Amount(1500))
		req.Idempotency = idem("h1")
		first := MustRefund(t, s, req)
		again := MustRefund(t, s, req)
		if !again.Replayed || first.Replayed {
			t.Fatalf("replayed = %v then %v, want false then true", first.Replayed, again.Replayed)
		}
		sameJSON(t, "replayed refunds", again.Refunds, first.Refunds)
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 1500 {
			t.Fatalf("sale refunded = %d after a replay, want 1500", got.RefundedAmount)
		}
		if again.Sale == nil || again.Sale.ID != sale.ID {
			t.Fatalf("replayed result's sale = %+v", again.Sale)
		}
		refunds, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(refunds) != 2 {
			t.Fatalf("%d refunds stored, want 2", len(refunds))
		}
		events := listEvents(t, s, m.ID, refundry.EventFilter{Types: []string{refundry.EventRefundCreated}})
		if len(events) != 2 {
			t.Fatalf("%d refund.created events, want 2", len(events))
		}

		t.Run("ErrIdempotency", func(t *testing.T) {
			other := SaleRefund(m.ID, sale.ID, Amount(1))
			other.Idempotency = &refundry.Idempotency{Key: req.Idempotency.Key, Hash: "h2"}
			_, err := s.CreateRefunds(ctx, other)
			wantCode(t, err, refundry.EIDEMPOTENCY)
		})
		t.Run("OtherMerchant", func(t *testing.T) {
			other := MustCreateMerchant(t, s)
			theirs := MustCreateSale(t, s, other.ID)
			same := SaleRefund(other.ID, theirs.ID, Amount(1500))
			same.Idempotency = &refundry.Idempotency{Key: req.Idempotency.Key, Hash: "h1"}
			res := MustRefund(t, s, same)
			if res.Replayed || res.Refunds[0].SaleID != theirs.ID {
				t.Fatalf("another merchant's key was replayed: %+v", res.Refunds[0])
			}
		})
		t.Run("KeyOfASale", func(t *testing.T) {
			key := idem("sale-hash")
			if _, err := s.CreateSale(ctx, NewSale(m.ID), key); err != nil {
				t.Fatal(err)
			}
			other := SaleRefund(m.ID, sale.ID, Amount(1))
			other.Idempotency = &refundry.Idempotency{Key: key.Key, Hash: "refund-hash"}
			_, err := s.CreateRefunds(ctx, other)
			wantCode(t, err, refundry.EIDEMPOTENCY)
		})
		t.Run("FailedRequestKeepsNoKey", func(t *testing.T) {
			// A refused request wrote nothing, its key included: the
			// client may retry it once it is valid.
			tooMuch := SaleRefund(m.ID, sale.ID, Amount(999999))
			tooMuch.Idempotency = idem("h3")
			_, err := s.CreateRefunds(ctx, tooMuch)
			wantCode(t, err, refundry.ETOOLARGE)
			ok := SaleRefund(m.ID, sale.ID, Amount(1))
			ok.Idempotency = &refundry.Idempotency{Key: tooMuch.Idempotency.Key, Hash: "h4"}
			if res := MustRefund(t, s, ok); res.Replayed {
				t.Fatal("a refused request's key was kept")
			}
		})
		CheckInvariants(t, s, m.ID)
	})
}
