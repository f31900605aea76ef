package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// ListAllAudit reads every page of a merchant's audit log, newest first.
func ListAllAudit(tb testing.TB, s refundry.Store, merchantID string, f refundry.AuditFilter) []*refundry.AuditEntry {
	tb.Helper()
	var out []*refundry.AuditEntry
	f.Limit = refundry.MaxPageLimit
	for {
		page, more, err := s.ListAuditLog(context.Background(), merchantID, f)
		if err != nil {
			tb.Fatalf("ListAuditLog: %v", err)
		}
		out = append(out, page...)
		if !more {
			return out
		}
		f.StartingAfter = page[len(page)-1].ID
	}
}

func testAudit(t *testing.T, open Opener) {
	bg := context.Background()

	t.Run("EveryWriteUnderAnActor", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		actor := refundry.Actor{KeyID: refundry.NewID(), RemoteAddr: "192.0.2.7:4321", RequestID: "req_1", Method: "POST", Path: "/v1/x"}
		ctx := refundry.WithActor(bg, actor)

		sale := NewSale(m.ID)
		if _, err := s.CreateSale(ctx, sale, nil); err != nil {
			t.Fatal(err)
		}
		res, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(100)))
		if err != nil {
			t.Fatal(err)
		}
		pending := res.Refunds[0]
		if _, err := s.SettleRefund(ctx, m.ID, pending.ID, refundry.Settlement{Status: refundry.RefundCanceled}); err != nil {
			t.Fatal(err)
		}
		ref := NewReferral(m.ID, sale.Reference)
		if _, err := s.CreateReferral(ctx, ref, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VoidReferrals(ctx, m.ID, ref.OriginID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		key, _ := refundry.NewAPIKey(m.ID, time.Now())
		if err := s.CreateAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeAPIKey(ctx, m.ID, key.ID); err != nil {
			t.Fatal(err)
		}
		// Refused and actor-less writes leave nothing.
		if _, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(1_000_000))); err == nil {
			t.Fatal("over-refund accepted")
		}
		MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(1)))

		want := []struct{ action, object string }{
			{refundry.AuditAPIKeyRevoke, key.ID},
			{refundry.AuditAPIKeyCreate, key.ID},
			{refundry.AuditReferralVoid, strconv.FormatInt(ref.OriginID, 10)},
			{refundry.AuditReferralCreate, strconv.FormatInt(ref.ID, 10)},
			{refundry.AuditRefundCancel, pending.ID},
			{refundry.AuditRefundCreate, pending.ID},
			{refundry.AuditSaleCreate, sale.ID},
		}
		got := ListAllAudit(t, s, m.ID, refundry.AuditFilter{KeyID: actor.KeyID})
		if len(got) != len(want) {
			t.Fatalf("%d audit rows, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			e := got[i]
			if e.Action != w.action || e.ObjectID != w.object || e.Result != refundry.AuditSucceeded || e.Actor != actor || e.MerchantID != m.ID {
				t.Errorf("row %d = %+v, want %s %s by %+v", i, e, w.action, w.object, actor)
			}
			checkTime(t, "audit.Created", e.Created)
		}
		if all := ListAllAudit(t, s, m.ID, refundry.AuditFilter{}); len(all) != len(want) {
			t.Errorf("%d rows in all, want %d: a write without an actor was audited", len(all), len(want))
		}
	})

	// A write is audited whatever text its request carried: PostgreSQL
	// holds neither NUL nor invalid UTF-8, and a refused write to a path
	// with %00 in it must not go unrecorded for that. Both stores keep
	// the same escaped text (refundry.AuditText).
	t.Run("OddText", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		for _, tt := range []struct {
			name string
			text string
		}{
			{"NUL", "/v1/refunds/\x00/cancel"},
			{"InvalidUTF8", "/v2/product_sales/\xff\xfe/refund"},
			{"Both", "\x00\xc0\xaf\xed\xa0\x80"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				actor := refundry.Actor{KeyID: refundry.NewID(), RemoteAddr: "192.0.2.7:1" + tt.text, RequestID: "req_" + tt.text,
					Method: "POST" + tt.text, Path: tt.text}
				ctx := refundry.WithActor(bg, actor)
				sale := NewSale(m.ID)
				if _, err := s.CreateSale(ctx, sale, nil); err != nil {
					t.Fatalf("a write whose actor holds %q: %v", tt.text, err)
				}
				refused := refundry.NewAuditEntry(ctx, m.ID, refundry.AuditRefundCreate, tt.text, time.Now())
				refused.Result = refundry.EINVALID
				if err := s.RecordAudit(bg, refused); err != nil {
					t.Fatalf("a refused write whose actor holds %q: %v", tt.text, err)
				}
				got := ListAllAudit(t, s, m.ID, refundry.AuditFilter{KeyID: actor.KeyID})
				if len(got) != 2 {
					t.Fatalf("%d audit rows, want 2: %+v", len(got), got)
				}
				want := refundry.AuditEntry{Actor: actor, Action: refundry.AuditRefundCreate, ObjectID: tt.text}.Storable()
				for i, e := range got {
					if e.Actor != want.Actor {
						t.Errorf("row %d actor = %+v, want %+v", i, e.Actor, want.Actor)
					}
				}
				if got[0].ObjectID != want.ObjectID || got[0].Result != refundry.EINVALID {
					t.Errorf("refused row = %+v, want object %q, result %s", got[0], want.ObjectID, refundry.EINVALID)
				}
			})
		}
	})

	t.Run("RecordAndFilter", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		start := time.Now().UTC().Truncate(time.Microsecond)
		for i, action := range []string{"refund.create", "sale.create", "refund.create"} {
			e := &refundry.AuditEntry{MerchantID: m.ID, Actor: refundry.Actor{KeyID: "k" + strconv.Itoa(i%2)},
				Action: action, Result: refundry.EINVALID, Created: start.Add(time.Duration(i) * time.Second)}
			if err := s.RecordAudit(bg, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordAudit(bg, &refundry.AuditEntry{MerchantID: other.ID, Actor: refundry.Actor{KeyID: "k0"}, Action: "refund.create", Result: refundry.EFORBIDDEN}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			f    refundry.AuditFilter
			want int
		}{
			{"All", refundry.AuditFilter{}, 3},
			{"Key", refundry.AuditFilter{KeyID: "k0"}, 2},
			{"Action", refundry.AuditFilter{Action: "sale.create"}, 1},
			{"KeyAndAction", refundry.AuditFilter{KeyID: "k1", Action: "refund.create"}, 0},
			{"CreatedFrom", refundry.AuditFilter{CreatedFrom: start.Add(time.Second)}, 2},
			{"CreatedTo", refundry.AuditFilter{CreatedTo: start.Add(time.Second)}, 1},
		} {
			got := ListAllAudit(t, s, m.ID, c.f)
			if len(got) != c.want {
				t.Errorf("%s: %d rows, want %d", c.name, len(got), c.want)
			}
			for _, e := range got {
				if e.MerchantID != m.ID || e.Result != refundry.EINVALID {
					t.Errorf("%s: row %+v", c.name, e)
				}
			}
		}
		page, more, err := s.ListAuditLog(bg, m.ID, refundry.AuditFilter{Page: refundry.Page{Limit: 2}})
		if err != nil || !more || len(page) != 2 || page[0].Action != "refund.create" || page[1].Action != "sale.create" {
			t.Fatalf("first page: %+v, %v, %v", page, more, err)
		}
	})
}
