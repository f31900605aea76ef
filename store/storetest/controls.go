package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// Refund controls as stored: policies, users, the refunds that wait for a
// person, and the races of decisions on them.

// ApprovalPolicy is a policy under which every refund in USD requires
// approval, released after an hour.
func ApprovalPolicy() *refundry.RefundPolicy {
	hour := int64(1)
	return &refundry.RefundPolicy{ApprovalThreshold: map[string]int64{"USD": 0}, ApprovalExpiryHours: &hour}
}

// requester is who asks for the suite's refunds that require approval.
const requester = "user:requester"

// MustRefundAwaitingApproval makes a refund of amount on the sale that
// requires approval, asked for by requester.
func MustRefundAwaitingApproval(tb testing.TB, s refundry.Store, merchantID, saleID string, amount int64) *refundry.Refund {
	tb.Helper()
	req := SaleRefund(merchantID, saleID, Amount(amount))
	req.Policy, req.RequestedBy = ApprovalPolicy(), requester
	r := MustRefund(tb, s, req).Refunds[0]
	if r.Status != refundry.RefundRequiresApproval {
		tb.Fatalf("refund under an approval policy is %s", r.Status)
	}
	return r
}

func approve(who string) refundry.Settlement {
	return refundry.Settlement{Status: refundry.RefundPending, By: refundry.ByApprover, Actor: who, Note: "looks right"}
}

