package sqlite

import (
	"container/list"
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/refundry/refundry"
)

// saleCacheCap bounds the sales the writer keeps: a burst's worth (a
// sale is made, then refunded, seconds later at most), a few megabytes.
// Beyond it the least recently used sale goes and is read again if
// asked for.
const saleCacheCap = 4096

// saleCache keeps, for the single writer, the sales it has read or made,
// each exactly as findSale would read it at that point of the write
// transaction: a refund decides on its sale without reading it again.
// Reading a sale with its lines and payments was a sixth of the writer's
// serial work per refund.
//
// Only the write connection uses it, inside its write transaction, so
// that what it holds can be kept exact (invariant 2 holds as before in
// any case: persistMoves's conditional updates check every bound on the
// rows themselves):
//
//   - Another connection's commit (another process, another Store on the
//     file) empties it: the first use in each write transaction reads
//     PRAGMA data_version, which changes when another connection commits,
//     and nothing can commit between that read and this transaction's end
//     (BEGIN IMMEDIATE holds the write lock).
//   - This connection's writes keep it exact where they follow it
//     (createSale puts the sale it made; persistMoves applies each move it
//     made, the one way refunded amounts change), and empty it where they
//     do not: every write that does not say it keeps the cache
//     (updateKeeping, groupedKeeping) empties it before it runs, and a
//     customer renamed empties it.
//   - A write that failed after changing it, a transaction rolled back or
//     a commit that failed empties it: what it holds may be rows that are
//     not there.
type saleCache struct {
	mu sync.Mutex
	// version is PRAGMA data_version when last read, -1 before.
	version int64
	// doubt is set while a COMMIT is under way: a failed one gives the
	// connection back before its writer can empty the cache, and the
	// next transaction must not trust it meanwhile.
	doubt bool
	lru   *list.List // of *refundry.Sale, most recently used first
	sales map[string]*list.Element
	// lines and payments name the sale of each line item and transaction
	// held, for refunds that target one.
	lines, payments map[string]string
	// hits and misses count lookups (tests).
	hits, misses atomic.Int64
	// verify checks each sale answered against findSale (tests).
	verify bool
}

// dataVersionQuery reads no row: a batch's gathered rows can wait.
var dataVersionQuery = keepGathered(`PRAGMA data_version`)

func newSaleCache() *saleCache {
	c := &saleCache{version: -1, verify: verifySaleCache}
	c.reset()
	return c
}

func (c *saleCache) reset() {
	c.doubt = false
	c.lru = list.New()
	c.sales = map[string]*list.Element{}
	c.lines, c.payments = map[string]string{}, map[string]string{}
}

// clear forgets every sale.
func (c *saleCache) clear() {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
}

// sync empties the cache if another connection committed since it was
// last read, once per write transaction.
func (c *saleCache) sync(ctx context.Context, t *tx) error {
	if t.salesSynced {
		return nil
	}
	var v int64
	if err := t.QueryRowContext(ctx, dataVersionQuery).Scan(&v); err != nil {
		return err
	}
	c.mu.Lock()
	if v != c.version || c.doubt {
		c.reset()
		c.version = v
	}
	c.mu.Unlock()
	t.salesSynced = true
	return nil
}

// committing says a COMMIT is about to be sent; committed, that it
// succeeded.
func (c *saleCache) committing() { c.setDoubt(true) }
func (c *saleCache) committed()  { c.setDoubt(false) }

func (c *saleCache) setDoubt(d bool) {
	c.mu.Lock()
	c.doubt = d
	c.mu.Unlock()
}

