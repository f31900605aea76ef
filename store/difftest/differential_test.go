package difftest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// Seeds: a fixed default with a long run, a few more with shorter ones.
// REFUNDRY_DIFF_SEED=N (or "random") adds a run of that seed, and
// REFUNDRY_DIFF_STEPS its length, to chase a failure or to look further.
var runs = []struct {
	seed  uint64
	steps int
}{
	{20261206, 3000},
	{1, 500},
	{2, 500},
	{3, 500},
}

// checkEvery is how many steps pass between two comparisons of everything
// the stores hold (every step's own answer is compared at once).
const checkEvery = 500

// opTimeout bounds each step's requests to the stores, so that a store
// that hangs fails the test instead of holding it.
const opTimeout = 30 * time.Second

// store is what the test asks of a store: methods both stores have. It is
// the one place to change when the stores' interfaces are reshaped.
type store interface {
	CreateMerchant(ctx context.Context, m *refundry.Merchant, key *refundry.APIKey) error
	CreateSale(ctx context.Context, s *refundry.Sale, idem *refundry.Idempotency) (bool, error)
	FindSale(ctx context.Context, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error)
	CreateRefunds(ctx context.Context, req refundry.RefundRequest) (*refundry.RefundResult, error)
	SettleRefund(ctx context.Context, merchantID, id string, st refundry.Settlement) (*refundry.Refund, error)
	ListSales(ctx context.Context, merchantID string, f refundry.SaleFilter) ([]*refundry.Sale, bool, error)
	ListRefunds(ctx context.Context, merchantID string, f refundry.RefundFilter) ([]*refundry.Refund, bool, error)
	CreateReferral(ctx context.Context, r *refundry.Referral, idem *refundry.Idempotency) (bool, error)
	FindOrigin(ctx context.Context, merchantID, slug string) (*refundry.Origin, error)
	VoidReferrals(ctx context.Context, merchantID string, originID int64, at time.Time) ([]*refundry.Referral, error)
	ListReferrals(ctx context.Context, merchantID string, originID int64) ([]*refundry.Referral, error)
	ListEvents(ctx context.Context, merchantID string, f refundry.EventFilter) ([]*refundry.Event, bool, error)
	ListAuditLog(ctx context.Context, merchantID string, f refundry.AuditFilter) ([]*refundry.AuditEntry, bool, error)
	ListNotifications(ctx context.Context, merchantID string, f refundry.NotificationFilter) ([]*refundry.Notification, bool, error)
	FindRefund(ctx context.Context, merchantID, id string) (*refundry.Refund, error)
	ApplyRefundReport(ctx context.Context, rep refundry.RefundReport) (*refundry.ReportResult, error)
	ApplyDisputeReport(ctx context.Context, rep refundry.DisputeReport) (*refundry.ReportResult, error)
	ListDisputes(ctx context.Context, merchantID string, f refundry.DisputeFilter) ([]*refundry.Dispute, bool, error)
	CountOverRefundedSales(ctx context.Context) (int64, error)
}

// clock is the time both stores read: the test moves it before each step,
// so that both stamp a step's objects alike and times compare exactly.
type clock struct{ micros atomic.Int64 }

func (c *clock) Now() time.Time { return time.UnixMicro(c.micros.Load()).UTC() }

// side is one store under test with what the test knows of it: the ids it
// assigned, by the position of the objects in the sequence.
type side struct {
	name       string
	st         store
	invariants func(tb testing.TB, merchantID string)

	sales   []*refundry.Sale // by sale index; nil if its creation failed
	refunds []string         // refund ids by refund index

	// Ids are compared by the order they first appear in: the nth new id
	// one store answers with stands for the nth new id of the other.
	strIDs map[string]string
	numIDs map[string]map[string]string // kind -> number -> placeholder
}

func newSide(name string, st store, invariants func(testing.TB, string)) *side {
	return &side{name: name, st: st, invariants: invariants,
		strIDs: map[string]string{}, numIDs: map[string]map[string]string{}}
}

func openSQLite(t *testing.T, clk *clock) *side {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "diff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Now = clk.Now
	return newSide("sqlite", s, func(tb testing.TB, mid string) { storetest.CheckInvariants(tb, s, mid) })
}

func openPostgres(t *testing.T, clk *clock) *side {
	url := pgtest.NewDatabase(t) // skips without REFUNDRY_TEST_POSTGRES, fails so under CI
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Now = clk.Now
	return newSide("postgres", s, func(tb testing.TB, mid string) { storetest.CheckInvariants(tb, s, mid) })
}

// TestDifferential sends the same random requests to SQLite and
// PostgreSQL and requires the same answers of both.
func TestDifferential(t *testing.T) {
	pgtest.ServerURL(t)
	todo := runs
	if v := os.Getenv("REFUNDRY_DIFF_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if v == "random" {
			seed, err = rand.Uint64(), nil
		}
		if err != nil {
			t.Fatalf("REFUNDRY_DIFF_SEED=%q: want a number or random", v)
		}
		steps := 3000
		if n, err := strconv.Atoi(os.Getenv("REFUNDRY_DIFF_STEPS")); err == nil && n > 0 {
			steps = n
		}
		todo = append([]struct {
			seed  uint64
			steps int
		}{{seed, steps}}, todo...)
	}
	for _, r := range todo {
		steps := r.steps
		if testing.Short() {
			steps = min(steps, 200)
		}
		t.Run(fmt.Sprintf("seed=%d", r.seed), func(t *testing.T) {
			clk := &clock{}
			d := &driver{t: t, seed: r.seed, rng: rand.New(rand.NewPCG(r.seed, r.seed^0x5eed)), clk: clk,
				sides: []*side{openSQLite(t, clk), openPostgres(t, clk)}}
			d.run(steps)
		})
	}
}

// The generator's picture of the sequence so far, by index; the real ids
// are each side's own.
type saleInfo struct {
	merchant  int
	lines     int
	txns      int
	reference string
	ok        bool // created
}