func testControls(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("PolicyRoundTrip", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		empty, err := s.FindRefundPolicy(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if empty.MerchantID != m.ID || empty.MaxAgeDays != nil || empty.MaxRefundsPerSale != nil || empty.ApprovalThreshold != nil ||
			empty.ApprovalForSources != nil || empty.ApprovalExpiryHours != nil || !empty.Updated.IsZero() {
			t.Fatalf("policy never set = %+v, want empty", empty)
		}
		days, n, hours := int64(30), int64(3), int64(24)
		p := &refundry.RefundPolicy{MerchantID: m.ID, MaxAgeDays: &days, MaxRefundsPerSale: &n,
			ApprovalThreshold: map[string]int64{"USD": 50000, "EUR": 0}, ApprovalForSources: []string{refundry.SourceDashboard, refundry.SourceDialects},
			ApprovalExpiryHours: &hours, Updated: time.Now().Add(-time.Minute)}
		actor := refundry.Actor{KeyID: refundry.NewID(), UserID: "u_" + refundry.NewID(), Method: "POST", Path: "/v1/refund_policy"}
		if err := s.PutRefundPolicy(refundry.WithActor(ctx, actor), p); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindRefundPolicy(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "policy updated", got.Updated)
		if got.MerchantID != m.ID {
			t.Fatalf("policy of %s found as %s's", m.ID, got.MerchantID)
		}
		sameJSON(t, "policy", got, p)
		// A put replaces the whole policy.
		q := &refundry.RefundPolicy{MerchantID: m.ID, ApprovalThreshold: map[string]int64{"USD": 1}}
		if err := s.PutRefundPolicy(ctx, q); err != nil {
			t.Fatal(err)
		}
		got, err = s.FindRefundPolicy(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if q.Updated.IsZero() {
			t.Fatal("a policy put without a time was not given one")
		}
		sameJSON(t, "replaced policy", got, q)
		// Another merchant's policy is not this one's.
		other := MustCreateMerchant(t, s)
		if got, err := s.FindRefundPolicy(ctx, other.ID); err != nil || got.ApprovalThreshold != nil {
			t.Fatalf("another merchant's policy = %+v, %v", got, err)
		}
		wantCode(t, s.PutRefundPolicy(ctx, &refundry.RefundPolicy{MerchantID: refundry.NewID()}), refundry.ENOTFOUND)
		entries := ListAllAudit(t, s, m.ID, refundry.AuditFilter{Action: refundry.AuditPolicyUpdate})
		if len(entries) != 1 || entries[0].Actor.UserID != actor.UserID || entries[0].Actor.KeyID != actor.KeyID {
			t.Fatalf("policy audit = %+v, want one entry by user %s", entries, actor.UserID)
		}
	})

	newUser := func(merchantID, email string) *refundry.User {
		// A hash of bcrypt's shape, not one made: the store keeps bytes,
		// and the suite need not spend a hash per user.
		return &refundry.User{MerchantID: merchantID, Name: "Ana Lima", Email: email, Role: refundry.RoleApprover,
			PasswordHash: []byte("$2a$11$" + refundry.NewID())}
	}

	t.Run("Users", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		actor := refundry.Actor{KeyID: refundry.NewID(), UserID: "u_admin"}
		u := newUser(m.ID, "Ana.Lima@Example.com")
		if err := s.CreateUser(refundry.WithActor(ctx, actor), u); err != nil {
			t.Fatal(err)
		}
		if u.ID == "" {
			t.Fatal("CreateUser gave no id")
		}
		checkTime(t, "user created", u.Created)
		for _, email := range []string{"Ana.Lima@Example.com", "ana.lima@example.com", "ANA.LIMA@EXAMPLE.COM"} {
			wantCode(t, s.CreateUser(ctx, newUser(m.ID, email)), refundry.ECONFLICT)
		}
		// Unique per merchant, not across merchants.
		if err := s.CreateUser(ctx, newUser(other.ID, "ana.lima@example.com")); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateUser(ctx, newUser(refundry.NewID(), "x@example.com")), refundry.ENOTFOUND)
		bad := newUser(m.ID, "not an address")
		wantCode(t, s.CreateUser(ctx, bad), refundry.EINVALID)

		got, err := s.FindUser(ctx, m.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "user", got, u)
		if string(got.PasswordHash) != string(u.PasswordHash) || got.MerchantID != m.ID {
			t.Fatalf("user's hash or merchant did not round-trip: %+v", got)
		}
		for _, email := range []string{"ana.lima@example.com", "ANA.Lima@EXAMPLE.com"} {
			byEmail, err := s.FindUserByEmail(ctx, m.ID, email)
			if err != nil {
				t.Fatalf("FindUserByEmail(%s): %v", email, err)
			}
			if byEmail.ID != u.ID || byEmail.Email != "Ana.Lima@Example.com" {
				t.Fatalf("FindUserByEmail(%s) = %+v", email, byEmail)
			}
		}
		_, err = s.FindUserByEmail(ctx, m.ID, "nobody@example.com")
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindUser(ctx, other.ID, u.ID)
		wantCode(t, err, refundry.ENOTFOUND)

		// Disabling twice keeps the first time.
		first := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
		d, err := s.DisableUser(refundry.WithActor(ctx, actor), m.ID, u.ID, first)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Disabled.Equal(first) || d.Usable() == nil {
			t.Fatalf("disabled user = %+v", d)
		}
		d, err = s.DisableUser(ctx, m.ID, u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !d.Disabled.Equal(first) {
			t.Fatalf("disabled again at %v, want the first time %v kept", d.Disabled, first)
		}
		if got, _ := s.FindUser(ctx, m.ID, u.ID); !got.Disabled.Equal(first) {
			t.Fatalf("stored disabled = %v", got.Disabled)
		}
		_, err = s.DisableUser(ctx, other.ID, u.ID, time.Now())
		wantCode(t, err, refundry.ENOTFOUND)

		for _, action := range []string{refundry.AuditUserCreate, refundry.AuditUserDisable} {
			entries := ListAllAudit(t, s, m.ID, refundry.AuditFilter{Action: action})
			if len(entries) != 1 || entries[0].ObjectID != u.ID || entries[0].Actor.UserID != actor.UserID {
				t.Fatalf("%s audit = %+v", action, entries)
			}
		}
	})

	t.Run("ListUsers", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		var ids []string
		for i := range 5 {
			u := newUser(m.ID, fmt.Sprintf("u%d@example.com", i))
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		slices.Reverse(ids) // newest first
		var got []string
		var after string
		for {
			page, more, err := s.ListUsers(ctx, m.ID, refundry.Page{Limit: 2, StartingAfter: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page {
				got = append(got, u.ID)
			}
			if !more {
				break
			}
			after = page[len(page)-1].ID
		}
		checkIDs(t, got, ids)
		page, more, err := s.ListUsers(ctx, m.ID, refundry.Page{Limit: 2, EndingBefore: ids[3]})
		if err != nil {
			t.Fatal(err)
		}
		if !more || len(page) != 2 || page[0].ID != ids[1] || page[1].ID != ids[2] {
			t.Fatalf("page before %s = %v, more %v", ids[3], page, more)
		}
		none, more, err := s.ListUsers(ctx, MustCreateMerchant(t, s).ID, refundry.Page{})
		if err != nil || len(none) != 0 || more || none == nil {
			t.Fatalf("users of a merchant without any = %v, %v, %v", none, more, err)
		}
		_, _, err = s.ListUsers(ctx, m.ID, refundry.Page{Limit: refundry.MaxPageLimit + 1})
		wantCode(t, err, refundry.EINVALID)
	})

	// A refund requiring approval keeps who asked and its deadline, holds
	// its amount, and lists by its status.
	t.Run("RefundAwaitingApproval", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		before := time.Now()
		r := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 700)
		if r.RequestedBy != requester || r.ApprovalExpires.Sub(r.Created) != time.Hour || r.ApprovalExpires.Before(before) {
			t.Fatalf("refund awaiting approval = %+v", r)
		}
		sameJSON(t, "refund awaiting approval", mustFindRefund(t, s, m.ID, r.ID), r)
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 700 {
			t.Fatalf("sale refunded %d, want the 700 held", got.RefundedAmount)
		}
		listed, _, err := s.ListRefunds(ctx, m.ID, refundry.RefundFilter{Status: refundry.RefundRequiresApproval})
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, refundIDs(listed), []string{r.ID})
		CheckInvariants(t, s, m.ID)

		// The requester may not approve it; someone else may, once.
		_, err = s.SettleRefund(ctx, m.ID, r.ID, approve(requester))
		wantCode(t, err, refundry.EFORBIDDEN)
		actor := refundry.Actor{KeyID: refundry.NewID(), UserID: "u_approver"}
		approved, err := s.SettleRefund(refundry.WithActor(ctx, actor), m.ID, r.ID, approve(actor.Who()))
		if err != nil {
			t.Fatal(err)
		}
		if approved.Status != refundry.RefundPending || approved.DecidedBy != actor.Who() || approved.DecisionNote != "looks right" ||
			!approved.ApprovalExpires.IsZero() || approved.RequestedBy != requester {
			t.Fatalf("approved refund = %+v", approved)
		}
		sameJSON(t, "approved refund", mustFindRefund(t, s, m.ID, r.ID), approved)
		entries := ListAllAudit(t, s, m.ID, refundry.AuditFilter{Action: refundry.AuditRefundApprove})
		if len(entries) != 1 || entries[0].ObjectID != r.ID || entries[0].Actor.UserID != actor.UserID || entries[0].Note != "looks right" {
			t.Fatalf("approval audit = %+v", entries)
		}
		// A refused decision is recorded on its own, with who and why.
		refused := &refundry.AuditEntry{MerchantID: m.ID, Actor: refundry.Actor{KeyID: "k", UserID: "u_requester"},
			Action: refundry.AuditRefundReject, ObjectID: r.ID, Result: refundry.EFORBIDDEN, Note: "my own"}
		if err := s.RecordAudit(ctx, refused); err != nil {
			t.Fatal(err)
		}
		entries = ListAllAudit(t, s, m.ID, refundry.AuditFilter{Action: refundry.AuditRefundReject})
		if len(entries) != 1 || entries[0].Actor.UserID != "u_requester" || entries[0].Note != "my own" || entries[0].Result != refundry.EFORBIDDEN {
			t.Fatalf("refused decision's audit = %+v", entries)
		}
		// Sent to review by recovery, then resolved by a person.
		review, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery,
			Note: "The gateway kept refusing."})
		if err != nil {
			t.Fatal(err)
		}
		if review.ReviewReason != "The gateway kept refusing." || review.DecidedBy != actor.Who() {
			t.Fatalf("refund sent to review = %+v", review)
		}
		sameJSON(t, "refund in review", mustFindRefund(t, s, m.ID, r.ID), review)
		if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 700 {
			t.Fatalf("sale refunded %d in review, want the 700 still held", got.RefundedAmount)
		}
		resolved, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundSucceeded, By: refundry.ByApprover,
			Actor: "user:u_resolver", Note: "Paid, see the gateway's dashboard.", GatewayRefundID: "re_manual"})
		if err != nil {
			t.Fatal(err)
		}
		if resolved.GatewayRefundID != "re_manual" || resolved.DecidedBy != "user:u_resolver" || resolved.ReviewReason != review.ReviewReason {
			t.Fatalf("resolved refund = %+v", resolved)
		}
		sameJSON(t, "resolved refund", mustFindRefund(t, s, m.ID, r.ID), resolved)
		CheckInvariants(t, s, m.ID)
	})

	// Decisions race on one refund awaiting approval: exactly one of them
	// moves it, every other is refused, and what the sale holds is what
	// its refunds hold (invariant 2, exactly).
	t.Run("DecisionRaces", func(t *testing.T) {
		const workers = 64
		withdraw := refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByClient, Actor: requester,
			From: refundry.RefundRequiresApproval}
		expire := refundry.Settlement{Status: refundry.RefundCanceled, By: refundry.ByExpiry, Actor: refundry.ActorSystem}
		for _, tt := range []struct {
			name   string
			others refundry.Settlement
		}{
			{"ApproveApprove", refundry.Settlement{}},
			{"ApproveWithdraw", withdraw},
			{"ApproveExpiry", expire},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				s := open(t)
				m := MustCreateMerchant(t, s)
				sale := MustCreateSale(t, s, m.ID)
				r := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 900)
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, workers)
				for i := range workers {
					st := approve(fmt.Sprintf("user:approver%d", i))
					if tt.others.Status != "" && i%2 == 1 {
						st = tt.others
					}
					wg.Go(func() {
						<-start
						_, errs[i] = s.SettleRefund(ctx, m.ID, r.ID, st)
					})
				}
				close(start)
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch refundry.ErrorCode(err) {
					case "":
						won++
					case refundry.ECONFLICT:
					default:
						t.Fatalf("decision %d: %v", i, err)
					}
				}
				if won != 1 {
					t.Fatalf("%d decisions moved the refund, want exactly 1", won)
				}
				got := mustFindRefund(t, s, m.ID, r.ID)
				var held int64
				if refundry.Holds(got.Status) {
					held = got.Amount
				}
				if after := MustFindSale(t, s, m.ID, sale.ID); after.RefundedAmount != held {
					t.Fatalf("refund %s, sale refunded %d, want %d", got.Status, after.RefundedAmount, held)
				}
				CheckInvariants(t, s, m.ID)
			})
		}
	})

	// max_refunds_per_sale = 3 under 64 concurrent requests on one sale:
	// exactly 3 refund requests hold money, every other is ETOOMANY. Then
	// again over four sales at once, so that a group commit's batch holds
	// requests of several sales side by side.
	t.Run("MaxRefundsPerSaleConcurrent", func(t *testing.T) {
		t.Parallel()
		const workers = 64
		s := open(t)
		m := MustCreateMerchant(t, s)
		three := int64(3)
		policy := &refundry.RefundPolicy{MerchantID: m.ID, MaxRefundsPerSale: &three}
		for _, n := range []int{1, 4} {
			sales := make([]*refundry.Sale, n)
			for i := range sales {
				sales[i] = MustCreateSale(t, s, m.ID)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, workers)
			for i := range workers {
				wg.Go(func() {
					<-start
					req := SaleRefund(m.ID, sales[i%n].ID, Amount(10))
					req.Policy = policy
					_, errs[i] = s.CreateRefunds(ctx, req)
				})
			}
			close(start)
			wg.Wait()
			made := map[string]int{}
			for i, err := range errs {
				switch refundry.ErrorCode(err) {
				case "":
					made[sales[i%n].ID]++
				case refundry.ETOOMANY:
				default:
					t.Fatalf("request %d: %v", i, err)
				}
			}
			for _, sale := range sales {
				if made[sale.ID] != 3 {
					t.Fatalf("%d refunds of sale %s made under a cap of 3", made[sale.ID], sale.ID)
				}
				if got := MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 30 {
					t.Fatalf("sale refunded %d, want 30", got.RefundedAmount)
				}
			}
		}
		CheckInvariants(t, s, m.ID)
	})

	// A refund that failed or was canceled no longer counts; one request
	// split over two payments counts once; a refund awaiting approval
	// counts; without the rule there is no cap.
	t.Run("MaxRefundsPerSaleCounts", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID, Lines(2000), Payments(1000, 1000))
		two := int64(2)
		capped := func(amount int64, policy *refundry.RefundPolicy) (*refundry.RefundResult, error) {
			req := SaleRefund(m.ID, sale.ID, Amount(amount))
			if policy == nil {
				policy = &refundry.RefundPolicy{MaxRefundsPerSale: &two}
			}
			req.Policy, req.RequestedBy = policy, requester
			return s.CreateRefunds(ctx, req)
		}
		split, err := capped(1500, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(split.Refunds) != 2 {
			t.Fatalf("1500 of payments of 1000 and 1000 made %d refunds", len(split.Refunds))
		}
		withApproval := ApprovalPolicy()
		withApproval.MaxRefundsPerSale = &two
		waiting, err := capped(100, withApproval)
		if err != nil {
			t.Fatal(err)
		}
		_, err = capped(100, nil)
		wantCode(t, err, refundry.ETOOMANY)
		if _, err := s.SettleRefund(ctx, m.ID, waiting.Refunds[0].ID, refundry.Settlement{Status: refundry.RefundCanceled,
			By: refundry.ByExpiry, Actor: refundry.ActorSystem}); err != nil {
			t.Fatal(err)
		}
		if _, err := capped(100, nil); err != nil {
			t.Fatalf("after the refund awaiting approval expired: %v", err)
		}
		_, err = capped(100, nil)
		wantCode(t, err, refundry.ETOOMANY)
		if _, err := s.CreateRefunds(ctx, SaleRefund(m.ID, sale.ID, Amount(100))); err != nil {
			t.Fatalf("without the rule: %v", err)
		}
		CheckInvariants(t, s, m.ID)
	})

	t.Run("ExpiredApprovals", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		sale := MustCreateSale(t, s, m.ID)
		a := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 100)
		b := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 100)
		MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100))) // pending: never listed
		// Other merchants' refunds share the database: only this
		// merchant's are looked at, in the order of the whole list.
		mine := func(now time.Time) []string {
			t.Helper()
			rs, err := s.ExpiredApprovals(ctx, now, refundry.MaxPageLimit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i, r := range rs {
				if r.Status != refundry.RefundRequiresApproval || r.ApprovalExpires.After(now) {
					t.Fatalf("listed %s refund due %v at %v", r.Status, r.ApprovalExpires, now)
				}
				if i > 0 && r.ApprovalExpires.Before(rs[i-1].ApprovalExpires) {
					t.Fatal("expired approvals are not earliest first")
				}
				if r.MerchantID == m.ID {
					ids = append(ids, r.ID)
				}
			}
			return ids
		}
		checkIDs(t, mine(a.ApprovalExpires.Add(-time.Microsecond)), nil)
		checkIDs(t, mine(a.ApprovalExpires), []string{a.ID})
		checkIDs(t, mine(b.ApprovalExpires.Add(time.Minute)), []string{a.ID, b.ID})
		if _, err := s.SettleRefund(ctx, m.ID, a.ID, approve("user:someone")); err != nil {
			t.Fatal(err)
		}
		checkIDs(t, mine(b.ApprovalExpires.Add(time.Minute)), []string{b.ID})
		rs, err := s.ExpiredApprovals(ctx, b.ApprovalExpires.Add(time.Minute), 1)
		if err != nil || len(rs) != 1 {
			t.Fatalf("limit 1 listed %d, %v", len(rs), err)
		}
	})

	t.Run("RefundQueues", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		queues := func(merchantID string) []refundry.RefundQueue {
			t.Helper()
			qs, err := s.RefundQueues(ctx, merchantID)
			if err != nil {
				t.Fatal(err)
			}
			if len(qs) != len(refundry.QueueStatuses) {
				t.Fatalf("%d queues", len(qs))
			}
			for i, q := range qs {
				if q.Status != refundry.QueueStatuses[i] {
					t.Fatalf("queue %d is %s", i, q.Status)
				}
			}
			return qs
		}
		for _, q := range queues(m.ID) {
			if q.Count != 0 || !q.Oldest.IsZero() {
				t.Fatalf("queue of a merchant without refunds = %+v", q)
			}
		}
		sale := MustCreateSale(t, s, m.ID)
		a := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 100)
		b := MustRefundAwaitingApproval(t, s, m.ID, sale.ID, 100)
		MustRefund(t, s, SaleRefund(m.ID, sale.ID, Amount(100)))
		qs := queues(m.ID)
		if qs[0].Count != 2 || !qs[0].Oldest.Equal(a.Updated) || qs[1].Count != 0 {
			t.Fatalf("queues = %+v, want 2 awaiting approval since %v", qs, a.Updated)
		}
		if _, err := s.SettleRefund(ctx, m.ID, a.ID, approve("user:someone")); err != nil {
			t.Fatal(err)
		}
		review, err := s.SettleRefund(ctx, m.ID, a.ID, refundry.Settlement{Status: refundry.RefundRequiresAction, By: refundry.ByRecovery, Note: "unknown"})
		if err != nil {
			t.Fatal(err)
		}
		qs = queues(m.ID)
		if qs[0].Count != 1 || !qs[0].Oldest.Equal(b.Updated) || qs[1].Count != 1 || !qs[1].Oldest.Equal(review.Updated) {
			t.Fatalf("queues = %+v", qs)
		}
		all := queues("")
		if all[0].Count < 1 || all[1].Count < 1 || all[0].Oldest.After(b.Updated) || all[1].Oldest.After(review.Updated) {
			t.Fatalf("queues of every merchant = %+v", all)
		}
		other := MustCreateMerchant(t, s)
		if qs := queues(other.ID); qs[0].Count != 0 || qs[1].Count != 0 {
			t.Fatalf("another merchant's queues = %+v", qs)
		}
	})
}