// get returns a copy of the merchant's sale by, if held. Only the lookups
// a refund makes (by sale, line item or transaction id) are answered.
func (c *saleCache) get(merchantID string, by refundry.SaleLookup) *refundry.Sale {
	c.mu.Lock()
	defer c.mu.Unlock()
	var id string
	switch {
	case by.Reference != "" || by.TransactionNumber != 0 || by.TransactionReference != "":
	case by.ID != "" && by.LineItemID == "" && by.TransactionID == "":
		id = by.ID
	case by.LineItemID != "" && by.ID == "" && by.TransactionID == "":
		id = c.lines[by.LineItemID]
	case by.TransactionID != "" && by.ID == "" && by.LineItemID == "":
		id = c.payments[by.TransactionID]
	}
	e := c.sales[id]
	if e == nil || e.Value.(*refundry.Sale).MerchantID != merchantID {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	c.lru.MoveToFront(e)
	return cloneSale(e.Value.(*refundry.Sale))
}

// put holds a copy of sale, which must be as findSale reads it now.
func (c *saleCache) put(sale *refundry.Sale) {
	sale = cloneSale(sale)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(sale.ID)
	c.sales[sale.ID] = c.lru.PushFront(sale)
	for _, li := range sale.LineItems {
		c.lines[li.ID] = sale.ID
	}
	for _, p := range sale.Transactions {
		c.payments[p.ID] = sale.ID
	}
	for c.lru.Len() > saleCacheCap {
		c.remove(c.lru.Back().Value.(*refundry.Sale).ID)
	}
}

// remove forgets one sale; c.mu is held.
func (c *saleCache) remove(id string) {
	e := c.sales[id]
	if e == nil {
		return
	}
	sale := c.lru.Remove(e).(*refundry.Sale)
	delete(c.sales, id)
	for _, li := range sale.LineItems {
		delete(c.lines, li.ID)
	}
	for _, p := range sale.Transactions {
		delete(c.payments, p.ID)
	}
}

// apply makes on the sale held, if any, the change of a move that its
// UPDATE has just made on the row: refunded_amount moved by m.Delta, and a
// line's refunded_quantity by m.Quantity. It need not sync first: if the
// sale held is stale, the next use's sync drops it with the rest.
func (c *saleCache) apply(m refundry.Move) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.saleOf(m)
	e := c.sales[id]
	if e == nil {
		return
	}
	if !moveSale(e.Value.(*refundry.Sale), m, false) {
		// The maps named a part the sale does not have: not exact any more.
		c.remove(id)
	}
}

// move makes m on the sale held if it keeps the row within the bounds
// persistMoves' UPDATE checks, as that UPDATE would find them: the cache
// is exact, so the row is as held. It reports false, having changed
// nothing, if the sale is not held or the move would break a bound. The
// caller must have synced the cache in its transaction.
func (c *saleCache) move(m refundry.Move) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.sales[c.saleOf(m)]
	if e == nil {
		return false
	}
	sale := e.Value.(*refundry.Sale)
	return moveSale(sale, m, true) && moveSale(sale, m, false)
}

// holds reports whether the sale of m is held.
func (c *saleCache) holds(m refundry.Move) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sales[c.saleOf(m)] != nil
}

// saleOf is the id of the sale whose row m moves, if held; c.mu is held.
func (c *saleCache) saleOf(m refundry.Move) string {
	switch m.Kind {
	case refundry.OnSale:
		return m.ID
	case refundry.OnLineItem:
		return c.lines[m.ID]
	case refundry.OnTransaction:
		return c.payments[m.ID]
	}
	return ""
}

// moveSale makes m on sale's row, or with check only reports whether the
// row would stay within the bounds of m's UPDATE (moveTexts): refunded
// amount between 0 and the row's amount (at least 0 if m is Unbounded),
// a line's refunded units between 0 and its quantity. It reports false
// if sale has no such row.
func moveSale(sale *refundry.Sale, m refundry.Move, check bool) bool {
	within := func(refunded, amount int64) bool {
		return refunded+m.Delta >= 0 && (m.Unbounded || refunded+m.Delta <= amount)
	}
	switch m.Kind {
	case refundry.OnSale:
		if check {
			return within(sale.RefundedAmount, sale.Amount)
		}
		sale.RefundedAmount += m.Delta
		sale.Status = refundry.PaymentState(sale.Amount, sale.RefundedAmount)
		return true
	case refundry.OnLineItem:
		for _, li := range sale.LineItems {
			if li.ID == m.ID {
				if check {
					q := li.RefundedQuantity + m.Quantity
					return within(li.RefundedAmount, li.Amount) && q >= 0 && q <= li.Quantity
				}
				li.RefundedAmount += m.Delta
				li.RefundedQuantity += m.Quantity
				return true
			}
		}
	case refundry.OnTransaction:
		for _, p := range sale.Transactions {
			if p.ID == m.ID {
				if check {
					return within(p.RefundedAmount, p.Amount)
				}
				p.RefundedAmount += m.Delta
				p.Status = refundry.PaymentState(p.Amount, p.RefundedAmount)
				return true
			}
		}
	}
	return false
}

// verifySaleCache, on in this package's tests, has the stores opened
// check every sale their cache answers against findSale in the same
// transaction.
var verifySaleCache = false

