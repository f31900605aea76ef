package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// NewAccount returns a validated account of the merchant, sealed as a
// store receives it (the bytes stand for a ciphertext: a store never
// reads them).
func NewAccount(merchantID, kind string) *refundry.GatewayAccount {
	a := &refundry.GatewayAccount{ID: refundry.NewID(), MerchantID: merchantID, Kind: kind, BaseURL: "https://provider.example/" + kind,
		Credentials: map[string]string{}}
	for _, f := range refundry.AccountKinds[kind].Credentials {
		a.Credentials[f] = "secret-" + f + "-0123456789"
	}
	if err := a.Validate(); err != nil {
		panic("storetest: NewAccount built an invalid account: " + err.Error())
	}
	a.Credentials = nil
	a.Sealed, a.KeyID = []byte("sealed:"+a.ID), "key-a"
	return a
}

// MustCreateAccount stores NewAccount(merchantID, kind).
func MustCreateAccount(tb testing.TB, s refundry.Store, merchantID, kind string) *refundry.GatewayAccount {
	tb.Helper()
	a := NewAccount(merchantID, kind)
	if err := s.CreateGatewayAccount(context.Background(), a); err != nil {
		tb.Fatalf("CreateGatewayAccount: %v", err)
	}
	return a
}

// Account makes the sale's payments name the account, paid through its
// kind, and gives each line the provider's id "line-<n>".
func Account(a *refundry.GatewayAccount) SaleOption {
	return func(s *refundry.Sale) {
		for _, t := range s.Transactions {
			t.Gateway, t.GatewayAccount, t.GatewayChargeID = a.Kind, a.ID, ""
		}
		for i, li := range s.LineItems {
			li.GatewayLineID = "line-" + string(rune('a'+i))
		}
	}
}

