package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// RunOutbox runs the refundry.Outbox suite against the stores open
// returns, which must implement it. Its subtests run one after another:
// claims are global, so each subtest looks only at its own merchant's
// deliveries and deletes its endpoints when it ends.
func RunOutbox(t *testing.T, open Opener) {
	outbox := func(t *testing.T) (refundry.Store, refundry.Outbox) {
		s := open(t)
		return s, s
	}
	t.Run("Endpoint", func(t *testing.T) { testEndpoints(t, outbox) })
	t.Run("Dispatch", func(t *testing.T) { testDispatch(t, outbox) })
	t.Run("OrderPerObject", func(t *testing.T) { testDeliveryOrder(t, outbox) })
	t.Run("PerEndpointBoundAndLease", func(t *testing.T) { testClaimBounds(t, outbox) })
	t.Run("DisableAndEnable", func(t *testing.T) { testDisable(t, outbox) })
	t.Run("GiveUpAndReplay", func(t *testing.T) { testReplay(t, outbox) })
	t.Run("Notification", func(t *testing.T) { testNotifications(t, outbox) })
	t.Run("OldestUndelivered", func(t *testing.T) { testOldestUndelivered(t, outbox) })
	t.Run("GatewayAccountDeliveries", func(t *testing.T) { testAccountDeliveries(t, outbox) })
}

type outboxOpener = func(t *testing.T) (refundry.Store, refundry.Outbox)

