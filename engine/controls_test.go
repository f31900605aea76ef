package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/store/storetest"
)

// controlGateway is the simulator, counting the refund and cancel calls
// it gets for each refund.
type controlGateway struct {
	*simulator.Gateway
	mu      sync.Mutex
	refunds map[string]int
	cancels map[string]int
}

func (g *controlGateway) Refund(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	g.mu.Lock()
	g.refunds[r.RefundID]++
	g.mu.Unlock()
	return g.Gateway.Refund(ctx, r)
}

func (g *controlGateway) Cancel(ctx context.Context, r refundry.GatewayRefund) (refundry.GatewayResult, error) {
	g.mu.Lock()
	g.cancels[r.RefundID]++
	g.mu.Unlock()
	return g.Gateway.Cancel(ctx, r)
}

// calls is how many times the gateway was asked to refund id, and to
// cancel it.
func (g *controlGateway) calls(id string) (refunds, cancels int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refunds[id], g.cancels[id]
}

// controlEnv is one store of each kind, its clock shared with the engine
// and moved by the test, the simulator counted, and a merchant.
type controlEnv struct {
	t     *testing.T
	store refundry.Store
	gw    *controlGateway
	eng   *engine.Engine
	m     *refundry.Merchant
	clock atomic.Int64
}

func newControlEnv(t *testing.T, cs clockedStore) *controlEnv {
	t.Helper()
	env := &controlEnv{t: t}
	env.clock.Store(time.Now().UnixNano())
	env.store = cs.open(t, env.now)
	env.gw = &controlGateway{Gateway: simulator.New(), refunds: map[string]int{}, cancels: map[string]int{}}
	env.eng = engine.New(env.store, slog.New(slog.NewTextHandler(io.Discard, nil)), env.gw)
	env.eng.Now = env.now
	env.m = storetest.NewMerchant()
	if _, err := env.eng.CreateMerchant(context.Background(), env.m); err != nil {
		t.Fatal(err)
	}
	return env
}

func (env *controlEnv) now() time.Time          { return time.Unix(0, env.clock.Load()) }
func (env *controlEnv) advance(d time.Duration) { env.clock.Add(int64(d)) }

// as is ctx acting as the API key id.
func as(keyID string) context.Context {
	return refundry.WithActor(context.Background(), refundry.Actor{KeyID: keyID, Method: "test"})
}

// Two keys of the merchant: one asks for refunds, the other approves.
const (
	requester = "keyrequester00000001"
	approver  = "keyapprover000000001"
)

func (env *controlEnv) policy(c refundry.PolicyChange) {
	env.t.Helper()
	if _, err := env.eng.SetRefundPolicy(as(requester), env.m.ID, c); err != nil {
		env.t.Fatalf("SetRefundPolicy: %v", err)
	}
}

func (env *controlEnv) sale(opts ...storetest.SaleOption) *refundry.Sale {
	env.t.Helper()
	return storetest.MustCreateSale(env.t, env.store, env.m.ID, opts...)
}

// refund asks, as the requester, to refund amount of the sale.
func (env *controlEnv) refund(sale *refundry.Sale, amount int64) (*refundry.Refund, error) {
	env.t.Helper()
	res, err := env.eng.Refund(as(requester), refundry.RefundRequest{MerchantID: env.m.ID,
		Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative})
	if err != nil {
		return nil, err
	}
	if len(res.Refunds) != 1 {
		env.t.Fatalf("%d refunds, want 1", len(res.Refunds))
	}
	return res.Refunds[0], nil
}

// held asks for a refund that the policy holds for approval.
func (env *controlEnv) held(sale *refundry.Sale, amount int64) *refundry.Refund {
	env.t.Helper()
	r, err := env.refund(sale, amount)
	if err != nil {
		env.t.Fatal(err)
	}
	if r.Status != refundry.RefundRequiresApproval {
		env.t.Fatalf("refund of %d is %s, want requires_approval", amount, r.Status)
	}
	return r
}