type refundInfo struct {
	merchant int
	status   string // as last answered
}

// pastRequest is a request sent with an Idempotency-Key, to send again.
type pastRequest struct {
	sale   *saleSpec
	refund *refundSpec
	key    string
	hash   string
}

type driver struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	clk   *clock
	sides []*side

	merchants []*refundry.Merchant
	sales     []saleInfo
	refunds   []refundInfo
	past      []pastRequest
	step      int
	op        string // the step's request, for the failure message
	keys      int
	cur       context.Context
	// tally counts the outcomes the first store answered, by request, so
	// that a run shows what it covered.
	tally map[string]int
}

func (d *driver) run(steps int) {
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	d.clk.micros.Store(start.UnixMicro())
	defer d.begin(opTimeout)()
	for i := range 2 {
		m := &refundry.Merchant{ID: refundry.NewID(), Slug: fmt.Sprintf("diff-%d-%d", d.seed, i), Name: "Diff " + strconv.Itoa(i),
			Currency: "USD", Created: start}
		key, _ := refundry.NewAPIKey(m.ID, start)
		for _, s := range d.sides {
			mc, kc := *m, *key
			if err := s.st.CreateMerchant(d.ctx(), &mc, &kc); err != nil {
				d.t.Fatalf("%s: CreateMerchant: %v", s.name, err)
			}
		}
		d.merchants = append(d.merchants, m)
	}
	d.feeCase()
	for d.step = 1; d.step <= steps; d.step++ {
		// Steps a second and a bit apart: every timestamp differs, and a
		// step's objects share one.
		d.clk.micros.Store(start.Add(time.Duration(d.step)*time.Second + time.Duration(d.step)*time.Microsecond).UnixMicro())
		end := d.begin(opTimeout)
		d.randomStep()
		end()
		if d.step%checkEvery == 0 || d.step == steps {
			end := d.begin(10 * opTimeout)
			d.compareAll()
			end()
		}
	}
	d.report()
}

// ctx is the step's context: with a deadline, and an actor so that every
// write is audited and the audit logs compared.
func (d *driver) ctx() context.Context { return d.cur }

// begin gives the step its context; the function it returns ends it.
func (d *driver) begin(timeout time.Duration) context.CancelFunc {
	ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "key-diff", RemoteAddr: "192.0.2.1",
		RequestID: "req-" + strconv.Itoa(d.step), Method: "POST", Path: "/diff"})
	var cancel context.CancelFunc
	d.cur, cancel = context.WithTimeout(ctx, timeout)
	return cancel
}

func (d *driver) randomStep() {
	n := d.rng.IntN(100)
	switch {
	case n < 12 || len(d.sales) < 3:
		d.createSale(d.newSaleSpec(), nil)
	case n < 57:
		d.refund(d.newRefundSpec())
	case n < 82:
		d.settle()
	case n < 94:
		d.replay()
	case n < 97 && d.rng.IntN(3) > 0:
		d.gatewayReport()
	case n < 97:
		d.referral()
	case n < 98:
		d.voidOrigin()
	case n < 99:
		d.find()
	default:
		d.listSales()
	}
}

// ---- sales ----

type saleSpec struct {
	merchant  int
	currency  string
	lines     [][2]int64 // quantity, unit amount
	taxes     []int64    // each line's tax; none for a sale without
	shipping  bool       // the last line is shipping
	payments  []paySpec
	reference string
	email     string
	first     string
	last      string
}

type paySpec struct {
	amount  int64
	gateway string
	fee     int64
}

var (
	currencies = []string{"USD", "USD", "USD", "JPY", "KWD"}
	gateways   = []string{refundry.GatewaySimulator, refundry.GatewaySimulator, refundry.GatewaySimulator,
		refundry.GatewaySimulator, refundry.GatewayStripe, refundry.GatewayOffsite}
	// Names and emails in several cases, some past A to Z: searches and
	// the email filter fold A to Z only, on both stores alike.
	firstNames = []string{"Ada", "Grace", "Alan", "", "ÉMILE", "émile", "Ådne"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "", "Østergård", "O'Brien", "ÖZIL"}
	emails     = []string{"c%d@example.com", "C%d@example.com", "c%d@EXAMPLE.COM"}
)

func (d *driver) newSaleSpec() *saleSpec {
	r := d.rng
	sp := &saleSpec{merchant: r.IntN(2), currency: currencies[r.IntN(len(currencies))],
		reference: fmt.Sprintf("order-%d", len(d.sales)),
		// A few customers per merchant, so that sales find and rename them.
		email: fmt.Sprintf(emails[r.IntN(len(emails))], r.IntN(6)),
		first: firstNames[r.IntN(len(firstNames))], last: lastNames[r.IntN(len(lastNames))]}
	if r.IntN(20) == 0 && len(d.sales) > 0 {
		sp.reference = d.sales[r.IntN(len(d.sales))].reference // taken, most likely: ECONFLICT
		if r.IntN(2) == 0 {
			sp.reference = strings.ToUpper(sp.reference) // another order number
		}
	}
	var total int64
	taxed := r.IntN(2) == 0
	for range 1 + r.IntN(4) {
		q, u := int64(1+r.IntN(3)), int64(1+r.IntN(5000))
		sp.lines = append(sp.lines, [2]int64{q, u})
		total += q * u
		if taxed {
			tax := r.Int64N(u/5 + 1)
			sp.taxes = append(sp.taxes, tax)
			total += tax
		}
	}
	sp.shipping = r.IntN(3) == 0
	// One payment or several, cut at random points of the total.
	k := []int{1, 1, 1, 2, 2, 3}[r.IntN(6)]
	cuts := map[int64]bool{}
	for range k - 1 {
		if total > 1 {
			cuts[1+r.Int64N(total-1)] = true
		}
	}
	points := []int64{0, total}
	for c := range cuts {
		points = append(points, c)
	}
	slices.Sort(points)
	for i := 1; i < len(points); i++ {
		amt := points[i] - points[i-1]
		sp.payments = append(sp.payments, paySpec{amount: amt, gateway: gateways[r.IntN(len(gateways))], fee: r.Int64N(amt/10 + 1)})
	}
	return sp
}

