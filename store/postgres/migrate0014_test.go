package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// A database made before 0014 keeps its refunds: every merchant gains
// the default reasons, a free-text reason becomes "other" with the text
// kept whole as the description, a default code stays, and an empty reason
// stays empty.
func TestMigrate0014ReasonCodes(t *testing.T) {
	ctx := context.Background()
	dsn, conn := migratedBefore(t, ctx, 14)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := map[string]string{
		"r1": "Customer changed her mind, see ticket #42",
		"r2": "duplicate",
		"r3": "",
		"r4": "Damaged",
	}
	for _, q := range []string{
		`INSERT INTO merchants VALUES ('m1', 'old', 'Old', 'USD', $1)`,
		`INSERT INTO merchants VALUES ('m2', 'older', 'Older', 'USD', $1)`,
		`INSERT INTO customers VALUES ('c1', 'm1', '', '', '')`,
		`INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
			VALUES ('s1', 'm1', 'r1', 'USD', 1000, 400, 'c1', '', '', $1)`,
		`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount,
			refunded_amount, processing_fee, base_amount, base_currency, created)
			VALUES ('t1', 's1', 'm1', 0, '', 'simulator', 'ch_old', 'USD', 1000, 400, 0, 0, '', $1)`,
	} {
		args := []any{at}
		if !strings.Contains(q, "$1") {
			args = nil
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for id, reason := range old {
		if _, err := conn.Exec(ctx, `INSERT INTO refunds (id, merchant_id, group_id, sale_id, transaction_id, amount, fee, currency, status,
			reason, offsite, notify_customer, gateway, gateway_refund_id, failure_reason, source, name, external_id, created_source,
			refunded_at, created, updated) VALUES ($1, 'm1', $1, 's1', 't1', 100, 0, 'USD', 'succeeded', $2, false, false, 'simulator', '', '', 'api', '', '', '', $3, $3, $3)`,
			id, reason, at); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The gateway reason is what the older binary sent: a reason that was
	// one of Stripe's own, as it was, and nothing else.
	want := map[string][3]string{
		"r1": {"other", old["r1"], ""},
		"r2": {"duplicate", "", "duplicate"},
		"r3": {"", "", ""},
		"r4": {"other", "Damaged", ""},
	}
	for id, w := range want {
		r, err := s.FindRefund(ctx, "m1", id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Reason != w[0] || r.Description != w[1] || r.GatewayReason != w[2] {
			t.Errorf("refund %s: reason %q description %q gateway reason %q, want %q", id, r.Reason, r.Description, r.GatewayReason, w)
		}
	}
	for _, m := range []string{"m1", "m2"} {
		rs, err := s.ListRefundReasons(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		defs := refundry.DefaultRefundReasons(m, at)
		if len(rs) != len(defs) {
			t.Fatalf("merchant %s has %d reasons after 0014, want %d", m, len(rs), len(defs))
		}
		for i, r := range rs {
			if r.Code != defs[i].Code || r.Label != defs[i].Label || r.StripeReason != defs[i].StripeReason || !r.Created.Equal(defs[i].Created) {
				t.Errorf("merchant %s reason %d = %+v, want %+v", m, i, r, defs[i])
			}
		}
	}
}

// A merchant made by a process still on an older binary (a rolling
// upgrade) has no reasons stored: it is shown the defaults, and its first
// change to the list writes them before the change.
func TestReasonsOfMerchantWithoutRows(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"old1", "old2"} {
		if _, err := s.pool.Exec(ctx, `INSERT INTO merchants (id, slug, name, currency, created) VALUES ($1, $1, 'Old', 'USD', now())`, id); err != nil {
			t.Fatal(err)
		}
	}
	codes := func(m string) []string {
		t.Helper()
		rs, err := s.ListRefundReasons(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.Code)
		}
		return out
	}
	var defaults []string
	for _, r := range refundry.DefaultRefundReasons("", time.Time{}) {
		defaults = append(defaults, r.Code)
	}
	if got := codes("old1"); !slices.Equal(got, defaults) {
		t.Fatalf("reasons of a merchant with none stored = %v", got)
	}
	if err := s.PutRefundReason(ctx, &refundry.RefundReason{MerchantID: "old1", Code: "goodwill", Label: "Goodwill"}); err != nil {
		t.Fatal(err)
	}
	if got := codes("old1"); !slices.Equal(got, append(slices.Clone(defaults), "goodwill")) {
		t.Fatalf("after a put: %v", got)
	}
	if err := s.DeleteRefundReason(ctx, "old2", "late_delivery"); err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(defaults), func(c string) bool { return c == "late_delivery" })
	if got := codes("old2"); !slices.Equal(got, want) {
		t.Fatalf("after a delete: %v", got)
	}
	if got := codes("no-such-merchant"); len(got) != 0 {
		t.Fatalf("a merchant that does not exist has reasons %v", got)
	}
}