func (env *controlEnv) find(id string) *refundry.Refund {
	env.t.Helper()
	r, err := env.eng.FindRefund(context.Background(), env.m.ID, id)
	if err != nil {
		env.t.Fatal(err)
	}
	return r
}

func (env *controlEnv) refunded(sale *refundry.Sale) int64 {
	env.t.Helper()
	return storetest.MustFindSale(env.t, env.store, env.m.ID, sale.ID).RefundedAmount
}

// events lists the types of the events about one object, oldest first.
func (env *controlEnv) events(objectID string) []string {
	env.t.Helper()
	var out []string
	f := refundry.EventFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}, ObjectID: objectID}
	for {
		page, more, err := env.store.ListEvents(context.Background(), env.m.ID, f)
		if err != nil {
			env.t.Fatal(err)
		}
		for _, e := range page {
			out = append(out, e.Type)
		}
		if !more || len(page) == 0 {
			break
		}
		f.StartingAfter = page[len(page)-1].ID
	}
	slices.Reverse(out)
	return out
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if refundry.ErrorCode(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func int64p(n int64) *int64 { return &n }

// Each rule of the merchant's policy, through engine.Refund on both
// stores: a sale past its window is refused (EWINDOW), one with its
// refunds used up too (ETOOMANY), and a refund at or above the threshold
// is held for approval, its amount reserved, its gateway never asked.
func TestRefundPolicyThroughEngine(t *testing.T) {
	for _, cs := range clockedStores {
		t.Run(cs.name, func(t *testing.T) {
			env := newControlEnv(t, cs)
			t.Run("Window", func(t *testing.T) {
				env.advance(-31 * 24 * time.Hour)
				old := env.sale()
				env.advance(31 * 24 * time.Hour)
				recent := env.sale()
				env.policy(refundry.PolicyChange{MaxAgeDays: refundry.Change[int64]{Set: true, Value: int64p(30)}})
				defer env.policy(refundry.PolicyChange{MaxAgeDays: refundry.Change[int64]{Set: true}})
				_, err := env.refund(old, 100)
				wantCode(t, "refund of a sale 31 days old under a 30-day window", err, refundry.EWINDOW)
				if got := env.refunded(old); got != 0 {
					t.Fatalf("a refused refund reserved %d", got)
				}
				if r, err := env.refund(recent, 100); err != nil || r.Status != refundry.RefundSucceeded {
					t.Fatalf("refund of a recent sale: %+v, %v", r, err)
				}
			})
			t.Run("Count", func(t *testing.T) {
				env.policy(refundry.PolicyChange{MaxRefundsPerSale: refundry.Change[int64]{Set: true, Value: int64p(2)}})
				defer env.policy(refundry.PolicyChange{MaxRefundsPerSale: refundry.Change[int64]{Set: true}})
				sale := env.sale()
				for i := range 2 {
					if _, err := env.refund(sale, 100); err != nil {
						t.Fatalf("refund %d: %v", i+1, err)
					}
				}
				_, err := env.refund(sale, 100)
				wantCode(t, "third refund under a limit of 2", err, refundry.ETOOMANY)
				if got := env.refunded(sale); got != 200 {
					t.Fatalf("sale refunded %d, want 200", got)
				}
				// A refund that failed holds nothing and does not count.
				declined := env.sale(storetest.PaymentReferences("sim_fail-count"))
				for i := range 3 {
					r, err := env.refund(declined, 100)
					if err != nil || r.Status != refundry.RefundFailed {
						t.Fatalf("declined refund %d: %+v, %v", i+1, r, err)
					}
				}
			})
			t.Run("Approval", func(t *testing.T) {
				env.policy(refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true,
					Value: &map[string]*int64{"USD": int64p(1000)}}})
				defer env.policy(refundry.PolicyChange{ApprovalThreshold: refundry.Change[map[string]*int64]{Set: true}})
				sale := env.sale()
				below, err := env.refund(sale, 999)
				if err != nil || below.Status != refundry.RefundSucceeded {
					t.Fatalf("refund below the threshold: %+v, %v", below, err)
				}
				r := env.held(sale, 1000)
				if n, _ := env.gw.calls(r.ID); n != 0 {
					t.Fatalf("a refund awaiting approval was sent to its gateway %d times", n)
				}
				if r.RequestedBy != "key:"+requester {
					t.Errorf("requested_by = %q, want key:%s", r.RequestedBy, requester)
				}
				if want := env.now().Add(refundry.DefaultApprovalExpiry); !r.ApprovalExpires.Equal(want.Truncate(time.Microsecond)) && r.ApprovalExpires.Sub(want).Abs() > time.Second {
					t.Errorf("approval expires %v, want %v", r.ApprovalExpires, want)
				}
				if got := env.refunded(sale); got != 1999 {
					t.Fatalf("sale refunded %d, want 1999: the held refund's amount is reserved (invariant 2)", got)
				}
				if got := env.events(r.ID); !slices.Contains(got, refundry.EventRefundRequiresApproval) {
					t.Fatalf("events of the held refund: %v, want %s", got, refundry.EventRefundRequiresApproval)
				}
				storetest.CheckInvariants(t, env.store, env.m.ID)
			})
		})
	}
}