func (sp *saleSpec) build(merchantID string) *refundry.Sale {
	s := &refundry.Sale{MerchantID: merchantID, Reference: sp.reference, Currency: sp.currency,
		Customer:   refundry.Customer{Email: sp.email, FirstName: sp.first, LastName: sp.last},
		CampaignID: "camp", CampaignName: "Diff"}
	for i, l := range sp.lines {
		li := &refundry.LineItem{Name: "Item " + strconv.Itoa(i), Quantity: l[0], UnitAmount: l[1]}
		if i < len(sp.taxes) {
			li.TaxAmount = sp.taxes[i]
		}
		if sp.shipping && i == len(sp.lines)-1 {
			li.Kind = refundry.LineShipping
		}
		s.LineItems = append(s.LineItems, li)
	}
	for i, p := range sp.payments {
		s.Transactions = append(s.Transactions, &refundry.Transaction{Gateway: p.gateway, Amount: p.amount,
			Reference: fmt.Sprintf("%s-pay-%d", sp.reference, i), ProcessingFee: p.fee})
	}
	return s
}

func (d *driver) createSale(sp *saleSpec, replay *pastRequest) {
	var idem *refundry.Idempotency
	switch {
	case replay != nil:
		idem = &refundry.Idempotency{Key: replay.key, Hash: replay.hash}
	case d.rng.IntN(4) == 0:
		idem = d.newKey("sale")
		d.past = append(d.past, pastRequest{sale: sp, key: idem.Key, hash: idem.Hash})
	}
	d.op = fmt.Sprintf("CreateSale(%+v, idem %+v)", *sp, idem)
	index := len(d.sales)
	if replay != nil {
		index = -1
	}
	answers := make([]any, len(d.sides))
	var created *refundry.Sale
	for i, s := range d.sides {
		sale := sp.build(d.merchants[sp.merchant].ID)
		if err := sale.Validate(); err != nil {
			d.t.Fatalf("seed %d step %d: the test built an invalid sale: %v", d.seed, d.step, err)
		}
		replayed, err := s.st.CreateSale(d.ctx(), sale, idem)
		if err != nil {
			answers[i] = errAnswer(err)
			if index >= 0 {
				s.sales = append(s.sales, nil)
			}
			continue
		}
		answers[i] = map[string]any{"replayed": replayed, "sale": sale}
		if index >= 0 {
			s.sales = append(s.sales, sale)
		}
		if i == 0 {
			created = sale
		}
	}
	d.same("answer", answers...)
	d.count("sale", answers[0])
	if index >= 0 {
		info := saleInfo{merchant: sp.merchant, reference: sp.reference}
		if created != nil {
			info.ok, info.lines, info.txns = true, len(created.LineItems), len(created.Transactions)
		}
		d.sales = append(d.sales, info)
	}
}

// feeCase starts every run with the case that showed the stores apart:
// a sale paid 300 + 700, refunded 1000 with a fee of 500: the fee is
// taken from the refunds in order, 300 then 200.
func (d *driver) feeCase() {
	end := d.begin(opTimeout)
	defer end()
	d.createSale(&saleSpec{merchant: 0, currency: "USD", lines: [][2]int64{{1, 1000}}, reference: "order-fee",
		email: "fee@example.com", payments: []paySpec{{300, refundry.GatewaySimulator, 0}, {700, refundry.GatewaySimulator, 0}}}, nil)
	amount, fee := int64(1000), int64(500)
	d.sendRefund(&refundSpec{merchant: 0, sale: len(d.sales) - 1, kind: "sale", amount: &amount, fee: fee, source: refundry.SourceJetti}, nil)
}

// ---- refunds ----

type refundSpec struct {
	merchant  int // who asks: another merchant's target is not found
	sale      int
	kind      string // sale, line, txn; units (of line part), shipping
	part      int
	quantity  int64 // units
	all       bool  // shipping: all that remains, else amount
	amount    *int64
	fee       int64
	offsite   bool
	notify    bool
	void      bool
	source    string
	reason    string
	metadata  string
	refunded  bool // a date given by the client
	reference string
}

var sources = []string{refundry.SourceNative, refundry.SourceKeepUp, refundry.SourceTalkable, refundry.SourceRevCent,
	refundry.SourcePayop, refundry.SourceJetti, refundry.SourceDashboard, refundry.SourceBulk}

// pickSale returns a sale index, most often of one that exists.
func (d *driver) pickSale() int {
	for range 5 {
		i := d.rng.IntN(len(d.sales))
		if d.sales[i].ok {
			return i
		}
	}
	return d.rng.IntN(len(d.sales))
}