func testAccounts(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		a := MustCreateAccount(t, s, m.ID, refundry.KindPayop)
		checkTime(t, "Created", a.Created)
		got, err := s.FindGatewayAccount(ctx, m.ID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != a.ID || got.MerchantID != m.ID || got.Kind != refundry.KindPayop || got.BaseURL != a.BaseURL ||
			!bytes.Equal(got.Sealed, a.Sealed) || got.KeyID != "key-a" || got.Hints["token"] != "6789" || len(got.Hints) != 1 ||
			got.Credentials != nil || !got.Active() || !got.Created.Equal(a.Created) {
			t.Fatalf("FindGatewayAccount = %+v, want %+v", got, a)
		}
		checkTime(t, "found Created", got.Created)
		// Tenancy (invariant 5): another merchant's account is missing.
		_, err = s.FindGatewayAccount(ctx, other.ID, a.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindGatewayAccount(ctx, m.ID, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
	})

	t.Run("ErrMerchantNotFound", func(t *testing.T) {
		s := open(t)
		wantCode(t, s.CreateGatewayAccount(ctx, NewAccount(refundry.NewID(), refundry.KindJetti)), refundry.ENOTFOUND)
	})

	t.Run("ListActiveOldestFirst", func(t *testing.T) {
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		a1 := MustCreateAccount(t, s, m.ID, refundry.KindPayop)
		a2 := MustCreateAccount(t, s, m.ID, refundry.KindKeepUp)
		a3 := MustCreateAccount(t, s, m.ID, refundry.KindPayop)
		MustCreateAccount(t, s, other.ID, refundry.KindPayop)
		if _, err := s.RemoveGatewayAccount(ctx, m.ID, a2.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		as, err := s.ListGatewayAccounts(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		if !slices.Equal(ids, []string{a1.ID, a3.ID}) {
			t.Fatalf("ListGatewayAccounts = %v, want %v", ids, []string{a1.ID, a3.ID})
		}
		none, err := s.ListGatewayAccounts(ctx, MustCreateMerchant(t, s).ID)
		if err != nil || len(none) != 0 {
			t.Fatalf("ListGatewayAccounts of a merchant without accounts = %v, %v", none, err)
		}
	})

	t.Run("PaymentKeepsItsAccount", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		a := MustCreateAccount(t, s, m.ID, refundry.KindRevCent)
		sale := MustCreateSale(t, s, m.ID, Account(a))
		got := MustFindSale(t, s, m.ID, sale.ID)
		if tx := got.Transactions[0]; tx.GatewayAccount != a.ID || tx.Gateway != refundry.KindRevCent {
			t.Fatalf("payment = %+v, want account %s", tx, a.ID)
		}
		if got.LineItems[0].GatewayLineID != "line-a" || got.LineItems[1].GatewayLineID != "line-b" {
			t.Fatalf("lines' gateway ids = %q, %q", got.LineItems[0].GatewayLineID, got.LineItems[1].GatewayLineID)
		}
		plain := MustFindSale(t, s, m.ID, MustCreateSale(t, s, m.ID).ID)
		if plain.Transactions[0].GatewayAccount != "" || plain.LineItems[0].GatewayLineID != "" {
			t.Fatalf("a sale naming no account = %+v", plain.Transactions[0])
		}
	})

	// Every way a sale is written (with or without a customer to find,
	// with an Idempotency-Key and its replay) and read (by id, by line,
	// in a list) keeps the payment's account and the lines' provider ids.
	t.Run("SaleColumnsOnEveryPath", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		a := MustCreateAccount(t, s, m.ID, refundry.KindRevCent)
		check := func(t *testing.T, how string, got *refundry.Sale) {
			t.Helper()
			if len(got.Transactions) != 1 || got.Transactions[0].GatewayAccount != a.ID {
				t.Fatalf("%s: payments = %+v, want account %s", how, got.Transactions, a.ID)
			}
			if len(got.LineItems) != 2 || got.LineItems[0].GatewayLineID != "line-a" || got.LineItems[1].GatewayLineID != "line-b" {
				t.Fatalf("%s: lines = %+v, want gateway ids line-a, line-b", how, got.LineItems)
			}
		}
		for _, tc := range []struct {
			name string
			opts []SaleOption
			key  bool
		}{
			{"KnownCustomer", nil, false},
			{"NoEmail", []SaleOption{Email("")}, false},
			{"Keyed", nil, true},
			{"KeyedNoEmail", []SaleOption{Email("")}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sale := NewSale(m.ID, append(tc.opts, Account(a))...)
				var key *refundry.Idempotency
				if tc.key {
					key = idem("h")
				}
				again := cloneSaleForReplay(sale)
				if _, err := s.CreateSale(ctx, sale, key); err != nil {
					t.Fatal(err)
				}
				check(t, "CreateSale", sale)
				if tc.key {
					replayed, err := s.CreateSale(ctx, again, key)
					if err != nil || !replayed {
						t.Fatalf("replay = %v, %v", replayed, err)
					}
					check(t, "replayed CreateSale", again)
				}
				check(t, "FindSale", MustFindSale(t, s, m.ID, sale.ID))
				byLine, err := s.FindSale(ctx, m.ID, refundry.SaleLookup{LineItemID: sale.LineItems[1].ID})
				if err != nil {
					t.Fatal(err)
				}
				check(t, "FindSale by line", byLine)
				list, _, err := s.ListSales(ctx, m.ID, refundry.SaleFilter{Reference: sale.Reference})
				if err != nil || len(list) != 1 {
					t.Fatalf("ListSales = %v, %v", list, err)
				}
				check(t, "ListSales", list[0])
			})
		}
	})

	t.Run("RemoveRefusedWhileRefundsUnsettled", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		a := MustCreateAccount(t, s, m.ID, refundry.KindPayop)
		sale := MustCreateSale(t, s, m.ID, Account(a))
		res := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(500)))
		r := res.Refunds[0]
		if r.Status != refundry.RefundPending {
			t.Fatalf("refund status = %s, want pending", r.Status)
		}
		_, err := s.RemoveGatewayAccount(ctx, m.ID, a.ID, time.Now())
		wantCode(t, err, refundry.ECONFLICT)
		if got, err := s.FindGatewayAccount(ctx, m.ID, a.ID); err != nil || !got.Active() {
			t.Fatalf("account after a refused removal: %+v, %v", got, err)
		}
		// In manual review it still may be settled through the account.
		if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery,
			Note: "unknown"}); err != nil {
			t.Fatal(err)
		}
		_, err = s.RemoveGatewayAccount(ctx, m.ID, a.ID, time.Now())
		wantCode(t, err, refundry.ECONFLICT)
		if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByApprover,
			GatewayRefundID: "po_1", From: refundry.RefundRequiresAction}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		removed, err := s.RemoveGatewayAccount(ctx, m.ID, a.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "Removed", removed.Removed)
		got, err := s.FindGatewayAccount(ctx, m.ID, a.ID)
		if err != nil || got.Active() || !got.Removed.Equal(removed.Removed) {
			t.Fatalf("removed account = %+v, %v", got, err)
		}
		_, err = s.RemoveGatewayAccount(ctx, m.ID, a.ID, now)
		wantCode(t, err, refundry.ENOTFOUND)
		other := MustCreateMerchant(t, s)
		b := MustCreateAccount(t, s, m.ID, refundry.KindPayop)
		_, err = s.RemoveGatewayAccount(ctx, other.ID, b.ID, now)
		wantCode(t, err, refundry.ENOTFOUND)
	})

	t.Run("Reseal", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		a := MustCreateAccount(t, s, m.ID, refundry.KindJetti)
		b := MustCreateAccount(t, s, m.ID, refundry.KindKeepUp)
		if _, err := s.RemoveGatewayAccount(ctx, m.ID, b.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		newKey := "key-" + refundry.NewID()
		mine := func() []string {
			as, err := s.SealedGatewayAccounts(ctx, newKey, 100000)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, x := range as {
				if x.MerchantID == m.ID {
					ids = append(ids, x.ID)
				}
			}
			return ids
		}
		if got := mine(); !slices.Equal(got, []string{a.ID, b.ID}) {
			t.Fatalf("SealedGatewayAccounts = %v, want both, removed included", got)
		}
		if ok, err := s.ResealGatewayAccount(ctx, a.ID, "key-other", []byte("x"), newKey); err != nil || ok {
			t.Fatalf("reseal from a key it is not sealed with = %v, %v", ok, err)
		}
		for _, x := range []*refundry.GatewayAccount{a, b} {
			if ok, err := s.ResealGatewayAccount(ctx, x.ID, "key-a", []byte("resealed:"+x.ID), newKey); err != nil || !ok {
				t.Fatalf("reseal %s = %v, %v", x.ID, ok, err)
			}
		}
		if got := mine(); len(got) != 0 {
			t.Fatalf("SealedGatewayAccounts after resealing = %v", got)
		}
		got, err := s.FindGatewayAccount(ctx, m.ID, a.ID)
		if err != nil || got.KeyID != newKey || string(got.Sealed) != "resealed:"+a.ID {
			t.Fatalf("resealed account = %+v, %v", got, err)
		}
		if as, err := s.SealedGatewayAccounts(ctx, newKey, 0); err != nil || len(as) != 0 {
			t.Fatalf("SealedGatewayAccounts with limit 0 = %v, %v", as, err)
		}
	})

	t.Run("TalkableKeepsAHiddenEndpoint", func(t *testing.T) {
		s := open(t)
		m := MustCreateMerchant(t, s)
		a := MustCreateAccount(t, s, m.ID, refundry.KindTalkable)
		p := MustCreateAccount(t, s, m.ID, refundry.KindPayop)
		ep, err := s.FindWebhookEndpoint(ctx, m.ID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ep.GatewayAccount != a.ID || ep.URL != a.BaseURL || !slices.Equal(ep.EnabledEvents, []string{refundry.EventSaleRefunded}) ||
			ep.Secret != "" || ep.Status != refundry.EndpointEnabled {
			t.Fatalf("Talkable account's endpoint = %+v", ep)
		}
		_, err = s.FindWebhookEndpoint(ctx, m.ID, p.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		hook := MustCreateEndpoint(t, s, m.ID, "*")
		es, _, err := s.ListWebhookEndpoints(ctx, m.ID, refundry.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].ID != hook.ID || es[0].GatewayAccount != "" {
			t.Fatalf("ListWebhookEndpoints = %+v, want only the webhook", es)
		}
		if _, err := s.RemoveGatewayAccount(ctx, m.ID, a.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindWebhookEndpoint(ctx, m.ID, a.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		if _, err := s.FindWebhookEndpoint(ctx, m.ID, hook.ID); err != nil {
			t.Fatalf("the merchant's webhook after the account's removal: %v", err)
		}
	})
}

// testAccountDeliveries: a Talkable account's endpoint gets a delivery
// when a sale is wholly refunded, claimed with the endpoint naming its
// account, and none for a partial refund.
func testAccountDeliveries(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	a := MustCreateAccount(t, s, m.ID, refundry.KindTalkable)
	t.Cleanup(func() { _, _ = s.RemoveGatewayAccount(ctx, m.ID, a.ID, time.Now()) })
	sale := MustCreateSale(t, s, m.ID, simulatorSale)
	part := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(1000))).Refunds[0]
	if _, err := s.SettleRefund(ctx, m.ID, part.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
		t.Fatal(err)
	}
	dispatchAll(t, o)
	if ds := claim(t, o, a.ID, shortLease); len(ds) != 0 {
		t.Fatalf("a partial refund made deliveries to the Talkable account: %v", eventTypes(ds))
	}
	rest := MustRefund(t, s, SaleRefund(m.ID, sale.ID, nil)).Refunds[0]
	if _, err := s.SettleRefund(ctx, m.ID, rest.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
		t.Fatal(err)
	}
	dispatchAll(t, o)
	ds := claim(t, o, a.ID, shortLease)
	if len(ds) != 1 || ds[0].EventType != refundry.EventSaleRefunded || ds[0].ObjectID != sale.ID {
		t.Fatalf("deliveries to the Talkable account = %+v", ds)
	}
	if ds[0].Endpoint == nil || ds[0].Endpoint.GatewayAccount != a.ID || ds[0].Endpoint.URL != a.BaseURL {
		t.Fatalf("claimed delivery's endpoint = %+v", ds[0].Endpoint)
	}
	record(t, o, ds[0], 200, refundry.AttemptResult{})
	got, _, err := o.ListDeliveries(ctx, m.ID, a.ID, refundry.Page{})
	if err != nil || len(got) != 1 || got[0].Status != refundry.DeliveryDelivered || len(got[0].History) != 1 {
		t.Fatalf("the account's deliveries = %+v, %v", got, err)
	}
}

// cloneSaleForReplay copies a sale not yet stored, parts and all, so the
// same request can be sent twice.
func cloneSaleForReplay(s *refundry.Sale) *refundry.Sale {
	c := *s
	c.LineItems, c.Transactions = nil, nil
	for _, li := range s.LineItems {
		x := *li
		c.LineItems = append(c.LineItems, &x)
	}
	for _, t := range s.Transactions {
		x := *t
		c.Transactions = append(c.Transactions, &x)
	}
	return &c
}