// Approving sends the refund to its gateway once; its requester may not
// approve it, and a second approval is refused. Rejecting, withdrawing
// and expiring release its amount, none asking the gateway.
func TestApproval(t *testing.T) {
	for _, cs := range clockedStores {
		t.Run(cs.name, func(t *testing.T) {
			env := newControlEnv(t, cs)
			env.policy(refundry.PolicyChange{
				ApprovalThreshold:   refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{"USD": int64p(500)}},
				ApprovalExpiryHours: refundry.Change[int64]{Set: true, Value: int64p(2)},
			})
			t.Run("Approve", func(t *testing.T) {
				sale := env.sale()
				r := env.held(sale, 600)
				_, err := env.eng.Approve(as(requester), env.m.ID, r.ID, "mine")
				wantCode(t, "approving one's own refund", err, refundry.EFORBIDDEN)
				if got := env.find(r.ID); got.Status != refundry.RefundRequiresApproval {
					t.Fatalf("after a refused approval the refund is %s", got.Status)
				}
				got, err := env.eng.Approve(as(approver), env.m.ID, r.ID, "checked the order")
				if err != nil || got.Status != refundry.RefundSucceeded {
					t.Fatalf("Approve = %+v, %v; want succeeded", got, err)
				}
				if got.DecidedBy != "key:"+approver || got.DecisionNote != "checked the order" {
					t.Errorf("decided by %q (%q)", got.DecidedBy, got.DecisionNote)
				}
				_, err = env.eng.Approve(as("keyapprover000000002"), env.m.ID, r.ID, "again")
				wantCode(t, "a second approval", err, refundry.ECONFLICT)
				if n, _ := env.gw.calls(r.ID); n != 1 || env.gw.Moved(r.ID) != 600 {
					t.Fatalf("gateway asked %d times, moved %d; want once, 600", n, env.gw.Moved(r.ID))
				}
				want := []string{refundry.EventRefundCreated, refundry.EventRefundRequiresApproval, refundry.EventRefundApproved, refundry.EventRefundSucceeded}
				if got := env.events(r.ID); !slices.Equal(got, want) {
					t.Errorf("events %v, want %v", got, want)
				}
				if got := env.refunded(sale); got != 600 {
					t.Fatalf("sale refunded %d, want 600", got)
				}
			})
			t.Run("Reject", func(t *testing.T) {
				sale := env.sale()
				r := env.held(sale, 700)
				got, err := env.eng.Reject(as(approver), env.m.ID, r.ID, "duplicate request")
				if err != nil || got.Status != refundry.RefundCanceled {
					t.Fatalf("Reject = %+v, %v", got, err)
				}
				if env.refunded(sale) != 0 {
					t.Fatalf("a rejected refund still holds %d", env.refunded(sale))
				}
				if got := env.events(r.ID); got[len(got)-1] != refundry.EventRefundRejected {
					t.Errorf("events %v, want the last refund.rejected", got)
				}
				_, err = env.eng.Approve(as(approver), env.m.ID, r.ID, "")
				wantCode(t, "approving a rejected refund", err, refundry.ECONFLICT)
				if n, c := env.gw.calls(r.ID); n+c != 0 {
					t.Fatalf("gateway asked %d times about a rejected refund", n+c)
				}
			})
			t.Run("Withdraw", func(t *testing.T) {
				sale := env.sale()
				r := env.held(sale, 800)
				got, err := env.eng.Cancel(as(requester), env.m.ID, r.ID)
				if err != nil || got.Status != refundry.RefundCanceled {
					t.Fatalf("Cancel = %+v, %v", got, err)
				}
				if n, c := env.gw.calls(r.ID); n+c != 0 {
					t.Fatalf("withdrawing asked the gateway %d times", n+c)
				}
				if env.refunded(sale) != 0 {
					t.Fatalf("a withdrawn refund still holds %d", env.refunded(sale))
				}
				if got := env.events(r.ID); got[len(got)-1] != refundry.EventRefundCanceled {
					t.Errorf("events %v, want the last refund.canceled", got)
				}
			})
			t.Run("Expire", func(t *testing.T) {
				sale := env.sale()
				r := env.held(sale, 900)
				if n, err := env.eng.ExpireApprovals(context.Background(), 10); err != nil || n != 0 {
					t.Fatalf("ExpireApprovals before the deadline = %d, %v", n, err)
				}
				env.advance(2*time.Hour + time.Second)
				defer env.advance(-2*time.Hour - time.Second)
				if n, err := env.eng.ExpireApprovals(context.Background(), 10); err != nil || n != 1 {
					t.Fatalf("ExpireApprovals after the deadline = %d, %v", n, err)
				}
				got := env.find(r.ID)
				if got.Status != refundry.RefundCanceled || got.DecidedBy != refundry.ActorSystem {
					t.Fatalf("expired refund: %s decided by %q", got.Status, got.DecidedBy)
				}
				if env.refunded(sale) != 0 {
					t.Fatalf("an expired refund still holds %d", env.refunded(sale))
				}
				if got := env.events(r.ID); got[len(got)-1] != refundry.EventRefundExpired {
					t.Errorf("events %v, want the last refund.expired", got)
				}
				_, err := env.eng.Approve(as(approver), env.m.ID, r.ID, "too late")
				wantCode(t, "approving an expired refund", err, refundry.ECONFLICT)
			})
			storetest.CheckInvariants(t, env.store, env.m.ID)
		})
	}
}