func (d *driver) newRefundSpec() *refundSpec {
	r := d.rng
	sp := &refundSpec{sale: d.pickSale(), source: sources[r.IntN(len(sources))],
		offsite: r.IntN(10) == 0, notify: r.IntN(3) == 0, void: r.IntN(6) == 0, refunded: r.IntN(8) == 0}
	info := d.sales[sp.sale]
	sp.merchant = info.merchant
	if r.IntN(25) == 0 {
		sp.merchant = 1 - info.merchant // invariant 5: answered as missing
	}
	switch k := r.IntN(13); {
	case k < 4 || !info.ok:
		sp.kind = "sale"
	case k < 7:
		sp.kind, sp.part = "line", r.IntN(info.lines)
	case k < 10:
		sp.kind, sp.part = "txn", r.IntN(info.txns)
	case k < 12:
		sp.kind, sp.part = "units", r.IntN(info.lines)
	default:
		sp.kind, sp.all = "shipping", r.IntN(2) == 0
	}
	if r.IntN(3) == 0 {
		sp.reason = "requested_by_customer"
	}
	if r.IntN(5) == 0 {
		sp.metadata = fmt.Sprintf(`{"step": %d, "note": "diff"}`, d.step)
	}
	if r.IntN(4) == 0 {
		sp.reference = "ext-" + strconv.Itoa(d.step)
	}

	// What remains, as the first store holds it, to aim near it.
	var remaining int64
	var sale *refundry.Sale
	if info.ok {
		var err error
		sale, err = d.sides[0].st.FindSale(d.ctx(), d.merchants[info.merchant].ID, refundry.SaleLookup{ID: d.sides[0].sales[sp.sale].ID})
		if err != nil {
			d.t.Fatalf("seed %d step %d: %s: FindSale: %v", d.seed, d.step, d.sides[0].name, err)
		}
		for _, a := range plan(sale, sp.target(d.sides[0]), nil, sp.offsite) {
			remaining += a.Amount
		}
	}
	switch k := r.IntN(20); {
	case k < 5: // everything that remains
	case k < 8 || remaining == 0: // more than remains: ETOOLARGE, or EREFUNDED's cousin
		a := remaining + 1 + r.Int64N(100)
		sp.amount = &a
	case k < 10:
		a := remaining
		sp.amount = &a
	default:
		a := 1 + r.Int64N(remaining)
		sp.amount = &a
	}
	switch sp.kind {
	case "units":
		// Units that remain, now and then one too many.
		left := int64(1)
		if sale != nil {
			left = sale.LineItems[sp.part].RemainingQuantity()
		}
		sp.quantity = 1 + r.Int64N(left+1)
		if r.IntN(10) > 0 {
			sp.amount = nil // an amount beside lines is EINVALID
		}
	case "shipping":
		sp.quantity = 1 + r.Int64N(700) // the amount, unless all
		if r.IntN(10) > 0 {
			sp.amount = nil
		}
	}
	total := remaining
	if sp.amount != nil {
		total = *sp.amount
	}
	switch k := r.IntN(10); {
	case k < 6:
	case k < 9:
		sp.fee = r.Int64N(total + 1)
	default:
		sp.fee = total + 1 + r.Int64N(10) // more than the refund: EINVALID
	}
	return sp
}

// plan is refundry.PlanRefund with errors taken as "nothing".
func plan(sale *refundry.Sale, target refundry.RefundTarget, amount *int64, offsite bool) []refundry.Allocation {
	allocs, err := refundry.PlanRefund(sale, target, amount, offsite)
	if err != nil {
		return nil
	}
	return allocs
}

// target is the spec's target in the side's own ids.
func (sp *refundSpec) target(s *side) refundry.RefundTarget {
	sale := s.sales[sp.sale]
	if sale == nil {
		return refundry.RefundTarget{SaleID: "d0000000000000000000"} // well formed, never made
	}
	switch sp.kind {
	case "line":
		return refundry.RefundTarget{LineItemID: sale.LineItems[sp.part].ID}
	case "txn":
		return refundry.RefundTarget{TransactionID: sale.Transactions[sp.part].ID}
	}
	return refundry.RefundTarget{SaleID: sale.ID}
}

func (d *driver) request(sp *refundSpec, s *side) refundry.RefundRequest {
	req := refundry.RefundRequest{MerchantID: d.merchants[sp.merchant].ID, Target: sp.target(s), Amount: sp.amount, Fee: sp.fee,
		Reason: sp.reason, Offsite: sp.offsite, NotifyCustomer: sp.notify, Source: sp.source, ExternalID: sp.reference,
		Name: "diff", CreatedSource: "diff", VoidReferrals: sp.void}
	if sp.metadata != "" {
		req.Metadata = json.RawMessage(sp.metadata)
	}
	switch sale := s.sales[sp.sale]; {
	case sale == nil:
	case sp.kind == "units":
		req.Lines = []refundry.LineRequest{{LineItemID: sale.LineItems[sp.part].ID, Quantity: sp.quantity}}
	case sp.kind == "shipping":
		req.Shipping = &refundry.ShippingRequest{All: sp.all, Amount: sp.quantity}
	}
	if sp.refunded {
		req.RefundedAt = time.Date(2025, 12, 24, 18, 30, 0, 0, time.UTC)
	}
	return req
}

func (d *driver) refund(sp *refundSpec) {
	var idem *refundry.Idempotency
	if d.rng.IntN(3) == 0 {
		idem = d.newKey("refund")
		d.past = append(d.past, pastRequest{refund: sp, key: idem.Key, hash: idem.Hash})
	}
	d.sendRefund(sp, idem)
}

func (d *driver) sendRefund(sp *refundSpec, idem *refundry.Idempotency) {
	shown := *sp
	shown.amount = nil
	d.op = fmt.Sprintf("CreateRefunds(%+v amount %v, idem %+v)", shown, deref(sp.amount), idem)
	answers := make([]any, len(d.sides))
	var first *refundry.RefundResult
	for i, s := range d.sides {
		req := d.request(sp, s)
		req.Idempotency = idem
		res, err := s.st.CreateRefunds(d.ctx(), req)
		if err != nil {
			answers[i] = errAnswer(err)
			continue
		}
		answers[i] = res
		if !res.Replayed {
			for _, r := range res.Refunds {
				s.refunds = append(s.refunds, r.ID)
			}
		}
		if i == 0 {
			first = res
		}
	}
	d.same("answer", answers...)
	what := "refund"
	if sp.kind == "units" || sp.kind == "shipping" {
		what = "refund of " + sp.kind
	}
	d.count(what, answers[0])
	if first != nil && !first.Replayed {
		for _, r := range first.Refunds {
			d.refunds = append(d.refunds, refundInfo{merchant: sp.merchant, status: r.Status})
		}
	}
}

// ---- settlements and cancels ----