// MustCreateEndpoint stores an enabled endpoint of the merchant for the
// event types and deletes it when the test ends.
func MustCreateEndpoint(tb testing.TB, o refundry.Outbox, merchantID string, types ...string) *refundry.WebhookEndpoint {
	tb.Helper()
	e := &refundry.WebhookEndpoint{ID: refundry.NewID(), MerchantID: merchantID, URL: "https://example.com/hooks/" + refundry.NewID(),
		EnabledEvents: types, Secret: refundry.NewWebhookSecret()}
	if err := o.CreateWebhookEndpoint(context.Background(), e); err != nil {
		tb.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	tb.Cleanup(func() { _ = o.DeleteWebhookEndpoint(context.Background(), merchantID, e.ID) })
	return e
}

// dispatchAll dispatches every event not yet dispatched.
func dispatchAll(tb testing.TB, o refundry.Outbox) {
	tb.Helper()
	for {
		n, err := o.DispatchEvents(context.Background(), 500)
		if err != nil {
			tb.Fatalf("DispatchEvents: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// claim claims and returns the due deliveries of one endpoint.
func claim(tb testing.TB, o refundry.Outbox, endpointID string, c refundry.Claim) []*refundry.Delivery {
	tb.Helper()
	ds, err := o.ClaimDeliveries(context.Background(), c)
	if err != nil {
		tb.Fatalf("ClaimDeliveries: %v", err)
	}
	return only(ds, endpointID)
}

func only(ds []*refundry.Delivery, endpointID string) []*refundry.Delivery {
	var out []*refundry.Delivery
	for _, d := range ds {
		if d.EndpointID == endpointID {
			out = append(out, d)
		}
	}
	return out
}

func record(tb testing.TB, o refundry.Outbox, d *refundry.Delivery, status int, r refundry.AttemptResult) bool {
	tb.Helper()
	r.Attempt.StatusCode, r.Attempt.LatencyMS = status, 12
	disabled, err := o.RecordAttempt(context.Background(), d.ID, r)
	if err != nil {
		tb.Fatalf("RecordAttempt: %v", err)
	}
	return disabled
}

func eventTypes(ds []*refundry.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.EventType)
	}
	slices.Sort(out)
	return out
}

// simulatorSale drops the fixture's charge ids, which Sale.Validate keeps
// for the stripe gateway, so the sale is paid through the simulator.
func simulatorSale(s *refundry.Sale) {
	for _, t := range s.Transactions {
		t.GatewayChargeID = ""
	}
}

var shortLease = refundry.Claim{Limit: 100, Lease: time.Minute}

func testEndpoints(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, e := range []*refundry.WebhookEndpoint{
			{URL: "ftp://example.com", EnabledEvents: []string{"*"}},
			{URL: "/relative", EnabledEvents: []string{"*"}},
			{URL: "https://example.com", EnabledEvents: nil},
			{URL: "https://example.com", EnabledEvents: []string{"refund.exploded"}},
			{URL: "https://example.com", EnabledEvents: []string{"refunds.*"}},
		} {
			e.ID, e.MerchantID, e.Secret = refundry.NewID(), m.ID, refundry.NewWebhookSecret()
			wantCode(t, o.CreateWebhookEndpoint(ctx, e), refundry.EINVALID)
		}
	})

	t.Run("OK", func(t *testing.T) {
		e := MustCreateEndpoint(t, o, m.ID, refundry.EventRefundSucceeded, refundry.EventRefundFailed)
		checkTime(t, "Created", e.Created)
		got, err := o.FindWebhookEndpoint(ctx, m.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "found endpoint", got, e)
		if got.Status != refundry.EndpointEnabled || got.Secret != e.Secret {
			t.Fatalf("endpoint = %+v", got)
		}
		// Invariant 5: another merchant's endpoint is a missing one.
		_, err = o.FindWebhookEndpoint(ctx, other.ID, e.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		wantCode(t, o.DeleteWebhookEndpoint(ctx, other.ID, e.ID), refundry.ENOTFOUND)
		_, err = o.EnableWebhookEndpoint(ctx, other.ID, e.ID)
		wantCode(t, err, refundry.ENOTFOUND)

		e2 := MustCreateEndpoint(t, o, m.ID, "*")
		list, more, err := o.ListWebhookEndpoints(ctx, m.ID, refundry.Page{Limit: 1})
		if err != nil || !more || len(list) != 1 || list[0].ID != e2.ID {
			t.Fatalf("first page = %v %v %v", list, more, err)
		}
		list, more, err = o.ListWebhookEndpoints(ctx, m.ID, refundry.Page{Limit: 1, StartingAfter: e2.ID})
		if err != nil || more || len(list) != 1 || list[0].ID != e.ID {
			t.Fatalf("second page = %v %v %v", list, more, err)
		}
		if list, _, _ := o.ListWebhookEndpoints(ctx, other.ID, refundry.Page{}); len(list) != 0 {
			t.Fatalf("other merchant sees %d endpoints", len(list))
		}

		if err := o.DeleteWebhookEndpoint(ctx, m.ID, e.ID); err != nil {
			t.Fatal(err)
		}
		_, err = o.FindWebhookEndpoint(ctx, m.ID, e.ID)
		wantCode(t, err, refundry.ENOTFOUND)
	})
}

func testDispatch(t *testing.T, outbox outboxOpener) {
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	all := MustCreateEndpoint(t, o, m.ID, "*")
	succeeded := MustCreateEndpoint(t, o, m.ID, refundry.EventRefundSucceeded)
	refunds := MustCreateEndpoint(t, o, m.ID, "refund.*")

	sale := MustCreateSale(t, s, m.ID, simulatorSale)
	req := SaleRefund(m.ID, sale.ID, nil)
	req.Offsite = true // succeeds at once: refund.created, refund.succeeded, sale.refunded
	MustRefund(t, s, req)
	late := MustCreateEndpoint(t, o, m.ID, "*") // hears only of what comes after it
	dispatchAll(t, o)
	dispatchAll(t, o) // a second pass makes nothing twice

	// One claim takes what is due for every endpoint. Each object's first
	// event comes first, its next once that is delivered.
	first, err := o.ClaimDeliveries(context.Background(), shortLease)
	if err != nil {
		t.Fatal(err)
	}
	got := only(first, all.ID)
	if want := []string{refundry.EventRefundCreated, refundry.EventSaleCreated}; !slices.Equal(eventTypes(got), want) {
		t.Fatalf("deliveries to * = %v, want %v", eventTypes(got), want)
	}
	if got := only(first, succeeded.ID); !slices.Equal(eventTypes(got), []string{refundry.EventRefundSucceeded}) {
		t.Fatalf("deliveries to refund.succeeded = %v", eventTypes(got))
	}
	if got := only(first, refunds.ID); !slices.Equal(eventTypes(got), []string{refundry.EventRefundCreated}) {
		t.Fatalf("deliveries to refund.* = %v, want only refund.created first", eventTypes(got))
	}
	if got := only(first, late.ID); len(got) != 0 {
		t.Fatalf("an endpoint made after the events got %v", eventTypes(got))
	}
	for _, d := range got {
		record(t, o, d, 200, refundry.AttemptResult{})
	}
	for _, d := range only(first, refunds.ID) {
		record(t, o, d, 200, refundry.AttemptResult{})
	}
	next, err := o.ClaimDeliveries(context.Background(), shortLease)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{refundry.EventRefundSucceeded, refundry.EventSaleRefunded}; !slices.Equal(eventTypes(only(next, all.ID)), want) {
		t.Fatalf("then deliveries to * = %v, want %v", eventTypes(only(next, all.ID)), want)
	}
	// The pattern matches the family only: no sale.* event, ever.
	if got := only(next, refunds.ID); !slices.Equal(eventTypes(got), []string{refundry.EventRefundSucceeded}) {
		t.Fatalf("then deliveries to refund.* = %v, want refund.succeeded", eventTypes(got))
	}
	for _, d := range append(first, next...) {
		if d.Event == nil || d.Event.ID != d.EventID || d.Endpoint == nil || d.Endpoint.ID != d.EndpointID || len(d.Event.Data) == 0 {
			t.Fatalf("claimed delivery lacks its event or endpoint: %+v", d)
		}
	}
	if d := got[0]; d.Endpoint.Secret != all.Secret || d.Endpoint.URL != all.URL {
		t.Fatalf("claimed delivery's endpoint = %+v", d.Endpoint)
	}
}

func testDeliveryOrder(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	ep := MustCreateEndpoint(t, o, m.ID, refundry.EventRefundCreated, refundry.EventRefundSucceeded)
	sale := MustCreateSale(t, s, m.ID, simulatorSale)
	r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
	if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
		t.Fatal(err)
	}
	dispatchAll(t, o)
	now := refundry.Claim{Limit: 100, Lease: time.Millisecond}

	// refund.succeeded waits while refund.created is undelivered, even
	// after a failed attempt whose retry is due.
	for i := range 2 {
		got := claim(t, o, ep.ID, now)
		if !slices.Equal(eventTypes(got), []string{refundry.EventRefundCreated}) {
			t.Fatalf("pass %d claimed %v, want only refund.created", i, eventTypes(got))
		}
		record(t, o, got[0], 500, refundry.AttemptResult{Retry: time.Now().Add(-time.Second)})
	}
	got := claim(t, o, ep.ID, now)
	record(t, o, got[0], 204, refundry.AttemptResult{})
	got = claim(t, o, ep.ID, now)
	if !slices.Equal(eventTypes(got), []string{refundry.EventRefundSucceeded}) {
		t.Fatalf("after refund.created was delivered, claimed %v", eventTypes(got))
	}
	record(t, o, got[0], 200, refundry.AttemptResult{})

	ds, _, err := o.ListDeliveries(ctx, m.ID, ep.ID, refundry.Page{})
	if err != nil || len(ds) != 2 {
		t.Fatalf("ListDeliveries = %v, %v", ds, err)
	}
	for _, d := range ds {
		if d.Status != refundry.DeliveryDelivered {
			t.Fatalf("delivery %s is %s", d.EventType, d.Status)
		}
		checkTime(t, "DeliveredAt", d.DeliveredAt)
	}
	created := ds[1]
	if created.EventType != refundry.EventRefundCreated || created.Attempts != 3 || len(created.History) != 3 {
		t.Fatalf("refund.created delivery = %+v", created)
	}
	if h := created.History; h[0].StatusCode != 204 || h[1].StatusCode != 500 || h[2].LatencyMS != 12 {
		t.Fatalf("history newest first = %+v %+v %+v", h[0], h[1], h[2])
	}
	if ep2, _ := o.FindWebhookEndpoint(ctx, m.ID, ep.ID); ep2.FailureStreak != 0 || !ep2.FailingSince.IsZero() {
		t.Fatalf("a success leaves the streak at %d since %v", ep2.FailureStreak, ep2.FailingSince)
	}
	_, _, err = o.ListDeliveries(ctx, MustCreateMerchant(t, s).ID, ep.ID, refundry.Page{})
	wantCode(t, err, refundry.ENOTFOUND)
}

func testClaimBounds(t *testing.T, outbox outboxOpener) {
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	ep := MustCreateEndpoint(t, o, m.ID, refundry.EventSaleCreated)
	for range 5 {
		MustCreateSale(t, s, m.ID, simulatorSale) // five objects, one event each
	}
	dispatchAll(t, o)
	c := refundry.Claim{Limit: 100, Lease: time.Minute, PerEndpoint: 2}
	first := claim(t, o, ep.ID, c)
	if len(first) != 2 {
		t.Fatalf("claimed %d with a bound of 2", len(first))
	}
	if again := claim(t, o, ep.ID, c); len(again) != 0 {
		t.Fatalf("claimed %d more while 2 are leased", len(again))
	}
	record(t, o, first[0], 200, refundry.AttemptResult{})
	if next := claim(t, o, ep.ID, c); len(next) != 1 || next[0].ID == first[1].ID {
		t.Fatalf("after one attempt ended, claimed %v", next)
	}

	// A lease that ends frees its delivery for another worker.
	brief := refundry.Claim{Limit: 100, Lease: 50 * time.Millisecond}
	leased := claim(t, o, ep.ID, brief)
	if len(leased) != 2 {
		t.Fatalf("claimed %d of the 2 unleased", len(leased))
	}
	time.Sleep(100 * time.Millisecond)
	if again := claim(t, o, ep.ID, brief); len(again) < 2 {
		t.Fatalf("after the leases ended, claimed %d", len(again))
	}
}

func testDisable(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	ep := MustCreateEndpoint(t, o, m.ID, refundry.EventSaleCreated)
	MustCreateSale(t, s, m.ID, simulatorSale)
	dispatchAll(t, o)
	policy := refundry.AttemptResult{DisableAfterFailures: 3, Retry: time.Now().Add(-time.Second)}
	c := refundry.Claim{Limit: 10, Lease: time.Minute}

	for i := 1; i <= 3; i++ {
		got := claim(t, o, ep.ID, c)
		if len(got) != 1 {
			t.Fatalf("failure %d: claimed %d", i, len(got))
		}
		if disabled := record(t, o, got[0], 503, policy); disabled != (i == 3) {
			t.Fatalf("failure %d: disabled = %v", i, disabled)
		}
	}
	got, err := o.FindWebhookEndpoint(ctx, m.ID, ep.ID)
	if err != nil || got.Status != refundry.EndpointDisabled || got.DisabledReason == "" || got.FailureStreak != 3 {
		t.Fatalf("after 3 failures: %+v %v", got, err)
	}
	if ds := claim(t, o, ep.ID, c); len(ds) != 0 {
		t.Fatal("a disabled endpoint's delivery was claimed")
	}
	// New events are not owed to a disabled endpoint.
	MustCreateSale(t, s, m.ID, simulatorSale)
	dispatchAll(t, o)

	// The time condition holds a streak back until it is old enough.
	got, err = o.EnableWebhookEndpoint(ctx, m.ID, ep.ID)
	if err != nil || got.Status != refundry.EndpointEnabled || got.FailureStreak != 0 || got.DisabledReason != "" {
		t.Fatalf("enabled: %+v %v", got, err)
	}
	slow := policy
	slow.DisableAfterFailures, slow.DisableAfter = 1, time.Hour
	ds := claim(t, o, ep.ID, c)
	if len(ds) != 1 {
		t.Fatalf("after enabling, claimed %d, want the 1 pending", len(ds))
	}
	if record(t, o, ds[0], 500, slow) {
		t.Fatal("disabled although the streak is younger than DisableAfter")
	}
	ds = claim(t, o, ep.ID, c)
	record(t, o, ds[0], 200, refundry.AttemptResult{})
}

func testReplay(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	ep := MustCreateEndpoint(t, o, m.ID, refundry.EventRefundCreated, refundry.EventRefundSucceeded)
	sale := MustCreateSale(t, s, m.ID, simulatorSale)
	r := MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))).Refunds[0]
	if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
		t.Fatal(err)
	}
	dispatchAll(t, o)
	c := refundry.Claim{Limit: 10, Lease: time.Minute}

	// A delivery given up no longer holds back the next one.
	first := claim(t, o, ep.ID, c)
	record(t, o, first[0], 500, refundry.AttemptResult{})
	second := claim(t, o, ep.ID, c)
	if len(second) != 1 || second[0].EventType != refundry.EventRefundSucceeded {
		t.Fatalf("after giving up refund.created, claimed %v", eventTypes(second))
	}
	// Replay is refused while an attempt is under way.
	_, err := o.ReplayDelivery(ctx, m.ID, ep.ID, second[0].ID)
	wantCode(t, err, refundry.ECONFLICT)
	record(t, o, second[0], 200, refundry.AttemptResult{})

	for _, d := range []*refundry.Delivery{first[0], second[0]} {
		got, err := o.ReplayDelivery(ctx, m.ID, ep.ID, d.ID)
		if err != nil || got.Status != refundry.DeliveryPending || len(got.History) != 1 {
			t.Fatalf("ReplayDelivery: %+v %v", got, err)
		}
	}
	again := claim(t, o, ep.ID, c)
	if !slices.Equal(eventTypes(again), []string{refundry.EventRefundCreated}) {
		t.Fatalf("after replaying both, claimed %v; want refund.created first", eventTypes(again))
	}
	record(t, o, again[0], 200, refundry.AttemptResult{})
	if again = claim(t, o, ep.ID, c); !slices.Equal(eventTypes(again), []string{refundry.EventRefundSucceeded}) {
		t.Fatalf("then claimed %v", eventTypes(again))
	}
	record(t, o, again[0], 200, refundry.AttemptResult{})

	_, err = o.ReplayDelivery(ctx, MustCreateMerchant(t, s).ID, ep.ID, first[0].ID)
	wantCode(t, err, refundry.ENOTFOUND)
	_, err = o.ReplayDelivery(ctx, m.ID, ep.ID, refundry.NewID())
	wantCode(t, err, refundry.ENOTFOUND)
	_, err = o.RecordAttempt(ctx, refundry.NewID(), refundry.AttemptResult{})
	wantCode(t, err, refundry.ENOTFOUND)
}