// Races of decisions on refunds awaiting approval, 64 clients at once on
// both stores: approve against cancel, approve against approve, approve
// against expiry. Of the decisions on one refund exactly one is made, its
// gateway is asked at most once (exactly once when an approval won), and
// afterwards every sale's refunded amount is exactly the sum of its
// refunds that hold money (invariant 2).
func TestApprovalRaces(t *testing.T) {
	const (
		clients = 64
		sales   = 4
		perSale = 6 // refunds awaiting approval on each sale
		rounds  = 3 // each client's decisions on each refund
	)
	type race struct {
		name string
		// decide is client c's decision on r; it reports which decision
		// it made ("" when it was refused as already decided).
		decide func(env *controlEnv, c int, r *refundry.Refund) (string, error)
		// before prepares the env (the clock past the deadlines).
		before func(env *controlEnv)
	}
	approve := func(env *controlEnv, c int, r *refundry.Refund) (string, error) {
		_, err := env.eng.Approve(as(fmt.Sprintf("keyapprover%09d", c)), env.m.ID, r.ID, "race")
		if err == nil {
			return "approved", nil
		}
		return "", err
	}
	races := []race{
		{name: "ApproveVsCancel", decide: func(env *controlEnv, c int, r *refundry.Refund) (string, error) {
			if c%2 == 0 {
				return approve(env, c, r)
			}
			// Canceling is idempotent; a cancel that comes after an
			// approval cancels the refund at its gateway if the gateway
			// has not taken it, a decision of its own.
			_, err := env.eng.Cancel(as(requester), env.m.ID, r.ID)
			return "", err
		}},
		{name: "ApproveVsApprove", decide: approve},
		{name: "ApproveVsExpiry", before: func(env *controlEnv) {
			// The engine's clock (which the sweep reads) is past every
			// deadline; the store's is not, so approvals still count.
			env.eng.Now = func() time.Time { return env.now().Add(2*time.Hour + time.Second) }
		}, decide: func(env *controlEnv, c int, r *refundry.Refund) (string, error) {
			if c%2 == 0 {
				return approve(env, c, r)
			}
			n, err := env.eng.ExpireApprovals(context.Background(), 3)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("expired %d", n), nil
		}},
	}
	for _, cs := range clockedStores {
		for _, rc := range races {
			t.Run(cs.name+"/"+rc.name, func(t *testing.T) {
				env := newControlEnv(t, cs)
				env.policy(refundry.PolicyChange{
					ApprovalThreshold:   refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{"USD": int64p(100)}},
					ApprovalExpiryHours: refundry.Change[int64]{Set: true, Value: int64p(2)},
				})
				var held []*refundry.Refund
				var saleList []*refundry.Sale
				for range sales {
					s := env.sale()
					saleList = append(saleList, s)
					for range perSale {
						held = append(held, env.held(s, 400))
					}
				}
				if rc.before != nil {
					rc.before(env)
				}
				var (
					mu       sync.Mutex
					approved = map[string]int{}
					expired  int
					failures []error
					wg       sync.WaitGroup
				)
				for c := range clients {
					wg.Go(func() {
						for i := range rounds * 2 {
							r := held[(c*7+i)%len(held)]
							what, err := rc.decide(env, c, r)
							mu.Lock()
							switch {
							case err != nil && refundry.ErrorCode(err) != refundry.ECONFLICT:
								failures = append(failures, fmt.Errorf("client %d on %s: %w", c, r.ID, err))
							case what == "approved":
								approved[r.ID]++
							case len(what) > 8 && what[:8] == "expired ":
								var n int
								fmt.Sscanf(what, "expired %d", &n)
								expired += n
							}
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				for _, err := range failures {
					t.Error(err)
				}
				// The sweep, once more, takes any refund nobody decided.
				if rc.name == "ApproveVsExpiry" {
					n, err := env.eng.ExpireApprovals(context.Background(), len(held))
					if err != nil {
						t.Fatal(err)
					}
					expired += n
				}
				won := 0
				for _, r := range held {
					got := env.find(r.ID)
					calls, cancels := env.gw.calls(r.ID)
					switch {
					case approved[r.ID] > 1:
						t.Errorf("refund %s approved %d times", r.ID, approved[r.ID])
					case approved[r.ID] == 1:
						won++
						ok := got.Status == refundry.RefundSucceeded && calls == 1 && env.gw.Moved(r.ID) == r.Amount
						if rc.name == "ApproveVsCancel" {
							// Or canceled right after, with its gateway's word.
							ok = ok || got.Status == refundry.RefundCanceled && cancels >= 1 && calls <= 1 && env.gw.Moved(r.ID) == 0
						}
						if !ok {
							t.Errorf("approved refund %s: %s, %d gateway calls, moved %d", r.ID, got.Status, calls, env.gw.Moved(r.ID))
						}
					default:
						if got.Status != refundry.RefundCanceled || calls != 0 {
							t.Errorf("refund %s no approval won: %s, %d gateway calls", r.ID, got.Status, calls)
						}
					}
				}
				switch rc.name {
				case "ApproveVsApprove":
					if won != len(held) {
						t.Errorf("%d of %d refunds approved", won, len(held))
					}
				case "ApproveVsExpiry":
					if won+expired != len(held) {
						t.Errorf("%d approved and %d expired of %d refunds: each is decided exactly once", won, expired, len(held))
					}
				}
				t.Logf("%d refunds: %d approved, %d expired", len(held), won, expired)
				// Invariant 2, exact: each sale's refunded amount is its
				// holding refunds' sum.
				for _, s := range saleList {
					var want int64
					for _, r := range held {
						if r.SaleID == s.ID && refundry.Holds(env.find(r.ID).Status) {
							want += r.Amount
						}
					}
					if got := env.refunded(s); got != want {
						t.Errorf("invariant 2: sale %s refunded %d, its holding refunds add up to %d", s.ID, got, want)
					}
				}
				storetest.CheckInvariants(t, env.store, env.m.ID)
			})
		}
	}
}

// A refund its gateway holds pending (sim_pending) reaches manual review
// through recovery once the review rule's attempts are spent; recovery
// then leaves it alone, and a person resolves it each of the three ways.
func TestManualReview(t *testing.T) {
	for _, cs := range clockedStores {
		t.Run(cs.name, func(t *testing.T) {
			env := newControlEnv(t, cs)
			env.eng.Review = refundry.ReviewRule{Attempts: 2}
			ctx := context.Background()
			var sales []*refundry.Sale
			var ids []string
			for i := range 3 {
				s := env.sale(storetest.PaymentReferences(fmt.Sprintf("sim_pending_manual-%d", i)))
				r, err := env.refund(s, 1000)
				if err != nil || r.Status != refundry.RefundPending {
					t.Fatalf("refund %d: %+v, %v", i, r, err)
				}
				sales, ids = append(sales, s), append(ids, r.ID)
			}
			// Recovery looks an hour ahead: past any backoff.
			for pass := 0; pass < 5; pass++ {
				if _, err := env.eng.Recover(ctx, env.now().Add(time.Hour), 10); err != nil {
					t.Fatal(err)
				}
				if env.find(ids[2]).Status != refundry.RefundPending {
					break
				}
			}
			asked := map[string]int{}
			for _, id := range ids {
				r := env.find(id)
				if r.Status != refundry.RefundRequiresAction || r.ReviewReason == "" {
					t.Fatalf("refund %s after recovery: %s, reason %q; want requires_action with a reason", id, r.Status, r.ReviewReason)
				}
				if got := env.events(id); got[len(got)-1] != refundry.EventRefundRequiresAction {
					t.Errorf("events %v, want the last refund.requires_action", got)
				}
				asked[id], _ = env.gw.calls(id)
			}
			// Recovery never claims a refund in review.
			if n, err := env.eng.Recover(ctx, env.now().Add(time.Hour), 10); err != nil || n != 0 {
				t.Fatalf("recovery over refunds in review = %d, %v", n, err)
			}
			for _, id := range ids {
				if n, _ := env.gw.calls(id); n != asked[id] {
					t.Fatalf("recovery asked about %s in review", id)
				}
			}
			for i, s := range sales {
				if got := env.refunded(s); got != 1000 {
					t.Fatalf("sale %d refunded %d, want 1000: a refund in review holds its amount", i, got)
				}
			}
			queues, err := env.eng.RefundQueues(ctx, env.m.ID)
			if err != nil || len(queues) != 2 || queues[1].Status != refundry.RefundRequiresAction || queues[1].Count != 3 {
				t.Fatalf("RefundQueues = %+v, %v; want 3 in review", queues, err)
			}

			t.Run("ErrBadResolution", func(t *testing.T) {
				for _, res := range []refundry.Resolution{
					{Outcome: refundry.ResolveSucceeded, Note: "paid"},
					{Outcome: refundry.ResolveFailed},
					{Outcome: "maybe", Note: "?"},
				} {
					_, err := env.eng.Resolve(as(approver), env.m.ID, ids[0], res)
					wantCode(t, fmt.Sprintf("Resolve(%+v)", res), err, refundry.EINVALID)
				}
				other := env.sale()
				r, err := env.refund(other, 100)
				if err != nil {
					t.Fatal(err)
				}
				_, err = env.eng.Resolve(as(approver), env.m.ID, r.ID, refundry.Resolution{Outcome: refundry.ResolveFailed, Note: "x"})
				wantCode(t, "resolving a refund not in review", err, refundry.ECONFLICT)
				if got := env.find(ids[0]).Status; got != refundry.RefundRequiresAction {
					t.Fatalf("a refused resolution changed the refund to %s", got)
				}
			})
			t.Run("Succeeded", func(t *testing.T) {
				got, err := env.eng.Resolve(as(approver), env.m.ID, ids[0], refundry.Resolution{
					Outcome: refundry.ResolveSucceeded, GatewayRefundID: "re_manual_1", Note: "Seen in the processor's dashboard."})
				if err != nil || got.Status != refundry.RefundSucceeded || got.GatewayRefundID != "re_manual_1" {
					t.Fatalf("Resolve succeeded = %+v, %v", got, err)
				}
				if got.DecidedBy != "key:"+approver {
					t.Errorf("decided by %q", got.DecidedBy)
				}
				if env.refunded(sales[0]) != 1000 {
					t.Fatalf("sale refunded %d, want 1000", env.refunded(sales[0]))
				}
			})
			t.Run("Failed", func(t *testing.T) {
				got, err := env.eng.Resolve(as(approver), env.m.ID, ids[1], refundry.Resolution{
					Outcome: refundry.ResolveFailed, Note: "The processor never received it."})
				if err != nil || got.Status != refundry.RefundFailed {
					t.Fatalf("Resolve failed = %+v, %v", got, err)
				}
				if env.refunded(sales[1]) != 0 {
					t.Fatalf("a refund resolved failed still holds %d", env.refunded(sales[1]))
				}
				// Its amount is refundable again.
				again, err := env.refund(sales[1], storetest.MustFindSale(t, env.store, env.m.ID, sales[1].ID).Amount)
				if err != nil || !refundry.Holds(again.Status) {
					t.Fatalf("refunding the released amount: %+v, %v", again, err)
				}
			})
			t.Run("Retry", func(t *testing.T) {
				got, err := env.eng.Resolve(as(approver), env.m.ID, ids[2], refundry.Resolution{
					Outcome: refundry.ResolveRetry, Note: "The processor was down; it is back."})
				if err != nil || got.Status != refundry.RefundPending {
					t.Fatalf("Resolve retry = %+v, %v", got, err)
				}
				if got := env.events(ids[2]); got[len(got)-1] != refundry.EventRefundRetried {
					t.Errorf("events %v, want the last refund.retried", got)
				}
				// The processor has paid it meanwhile: recovery asks again
				// and records the answer.
				if !env.gw.Settle(ids[2], refundry.RefundSucceeded) {
					t.Fatal("the simulator did not hold the refund pending")
				}
				before, _ := env.gw.calls(ids[2])
				if n, err := env.eng.Recover(ctx, env.now().Add(time.Hour), 10); err != nil || n < 1 {
					t.Fatalf("recovery after retry = %d, %v", n, err)
				}
				if after, _ := env.gw.calls(ids[2]); after != before+1 {
					t.Fatalf("recovery asked %d times after retry, want once", after-before)
				}
				if got := env.find(ids[2]); got.Status != refundry.RefundSucceeded {
					t.Fatalf("retried refund after recovery: %s", got.Status)
				}
			})
			storetest.CheckInvariants(t, env.store, env.m.ID)
		})
	}
}

// RunExpiry, the loop serve runs, releases a refund whose approval
// deadline passed, at start, and stops with its context.
func TestRunExpiry(t *testing.T) {
	env := newControlEnv(t, clockedStores[0])
	env.policy(refundry.PolicyChange{
		ApprovalThreshold:   refundry.Change[map[string]*int64]{Set: true, Value: &map[string]*int64{"USD": int64p(100)}},
		ApprovalExpiryHours: refundry.Change[int64]{Set: true, Value: int64p(1)},
	})
	sale := env.sale()
	r := env.held(sale, 300)
	env.advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { env.eng.RunExpiry(ctx, time.Hour); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for env.find(r.ID).Status == refundry.RefundRequiresApproval {
		if time.Now().After(deadline) {
			t.Fatal("RunExpiry did not release the expired refund at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := env.find(r.ID); got.Status != refundry.RefundCanceled || env.refunded(sale) != 0 {
		t.Fatalf("after RunExpiry: %s, sale refunded %d", got.Status, env.refunded(sale))
	}
}