func (d *driver) settle() {
	if len(d.refunds) == 0 {
		d.refund(d.newRefundSpec())
		return
	}
	r := d.rng
	i := r.IntN(len(d.refunds))
	if r.IntN(10) < 7 { // mostly a pending one: the usual settlement
		var pending []int
		for j, info := range d.refunds {
			if info.status == refundry.RefundPending {
				pending = append(pending, j)
			}
		}
		if len(pending) > 0 {
			i = pending[r.IntN(len(pending))]
		}
	}
	merchant := d.refunds[i].merchant
	if r.IntN(25) == 0 {
		merchant = 1 - merchant // invariant 5: answered as missing
	}
	var st refundry.Settlement
	switch k := r.IntN(20); {
	case k < 9:
		st.Status = refundry.RefundSucceeded
	case k < 14:
		st.Status = refundry.RefundFailed
		if r.IntN(2) == 0 {
			st.FailureReason = "The card was closed."
		}
	case k < 19:
		st.Status = refundry.RefundCanceled // a cancel, as the engine records it
	default:
		st.Status = []string{refundry.RefundPending, "refunded", ""}[r.IntN(3)] // EINVALID
	}
	if r.IntN(2) == 0 {
		st.GatewayRefundID = "re_" + strconv.Itoa(d.step)
	}
	was := d.refunds[i].status
	d.op = fmt.Sprintf("SettleRefund(refund %d of merchant %d, %+v)", i, merchant, st)
	answers := make([]any, len(d.sides))
	for j, s := range d.sides {
		got, err := s.st.SettleRefund(d.ctx(), d.merchants[merchant].ID, s.refunds[i], st)
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		answers[j] = got
		if j == 0 {
			d.refunds[i].status = got.Status
		}
	}
	d.same("answer", answers...)
	d.count(fmt.Sprintf("settle as %q from %s", st.Status, was), answers[0])
}

// ---- gateway reports ----

// gatewayReport sends a gateway's word about one payment of a sale: a
// refund (a few gateway ids, so that a refund is adopted and then settled
// or failed late; or Refundry's own id of a refund) or a dispute (a few
// gateway ids, so that one moves through its statuses).
func (d *driver) gatewayReport() {
	r := d.rng
	i := d.pickSale()
	info := d.sales[i]
	if !info.ok {
		d.createSale(d.newSaleSpec(), nil)
		return
	}
	part := r.IntN(info.txns)
	own, ownAmount := -1, false
	if len(d.refunds) > 0 && r.IntN(3) == 0 {
		// A refund the ledger has: the report names its payment.
		own, ownAmount = r.IntN(len(d.refunds)), r.IntN(5) != 0
		i, part = d.refundPayment(own)
		info = d.sales[i]
	}
	first := d.sides[0].sales[i].Transactions[part]
	gateway, charge := first.Gateway, first.Reference
	if r.IntN(20) == 0 {
		charge = "nobody's" // unknown_charge
	}
	statuses := []string{refundry.RefundPending, refundry.RefundSucceeded, refundry.RefundSucceeded, refundry.RefundFailed, refundry.RefundCanceled}
	// A gateway id keeps its amount, so that a refund adopted is heard
	// of again, settled or failed late; now and then another (refused).
	k := r.IntN(3)
	amount := 1 + int64(k*7919+i*104729)%first.Amount
	switch r.IntN(10) {
	case 0:
		amount += first.Amount // above what was paid: an over-refund adopted
	case 1:
		amount = 1 + r.Int64N(first.Amount)
	}
	if own >= 0 || r.IntN(2) == 0 {
		rep := refundry.RefundReport{Gateway: gateway, ChargeIDs: []string{"ch_none", charge},
			GatewayRefundID: fmt.Sprintf("gre-%d-%d", i, k), Amount: amount, Currency: d.sides[0].sales[i].Currency,
			Status: statuses[r.IntN(len(statuses))], FailureReason: "The bank returned it."}
		if own >= 0 && r.IntN(2) == 0 {
			rep.GatewayRefundID = "" // found by Refundry's id alone
		}
		d.op = fmt.Sprintf("ApplyRefundReport(sale %d payment %d, own refund %d, %+v)", i, part, own, rep)
		answers := make([]any, len(d.sides))
		var adopted *refundry.ReportResult
		for j, s := range d.sides {
			rep := rep
			if own >= 0 {
				rep.RefundID = s.refunds[own]
				if ownAmount {
					rep.Amount = d.refundAmount(s, own)
				}
			}
			res, err := s.st.ApplyRefundReport(d.ctx(), rep)
			if err != nil {
				answers[j] = errAnswer(err)
				continue
			}
			answers[j] = res
			if res.Outcome == refundry.OutcomeAdopted {
				s.refunds = append(s.refunds, res.Refund.ID)
				if j == 0 {
					adopted = res
				}
			}
			if own >= 0 && j == 0 && res.Refund != nil && res.Refund.ID == rep.RefundID {
				d.refunds[own].status = res.Refund.Status
			}
		}
		d.same("answer", answers...)
		d.count("refund report", outcome(answers[0]))
		if adopted != nil {
			d.refunds = append(d.refunds, refundInfo{merchant: info.merchant, status: adopted.Refund.Status})
		}
		return
	}
	disputes := slices.Concat(refundry.DisputeStatuses, []string{refundry.DisputeNeedsResponse, refundry.DisputeLost})
	rep := refundry.DisputeReport{Gateway: gateway, ChargeIDs: []string{charge}, GatewayDisputeID: fmt.Sprintf("dp-%d-%d", i, r.IntN(2)),
		Amount: min(amount, first.Amount), Status: disputes[r.IntN(len(disputes))], Reason: "fraudulent"}
	if r.IntN(10) == 0 {
		rep.Amount = first.Amount + 1 // above the payment: EINVALID
	}
	d.op = fmt.Sprintf("ApplyDisputeReport(sale %d payment %d, %+v)", i, part, rep)
	answers := make([]any, len(d.sides))
	for j, s := range d.sides {
		res, err := s.st.ApplyDisputeReport(d.ctx(), rep)
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		answers[j] = res
	}
	d.same("answer", answers...)
	d.count("dispute report", outcome(answers[0]))
}