func testNotifications(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	list := func(status string) []*refundry.Notification {
		t.Helper()
		ns, _, err := o.ListNotifications(ctx, m.ID, refundry.NotificationFilter{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}

	// Offsite: succeeded in CreateRefunds. A retry with the same key
	// replays and owes nothing more.
	sale := MustCreateSale(t, s, m.ID, simulatorSale, Reference("order-42"))
	req := SaleRefund(m.ID, sale.ID, Amount(1000))
	req.Offsite, req.NotifyCustomer, req.Fee = true, true, 50
	req.Idempotency = idem("h1")
	offsite := MustRefund(t, s, req).Refunds[0]
	if res := MustRefund(t, s, req); !res.Replayed {
		t.Fatal("the retry was not a replay")
	}
	// Pending: owed when SettleRefund makes it succeed, once.
	req2 := SaleRefund(m.ID, sale.ID, Amount(200))
	req2.NotifyCustomer = true
	pending := MustRefund(t, s, req2).Refunds[0]
	if n := list(""); len(n) != 1 {
		t.Fatalf("a pending refund owes a notice already: %d", len(n))
	}
	for range 2 {
		if _, err := s.SettleRefund(ctx, m.ID, pending.ID, refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	// Not asked for, or failed: nothing.
	MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100)))
	req3 := SaleRefund(m.ID, sale.ID, Amount(100))
	req3.NotifyCustomer = true
	failed := MustRefund(t, s, req3).Refunds[0]
	if _, err := s.SettleRefund(ctx, m.ID, failed.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
		t.Fatal(err)
	}

	ns := list(refundry.NotificationUnsent)
	if len(ns) != 2 || ns[0].RefundID != pending.ID || ns[1].RefundID != offsite.ID {
		t.Fatalf("unsent notices = %+v", ns)
	}
	n := ns[1]
	if n.To != sale.Customer.Email || n.CustomerName != "Ada Lovelace" || n.MerchantName != m.Name || n.SaleReference != "order-42" ||
		n.Amount != 950 || n.Currency != "USD" || n.SaleID != sale.ID || n.Attempts != 0 {
		t.Fatalf("notice = %+v", n)
	}
	checkTime(t, "Created", n.Created)
	if other, _, _ := o.ListNotifications(ctx, MustCreateMerchant(t, s).ID, refundry.NotificationFilter{}); len(other) != 0 {
		t.Fatalf("another merchant sees %d notices", len(other))
	}

	claimMine := func(lease time.Duration) []*refundry.Notification {
		t.Helper()
		all, err := o.ClaimNotifications(ctx, 1000, lease)
		if err != nil {
			t.Fatal(err)
		}
		var mine []*refundry.Notification
		for _, x := range all {
			if x.MerchantID == m.ID {
				mine = append(mine, x)
			}
		}
		return mine
	}
	got := claimMine(time.Minute)
	if len(got) != 2 {
		t.Fatalf("claimed %d notices", len(got))
	}
	if again := claimMine(time.Minute); len(again) != 0 {
		t.Fatalf("claimed %d leased notices again", len(again))
	}
	if err := o.RecordNotification(ctx, got[0].ID, refundry.NotificationResult{Error: "421 try later", Retry: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := o.RecordNotification(ctx, got[1].ID, refundry.NotificationResult{Sent: true}); err != nil {
		t.Fatal(err)
	}
	retry := claimMine(time.Minute)
	if len(retry) != 1 || retry[0].ID != got[0].ID || retry[0].Attempts != 1 || retry[0].LastError != "421 try later" {
		t.Fatalf("retry claim = %+v", retry)
	}
	if err := o.RecordNotification(ctx, retry[0].ID, refundry.NotificationResult{Error: "550 no such user"}); err != nil {
		t.Fatal(err)
	}
	if sent := list(refundry.NotificationSent); len(sent) != 1 || sent[0].SentAt.IsZero() {
		t.Fatalf("sent = %+v", sent)
	}
	if f := list(refundry.NotificationFailed); len(f) != 1 {
		t.Fatalf("failed = %+v", f)
	}
	wantCode(t, o.RecordNotification(ctx, refundry.NewID(), refundry.NotificationResult{Sent: true}), refundry.ENOTFOUND)
}

// testOldestUndelivered checks the outbox's lag: a pending delivery and an
// unsent notice show in it until they leave. The database may hold other
// subtests' rows, so the expectation is the older of what was there before
// and what this test makes.
func testOldestUndelivered(t *testing.T, outbox outboxOpener) {
	ctx := context.Background()
	s, o := outbox(t)
	m := MustCreateMerchant(t, s)
	beforeD, beforeN, err := o.OldestUndelivered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	older := func(before, mine time.Time) time.Time {
		if !before.IsZero() && before.Before(mine) {
			return before
		}
		return mine
	}

	ep := MustCreateEndpoint(t, o, m.ID, refundry.EventSaleCreated)
	sale := MustCreateSale(t, s, m.ID, simulatorSale)
	dispatchAll(t, o)
	req := SaleRefund(m.ID, sale.ID, Amount(100))
	req.Offsite, req.NotifyCustomer = true, true // succeeds at once and owes a notice
	MustRefund(t, s, req)
	ds := claim(t, o, ep.ID, refundry.Claim{Limit: 10, Lease: time.Minute})
	ns, _, err := o.ListNotifications(ctx, m.ID, refundry.NotificationFilter{Status: refundry.NotificationUnsent})
	if err != nil || len(ds) != 1 || len(ns) != 1 {
		t.Fatalf("made %d deliveries and %d notices (%v), want 1 and 1", len(ds), len(ns), err)
	}
	d, n, err := o.OldestUndelivered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := older(beforeD, ds[0].Created); !d.Equal(want) {
		t.Fatalf("oldest delivery = %v, want %v", d, want)
	}
	if want := older(beforeN, ns[0].Created); !n.Equal(want) {
		t.Fatalf("oldest notice = %v, want %v", n, want)
	}

	// Delivered and sent, they no longer count.
	record(t, o, ds[0], 200, refundry.AttemptResult{})
	all, err := o.ClaimNotifications(ctx, 1000, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all {
		if x.MerchantID == m.ID {
			if err := o.RecordNotification(ctx, x.ID, refundry.NotificationResult{Sent: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, n, err = o.OldestUndelivered(ctx)
	if err != nil || !d.Equal(beforeD) || !n.Equal(beforeN) {
		t.Fatalf("after delivery and send: %v %v %v, want %v %v", d, n, err, beforeD, beforeN)
	}
}