// loadSale is findSale for the writer: the sale held if there is one,
// else findSale's, then held. Use it only where the write lock is held
// (a write transaction).
func loadSale(ctx context.Context, t *tx, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error) {
	c := t.sales
	if c == nil {
		return findSale(ctx, t, merchantID, by)
	}
	if err := c.sync(ctx, t); err != nil {
		return nil, err
	}
	if sale := c.get(merchantID, by); sale != nil {
		if c.verify {
			return sale, verifyHeldSale(ctx, t, merchantID, by, sale)
		}
		return sale, nil
	}
	sale, err := findGatheredSale(ctx, t, merchantID, by)
	if err != nil {
		return nil, err
	}
	c.put(sale)
	return sale, nil
}

// findGatheredSale is findSale in a write transaction whose batch may
// have gathered rows: the sale as its rows will be once they are
// written. Its rows are none of the gathered refunds, lines and keys,
// so those are not written first (a refund of a sale the writer does
// not hold, as in a bulk refund of many sales, leaves the batch's rows
// gathered); the gathered moves on its rows are made on what is read.
func findGatheredSale(ctx context.Context, t *tx, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error) {
	if t.gather == nil {
		return findSale(ctx, t, merchantID, by)
	}
	quiet := *t
	quiet.gather = nil
	sale, err := findSale(ctx, &quiet, merchantID, by)
	if err != nil {
		return nil, err
	}
	t.gather.moveSale(sale)
	return sale, nil
}

func verifyHeldSale(ctx context.Context, t *tx, merchantID string, by refundry.SaleLookup, held *refundry.Sale) error {
	quiet := *t
	quiet.count = nil
	read, err := findGatheredSale(ctx, &quiet, merchantID, by)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(read, held) {
		return fmt.Errorf("sqlite: the sale cache is stale:\nheld %s\nread %s", saleString(held), saleString(read))
	}
	return nil
}

func saleString(s *refundry.Sale) string {
	out := fmt.Sprintf("%+v", *s)
	for _, li := range s.LineItems {
		out += fmt.Sprintf("\n  line %+v", *li)
	}
	for _, p := range s.Transactions {
		out += fmt.Sprintf("\n  payment %+v", *p)
	}
	return out
}

// holdMadeSale holds a sale createSale has just written, as findSale
// would read it back: the columns it wrote, and the defaults of those it
// did not.
func holdMadeSale(ctx context.Context, t *tx, s *refundry.Sale) error {
	c := t.sales
	if c == nil {
		return nil
	}
	if err := c.sync(ctx, t); err != nil {
		return err
	}
	h := &refundry.Sale{ID: s.ID, MerchantID: s.MerchantID, Reference: s.Reference, Currency: s.Currency,
		CampaignID: s.CampaignID, CampaignName: s.CampaignName, Customer: s.Customer,
		Amount: s.Amount, Created: fromMicros(micros(s.Created))}
	h.Status = refundry.PaymentState(h.Amount, h.RefundedAmount)
	h.LineItems = make([]*refundry.LineItem, len(s.LineItems))
	for i, li := range s.LineItems {
		h.LineItems[i] = &refundry.LineItem{ID: li.ID, SaleID: li.SaleID, Name: li.Name, Kind: li.Kind, GatewayLineID: li.GatewayLineID,
			Quantity: li.Quantity, UnitAmount: li.UnitAmount, TaxAmount: li.TaxAmount, Amount: li.Amount}
	}
	h.Transactions = make([]*refundry.Transaction, len(s.Transactions))
	for i, p := range s.Transactions {
		h.Transactions[i] = &refundry.Transaction{ID: p.ID, SaleID: p.SaleID, Reference: p.Reference, Gateway: p.Gateway,
			GatewayChargeID: p.GatewayChargeID, Currency: p.Currency, BaseCurrency: p.BaseCurrency, GatewayAccount: p.GatewayAccount,
			Number: p.Number, Amount: p.Amount, ProcessingFee: p.ProcessingFee, BaseAmount: p.BaseAmount,
			Created: fromMicros(micros(p.Created))}
		h.Transactions[i].Status = refundry.PaymentState(p.Amount, 0)
	}
	c.put(h)
	t.salesChanged++
	return nil
}

// forgetSales empties the writer's sale cache, if t has one: t changed a
// sale's rows by a path the cache does not follow.
func (t *tx) forgetSales() {
	if t.sales != nil {
		t.sales.clear()
	}
}