// refundPayment is the sale index and payment of refund own, as the
// first side holds them.
func (d *driver) refundPayment(own int) (sale, part int) {
	s := d.sides[0]
	r, err := s.st.FindRefund(d.ctx(), d.merchants[d.refunds[own].merchant].ID, s.refunds[own])
	if err != nil {
		d.t.Fatalf("%s: FindRefund: %v", s.name, err)
	}
	for i, sl := range s.sales {
		if sl == nil || sl.ID != r.SaleID {
			continue
		}
		for j, t := range sl.Transactions {
			if t.ID == r.TransactionID {
				return i, j
			}
		}
	}
	d.t.Fatalf("refund %d's payment is not one the test made", own)
	return 0, 0
}

// refundAmount is the amount of refund own as the side holds it, for a
// report that agrees with the ledger on it.
func (d *driver) refundAmount(s *side, own int) int64 {
	var out int64
	d.all(s, func(p refundry.Page) (any, string, bool, error) {
		l, more, err := s.st.ListRefunds(d.ctx(), d.merchants[d.refunds[own].merchant].ID, refundry.RefundFilter{Page: p})
		for _, x := range l {
			if x.ID == s.refunds[own] {
				out = x.Amount
			}
		}
		return l, lastID(l, func(r *refundry.Refund) string { return r.ID }), more, err
	})
	return out
}

// outcome names a report's answer for the tally.
func outcome(answer any) any {
	if res, ok := answer.(*refundry.ReportResult); ok {
		return map[string]string{"error": res.Outcome}
	}
	return answer
}

// ---- idempotent replays ----

func (d *driver) replay() {
	if len(d.past) == 0 {
		d.refund(d.newRefundSpec())
		return
	}
	p := d.past[d.rng.IntN(len(d.past))]
	switch k := d.rng.IntN(10); {
	case k < 6: // the same request again: the first answer, nothing new
	case k < 9: // the same key with another body: EIDEMPOTENCY
		p.hash += "-other"
	default: // the key of a sale for a refund, or of a refund for a sale
		p.hash += "-other"
		if p.sale != nil {
			p.sale, p.refund = nil, d.newRefundSpec()
		} else {
			p.sale, p.refund = d.newSaleSpec(), nil
		}
	}
	idem := &refundry.Idempotency{Key: p.key, Hash: p.hash}
	if p.sale != nil {
		d.createSale(p.sale, &p)
		return
	}
	d.sendRefund(p.refund, idem)
}

func (d *driver) newKey(what string) *refundry.Idempotency {
	d.keys++
	return &refundry.Idempotency{Key: fmt.Sprintf("%s-key-%d", what, d.keys), Hash: fmt.Sprintf("hash-%d", d.keys)}
}

// ---- referrals ----

func (d *driver) referral() {
	r := d.rng
	i := d.pickSale()
	info := d.sales[i]
	origin := info.reference // a purchase: voided with its sale's refund
	if r.IntN(4) == 0 {
		origin = fmt.Sprintf("show:%d", r.IntN(3))
	}
	var idem *refundry.Idempotency
	if r.IntN(4) == 0 {
		idem = d.newKey("referral")
	}
	d.op = fmt.Sprintf("CreateReferral(%s of merchant %d, idem %+v)", origin, info.merchant, idem)
	answers := make([]any, len(d.sides))
	advocate, friend := r.IntN(5), r.IntN(5)
	for j, s := range d.sides {
		ref := &refundry.Referral{MerchantID: d.merchants[info.merchant].ID, OriginSlug: origin, CampaignID: 7, OfferID: 11,
			Advocate:    refundry.Person{Email: fmt.Sprintf("adv%d@example.com", advocate), FirstName: "Al"},
			Friend:      refundry.Person{Email: fmt.Sprintf("fr%d@example.com", friend), FirstName: "Bo"},
			TrackMethod: "email", Status: refundry.ReferralApproved, Subtotal: 1234, Currency: "USD"}
		replayed, err := s.st.CreateReferral(d.ctx(), ref, idem)
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		answers[j] = map[string]any{"replayed": replayed, "referral": ref}
	}
	d.same("answer", answers...)
	d.count("referral", answers[0])
}

// voidOrigin voids an origin's referrals directly, as an event's refund
// does, and reads them back.
func (d *driver) voidOrigin() {
	r := d.rng
	info := d.sales[d.pickSale()]
	slug := info.reference
	if r.IntN(2) == 0 {
		slug = fmt.Sprintf("show:%d", r.IntN(4)) // show:3 is never made: ENOTFOUND
	}
	merchant := info.merchant
	if r.IntN(10) == 0 {
		merchant = 1 - merchant
	}
	d.op = fmt.Sprintf("VoidReferrals(%s of merchant %d)", slug, merchant)
	answers := make([]any, len(d.sides))
	for j, s := range d.sides {
		mid := d.merchants[merchant].ID
		o, err := s.st.FindOrigin(d.ctx(), mid, slug)
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		voided, err := s.st.VoidReferrals(d.ctx(), mid, o.ID, d.clk.Now())
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		all, err := s.st.ListReferrals(d.ctx(), mid, o.ID)
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		answers[j] = map[string]any{"origin": o.Slug, "kind": o.Kind, "voided": voided, "referrals": all}
	}
	d.same("answer", answers...)
	d.count("void", answers[0])
}

// find looks a sale up by each of its identities.
func (d *driver) find() {
	r := d.rng
	i := d.pickSale()
	info := d.sales[i]
	merchant := info.merchant
	if r.IntN(10) == 0 {
		merchant = 1 - merchant // invariant 5: answered as missing
	}
	how := r.IntN(6)
	part := 0
	if info.ok {
		part = r.IntN(max(info.lines, info.txns))
	}
	d.op = fmt.Sprintf("FindSale(sale %d of merchant %d, lookup %d, part %d)", i, merchant, how, part)
	answers := make([]any, len(d.sides))
	for j, s := range d.sides {
		by := refundry.SaleLookup{Reference: info.reference}
		if sale := s.sales[i]; sale != nil {
			switch how {
			case 1:
				by = refundry.SaleLookup{ID: sale.ID}
			case 2:
				by = refundry.SaleLookup{LineItemID: sale.LineItems[part%len(sale.LineItems)].ID}
			case 3:
				by = refundry.SaleLookup{TransactionID: sale.Transactions[part%len(sale.Transactions)].ID}
			case 4:
				by = refundry.SaleLookup{TransactionNumber: sale.Transactions[part%len(sale.Transactions)].Number}
			case 5:
				by = refundry.SaleLookup{TransactionReference: sale.Transactions[part%len(sale.Transactions)].Reference}
			}
		}
		sale, err := s.st.FindSale(d.ctx(), d.merchants[merchant].ID, by)
		if err != nil {
			answers[j] = errAnswer(err)
			continue
		}
		answers[j] = sale
	}
	d.same("answer", answers...)
	d.count(fmt.Sprintf("find by lookup %d", how), answers[0])
}

// listSales lists a merchant's sales through a random filter, every page.
func (d *driver) listSales() {
	r := d.rng
	merchant := r.IntN(2)
	var f refundry.SaleFilter
	switch r.IntN(5) {
	case 0:
		f.Status = []string{refundry.PaymentPaid, refundry.PaymentPartiallyRefunded, refundry.PaymentRefunded}[r.IntN(3)]
	case 1:
		f.CustomerEmail = fmt.Sprintf(emails[r.IntN(len(emails))], r.IntN(6))
	case 2:
		f.Reference = fmt.Sprintf("order-%d", r.IntN(len(d.sales)+1))
	default:
		words := []string{"c1", "C", "order-1", "ORDER-", "ada", "ÉM", "ém", "øster", "Øster", "o'b", "özil", "ÖZIL", "ada lo", "Grace H", "@"}
		f.Search = words[r.IntN(len(words))]
	}
	f.Limit = 1 + r.IntN(refundry.MaxPageLimit)
	d.op = fmt.Sprintf("ListSales(merchant %d, %+v)", merchant, f)
	answers := make([]any, len(d.sides))
	for j, s := range d.sides {
		answers[j] = d.all(s, func(p refundry.Page) (any, string, bool, error) {
			g := f
			g.Page = refundry.Page{Limit: f.Limit, StartingAfter: p.StartingAfter}
			l, more, err := s.st.ListSales(d.ctx(), d.merchants[merchant].ID, g)
			return l, lastID(l, func(s *refundry.Sale) string { return s.ID }), more, err
		})
	}
	d.same("answer", answers...)
	d.count("list sales", nil)
}

// ---- comparison ----

// count tallies the outcome of one request as the first store answered it.
func (d *driver) count(what string, answer any) {
	outcome := "ok"
	switch a := answer.(type) {
	case map[string]string:
		outcome = a["error"]
	case map[string]any:
		if a["replayed"] == true {
			outcome = "replayed"
		}
	case *refundry.RefundResult:
		switch {
		case a.Replayed:
			outcome = "replayed"
		case len(a.Refunds) > 1:
			outcome = "ok, several refunds"
		}
		for _, r := range a.Refunds {
			if r.Fee > 0 {
				outcome += ", with fee"
				break
			}
		}
	}
	if d.tally == nil {
		d.tally = map[string]int{}
	}
	d.tally[what+": "+outcome]++
}

func (d *driver) report() {
	keys := make([]string, 0, len(d.tally))
	for k := range d.tally {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %5d %s", d.tally[k], k)
	}
	d.t.Logf("seed %d, %d steps, outcomes as both stores answered:%s", d.seed, d.step-1, b.String())
}

// errAnswer is how an error is compared: by its code, what a client acts
// on. Messages may be worded apart.
func errAnswer(err error) map[string]string {
	return map[string]string{"error": refundry.ErrorCode(err)}
}

// same fails the test unless every side's answer is the same once each
// side's ids are replaced by their places in the sequence.
func (d *driver) same(what string, answers ...any) {
	d.t.Helper()
	norm := make([]string, len(answers))
	for i, a := range answers {
		norm[i] = d.sides[i].normalize(a)
	}
	for i := 1; i < len(norm); i++ {
		if norm[i] != norm[0] {
			d.t.Fatalf("seed %d step %d: %s differs between %s and %s\nrequest: %s\n%s: %s\n%s: %s\n(rerun: REFUNDRY_DIFF_SEED=%d go test -run TestDifferential ./store/difftest)",
				d.seed, d.step, what, d.sides[0].name, d.sides[i].name, d.op, d.sides[0].name, norm[0], d.sides[i].name, norm[i], d.seed)
		}
	}
}

// compareAll compares everything both stores hold for each merchant:
// sales, refunds, events, audit log and notifications, and checks
// invariant 2 on each store.
func (d *driver) compareAll() {
	d.t.Helper()
	d.op = "compare everything stored"
	for mi, m := range d.merchants {
		sales := make([]any, len(d.sides))
		refunds := make([]any, len(d.sides))
		events := make([]any, len(d.sides))
		audit := make([]any, len(d.sides))
		notes := make([]any, len(d.sides))
		disputes := make([]any, len(d.sides))
		for i, s := range d.sides {
			var found []any
			for j, info := range d.sales {
				if info.merchant != mi || s.sales[j] == nil {
					found = append(found, nil)
					continue
				}
				sale, err := s.st.FindSale(d.ctx(), m.ID, refundry.SaleLookup{ID: s.sales[j].ID})
				if err != nil {
					found = append(found, errAnswer(err))
					continue
				}
				found = append(found, sale)
			}
			sales[i] = found
			refunds[i] = d.all(s, func(p refundry.Page) (any, string, bool, error) {
				l, more, err := s.st.ListRefunds(d.ctx(), m.ID, refundry.RefundFilter{Page: p})
				return l, lastID(l, func(r *refundry.Refund) string { return r.ID }), more, err
			})
			var evs []*refundry.Event
			var after string
			for {
				l, more, err := s.st.ListEvents(d.ctx(), m.ID, refundry.EventFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: after}})
				if err != nil {
					d.t.Fatalf("%s: ListEvents: %v", s.name, err)
				}
				evs = append(evs, l...)
				if !more || len(l) == 0 {
					break
				}
				after = l[len(l)-1].ID
			}
			events[i] = s.events(evs)
			audit[i] = d.all(s, func(p refundry.Page) (any, string, bool, error) {
				l, more, err := s.st.ListAuditLog(d.ctx(), m.ID, refundry.AuditFilter{Page: p})
				last := lastID(l, func(e *refundry.AuditEntry) string { return e.ID })
				for _, e := range l {
					e.ID = "" // an entry's own id: numbering it would add nothing
				}
				return l, last, more, err
			})
			notes[i] = d.all(s, func(p refundry.Page) (any, string, bool, error) {
				l, more, err := s.st.ListNotifications(d.ctx(), m.ID, refundry.NotificationFilter{Page: p})
				return l, lastID(l, func(n *refundry.Notification) string { return n.ID }), more, err
			})
			disputes[i] = d.all(s, func(p refundry.Page) (any, string, bool, error) {
				l, more, err := s.st.ListDisputes(d.ctx(), m.ID, refundry.DisputeFilter{Page: p})
				return l, lastID(l, func(x *refundry.Dispute) string { return x.ID }), more, err
			})
			s.invariants(d.t, m.ID)
		}
		d.same(fmt.Sprintf("merchant %d's sales", mi), sales...)
		d.same(fmt.Sprintf("merchant %d's refunds", mi), refunds...)
		d.same(fmt.Sprintf("merchant %d's events", mi), events...)
		d.same(fmt.Sprintf("merchant %d's audit log", mi), audit...)
		d.same(fmt.Sprintf("merchant %d's notifications", mi), notes...)
		d.same(fmt.Sprintf("merchant %d's disputes", mi), disputes...)
	}
	over := make([]any, len(d.sides))
	for i, s := range d.sides {
		n, err := s.st.CountOverRefundedSales(d.ctx())
		if err != nil {
			d.t.Fatalf("%s: CountOverRefundedSales: %v", s.name, err)
		}
		over[i] = n
	}
	d.same("over-refunded sales", over...)
}

// all reads every page of a list, newest first; fetch returns the page,
// the id to continue after ("" to read one page of the largest size).
func (d *driver) all(s *side, fetch func(refundry.Page) (any, string, bool, error)) []any {
	d.t.Helper()
	var out []any
	p := refundry.Page{Limit: refundry.MaxPageLimit}
	for {
		l, last, more, err := fetch(p)
		if err != nil {
			d.t.Fatalf("%s: list: %v", s.name, err)
		}
		out = append(out, l)
		if !more || last == "" {
			return out
		}
		p.StartingAfter = last
	}
}

func lastID[T any](l []T, id func(T) string) string {
	if len(l) == 0 {
		return ""
	}
	return id(l[len(l)-1])
}

// normEvent is an event as compared: its own id left out, its object
// named by its place in the sequence.
type normEvent struct {
	Type       string
	ObjectType string
	ObjectID   string
	Data       json.RawMessage
	Created    time.Time
}

func (s *side) events(evs []*refundry.Event) []normEvent {
	out := make([]normEvent, len(evs))
	for i, e := range evs {
		id := e.ObjectID
		if e.ObjectType == "referral" {
			id = "referral:" + s.num("referral", json.Number(e.ObjectID))
		}
		out[i] = normEvent{Type: e.Type, ObjectType: e.ObjectType, ObjectID: id, Data: e.Data, Created: e.Created}
	}
	return out
}

// normalize marshals v and replaces every id in it by its place in the
// sequence, numeric ones by kind: what remains is what both stores must
// agree on.
func (s *side) normalize(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "marshal: " + err.Error()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return "decode: " + err.Error()
	}
	x = s.walk(x, "")
	out, _ := json.Marshal(x)
	return string(out)
}

func (s *side) walk(x any, key string) any {
	switch v := x.(type) {
	case map[string]any:
		// In a fixed order: ids are numbered as they first appear.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e := v[k]
			switch n, isNum := e.(json.Number); {
			case isNum && k == "number":
				v[k] = "number:" + s.num("number", n)
			case isNum && k == "origin_id":
				v[k] = "origin:" + s.num("origin", n)
			case isNum && k == "id" && (key == "advocate" || key == "friend"):
				v[k] = "person:" + s.num("person", n)
			case isNum && k == "id":
				v[k] = "referral:" + s.num("referral", n)
			default:
				v[k] = s.walk(e, k)
			}
		}
		return v
	case []any:
		if len(v) == 0 {
			// An empty list and none are one answer: PostgreSQL answers
			// RefundResult.Voided as [] and SQLite as nil when nothing
			// was voided, and no edge shows the difference.
			return nil
		}
		for i, e := range v {
			v[i] = s.walk(e, key)
		}
		return v
	case string:
		if refundry.ValidID(v) {
			p, ok := s.strIDs[v]
			if !ok {
				p = "id:" + strconv.Itoa(len(s.strIDs))
				s.strIDs[v] = p
			}
			return p
		}
		return v
	}
	return x
}

func (s *side) num(kind string, n json.Number) string {
	m := s.numIDs[kind]
	if m == nil {
		m = map[string]string{}
		s.numIDs[kind] = m
	}
	p, ok := m[n.String()]
	if !ok {
		p = strconv.Itoa(len(m))
		m[n.String()] = p
	}
	return p
}

func deref(p *int64) string {
	if p == nil {
		return "all"
	}
	return strconv.FormatInt(*p, 10)
}
