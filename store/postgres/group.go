package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/internal/group"
)

// maxBatch caps the writes in one group commit. Each write runs in a
// savepoint, and every savepoint that writes takes a subtransaction id;
// PostgreSQL caches 64 of them per backend (PGPROC_MAX_CACHED_SUBXIDS),
// and past that every other session's snapshot has to look subtransactions
// up in pg_subtrans, which slows the whole server. 64 stays inside it.
const maxBatch = 64

// grouped runs fn like write, but with group commit on it shares a
// transaction with the writes queued beside it. fn must take its context
// from writeContext, not from the caller, and like any fn given to write
// it must be safe to run more than once.
//
// A closure is the write of last resort: it runs alone in a savepoint of
// the batch. Refunds and settlements are queued as data (groupedWrite),
// which a batch writes set-based.
func (s *Store) grouped(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.groupedWrite(ctx, &write{fn: fn})
}

// groupedWrite queues w in the lane of the sale ctx names (forSale) and
// waits for its batch to commit; without group commit it runs w alone.
// w's answer fields are set when it returns nil.
func (s *Store) groupedWrite(ctx context.Context, w *write) error {
	w.ctx = ctx
	w.sale, _ = ctx.Value(saleKey{}).(saleRef)
	if s.batch == nil {
		return s.write(ctx, func(tx pgx.Tx) error { return w.run(tx, s.now()) })
	}
	err := s.lane(ctx).Do(ctx, w)
	if errors.Is(err, group.ErrClosed) {
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The store is closed.", Err: err}
	}
	return translate(err)
}

// write is one write of a group-commit batch. A refund request or a
// settlement is carried as data, which the batch reads, decides and
// writes together with its neighbours' (writeSet); any other write is a
// closure, fn.
type write struct {
	ctx  context.Context // the caller's, cut off from its cancellation
	sale saleRef         // the sale it changes, if known before it runs

	refund *refundry.RefundRequest
	settle *settlement
	fn     func(pgx.Tx) error

	// The answers, set by the attempt that commits.
	result  *refundry.RefundResult
	settled *refundry.Refund
}

// settlement is a SettleRefund call.
type settlement struct {
	merchantID, id string
	st             refundry.Settlement
}

// run is the write alone, statement after statement, in tx: how a write
// runs when it cannot be written set-based with its batch, or when group
// commit is off.
func (w *write) run(tx pgx.Tx, now time.Time) (err error) {
	switch {
	case w.refund != nil:
		w.result, err = createRefunds(w.ctx, tx, *w.refund, now)
	case w.settle != nil:
		w.settled, err = settleRefund(w.ctx, tx, w.settle.merchantID, w.settle.id, w.settle.st, now)
	default:
		err = w.fn(tx)
	}
	return err
}

// saleKey carries the sale a grouped write changes, to choose its lane
// and to lock the sale before its batch runs.
type saleKey struct{}

// saleRef names a sale of a merchant.
type saleRef struct{ merchantID, saleID string }

// forSale marks ctx as the context of a write to the merchant's saleID.
func forSale(ctx context.Context, merchantID, saleID string) context.Context {
	return context.WithValue(ctx, saleKey{}, saleRef{merchantID, saleID})
}

// lane is the batcher of the sale ctx names (forSale), or the first one,
// among the lanes in use (lanesInUse).
// Invariant 2: all grouped writes to one sale queue in one lane, so they
// run one after another in its batches as with a single batcher, and a
// lane never holds a sale's lock that another lane's batch waits for.
// Batches of other processes do meet a lane's on its sales; lockSales
// orders those meetings. Batches still meet on rows other than a sale's
// (an Idempotency-Key reused across sales); such a wait ends when the
// other batch commits, and a deadlock among them is retried like any
// other.
//
// When the nodes on the database come or go, or the load opens or closes
// a lane (adaptLanes), the lanes in use change
// and a sale's next write may go to another lane than its last, while
// that one's batch still holds the sale. The two batches then meet on
// the sale's row as batches of two processes do: each took all its
// sales' locks first, in the order of their ids (lockSales), so one
// waits for the other's commit and reads what it reserved. No
// over-refund follows from a move; the row locks, not the lanes, keep
// invariant 2, and the lanes only spare the waits.
func (s *Store) lane(ctx context.Context) *group.Queue[*write] {
	ref, _ := ctx.Value(saleKey{}).(saleRef)
	n := uint32(s.lanesInUse())
	if ref.saleID == "" || n <= 1 {
		return s.batch
	}
	h := fnv.New32a()
	h.Write([]byte(ref.saleID))
	return s.lanes[h.Sum32()%n]
}

// batchSales is the sales the writes name, one each, sorted by id: the
// order lockSales takes them in.
func batchSales(ws []*write) []saleRef {
	var refs []saleRef
	for _, w := range ws {
		if w.sale.saleID != "" {
			refs = append(refs, w.sale)
		}
	}
	slices.SortFunc(refs, func(a, b saleRef) int {
		if c := strings.Compare(a.saleID, b.saleID); c != 0 {
			return c
		}
		return strings.Compare(a.merchantID, b.merchantID)
	})
	return slices.Compact(refs)
}

// writeContext is the context a grouped write's statements run under.
// With group commit, one caller hanging up must not abort the transaction
// its neighbours share, so the caller's cancellation is cut off; the
// caller's wait for a place in a batch still honours it.
func (s *Store) writeContext(ctx context.Context) context.Context {
	if s.batch == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// runBatch is group commit: it runs the writes in one transaction and
// commits once, so one WAL flush makes them all durable. Refunds and
// settlements are read, decided and written together, a few statements
// for the whole batch (writeSet); the writes that cannot be (closures,
// idempotent replays, referral voids, ...) then run one after another,
// each in a savepoint of its own. A write that fails with an error of
// its own (an over-refund, a missing sale, a reused Idempotency-Key, text
// PostgreSQL cannot store) is answered with it while the others commit.
//
// A serialization failure or deadlock (40001, 40P01), or a lost race, in
// any write or at COMMIT runs the whole batch again, every write of it,
// through write's retry loop: at SERIALIZABLE the snapshot every write
// read is stale, so no part of the batch can be kept. Any other error
// before COMMIT (the connection broke, a bug) means nothing of the batch
// was committed, so each write is run again alone and a fault that belongs
// to one write fails only that one. A failed COMMIT fails every write of
// the batch, as it would fail a lone write: its outcome may be unknown, and
// running the writes again could refund twice.
//
// Invariant 2 across processes: before any write of the batch runs, the
// rows of all the sales its writes name are locked in one statement, in
// the order of their ids (lockSales, or writeSet's first statement).
// Every batch of every process takes its sales in that one order, so two
// batches sharing sales never hold one each while waiting for the
// other's: they queue, and nothing deadlocks. A write run alone takes
// its sale's lock again, as it would without group commit, and finds it
// its own already.
func (s *Store) runBatch(ctx context.Context, ws []*write) []error {
	errs := make([]error, len(ws))
	sales := batchSales(ws)
	if len(ws) == 1 && !ws[0].setBased() {
		// Nothing to keep apart: no savepoint, the plain path. Its sale
		// is still locked before its key is claimed, the order batches
		// keep.
		errs[0] = s.write(ctx, func(tx pgx.Tx) error { return ws[0].run(lockSales(tx, sales), s.now()) })
		return errs
	}
	beforeCommit := false
	err := s.loop(ctx, func() error {
		return s.attemptBatch(ctx, func(tx pgx.Tx) error {
			beforeCommit = false
			own, err := s.runWrites(ctx, tx, ws, sales, s.now())
			if err != nil {
				beforeCommit = true
				return err
			}
			copy(errs, own)
			return nil
		})
	})
	switch {
	case err == nil:
		return errs
	case beforeCommit:
		s.serialBatches.Add(1)
		for i, w := range ws {
			var own []saleRef
			if w.sale.saleID != "" {
				own = []saleRef{w.sale}
			}
			errs[i] = s.write(ctx, func(tx pgx.Tx) error { return w.run(lockSales(tx, own), s.now()) })
		}
	default:
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// runWrites runs a batch's writes in tx: those that can be, set-based
// first, then the others one after another. It returns each write's own
// error, or err when the whole batch must be run again or abandoned.
func (s *Store) runWrites(ctx context.Context, tx pgx.Tx, ws []*write, sales []saleRef, now time.Time) (own []error, err error) {
	own = make([]error, len(ws))
	var set, serial []int
	for i, w := range ws {
		if w.setBased() {
			set = append(set, i)
		} else {
			serial = append(serial, i)
		}
	}
	if len(set) > 0 {
		later, err := writeSet(ctx, tx, ws, set, sales, own, now)
		if err != nil {
			return nil, err
		}
		serial = append(serial, later...)
		slices.Sort(serial)
		// writeSet has locked the batch's sales.
		sales = nil
	}
	tx = lockSales(tx, sales)
	for _, i := range serial {
		o, err := savepoint(ctx, tx, func(tx pgx.Tx) error { return ws[i].run(tx, now) })
		if err != nil {
			return nil, err
		}
		own[i] = o
	}
	return own, nil
}

// lockSales returns tx such that the rows of sales are locked, in the
// order given, before the first statement run through it. The lock goes
// to the server in the same round trip as that statement when it is a
// batch (as on the refund paths), so a batch of one write pays nothing
// for it. A write that finds a sale missing or another merchant's is not
// hurt: a missing sale locks nothing, and the write finds it missing
// itself.
func lockSales(tx pgx.Tx, sales []saleRef) pgx.Tx {
	if len(sales) == 0 {
		return tx
	}
	return &lockTx{Tx: tx, sales: sales}
}

// lockTx is the transaction of lockSales.
type lockTx struct {
	pgx.Tx
	sales  []saleRef
	locked bool
}

// queueLock queues the lock on b. ORDER BY with FOR UPDATE locks the rows
// as they leave the sort, so in the order of their ids.
func (t *lockTx) queueLock(b *pgx.Batch) {
	merchants, ids := make([]string, len(t.sales)), make([]string, len(t.sales))
	for i, r := range t.sales {
		merchants[i], ids[i] = r.merchantID, r.saleID
	}
	b.Queue(`SELECT s.id FROM sales s WHERE (s.merchant_id, s.id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY s.id FOR UPDATE`, merchants, ids).Exec(func(pgconn.CommandTag) error { return nil })
}

func (t *lockTx) lock(ctx context.Context) error {
	if t.locked {
		return nil
	}
	t.locked = true
	b := &pgx.Batch{}
	t.queueLock(b)
	return t.Tx.SendBatch(ctx, b).Close()
}

// SendBatch puts the lock at the head of b if it was not taken yet.
func (t *lockTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if !t.locked {
		t.locked = true
		head := &pgx.Batch{}
		t.queueLock(head)
		b.QueuedQueries = append(head.QueuedQueries, b.QueuedQueries...)
	}
	return t.Tx.SendBatch(ctx, b)
}

func (t *lockTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.lock(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *lockTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Query(ctx, sql, args...)
}

func (t *lockTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.lock(ctx); err != nil {
		return errRow{err}
	}
	return t.Tx.QueryRow(ctx, sql, args...)
}

func (t *lockTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.lock(ctx); err != nil {
		return 0, err
	}
	return t.Tx.CopyFrom(ctx, table, cols, src)
}

func (t *lockTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Begin(ctx)
}

// savepoint runs fn after SAVEPOINT job. It returns fn's error as own if
// it is the write's own (after ROLLBACK TO the savepoint, the transaction
// goes on as if fn never ran), or as err if the whole batch must be run
// again or abandoned.
//
// The savepoint is never released: COMMIT releases them all, and a
// RELEASE per write would be one more round trip. ROLLBACK TO job names
// the newest savepoint of that name, which is this write's. Nor does
// SAVEPOINT cost a round trip of its own: it goes to the server with the
// write's first statement (see savepointTx).
func savepoint(ctx context.Context, tx pgx.Tx, fn func(pgx.Tx) error) (own, err error) {
	sp := &savepointTx{Tx: tx}
	ferr := fn(sp)
	if ferr == nil {
		return nil, nil
	}
	if retryable(ferr) {
		return nil, ferr
	}
	own = translate(ferr)
	if code := refundry.ErrorCode(own); code == refundry.EINTERNAL || code == refundry.EUNAVAILABLE {
		return nil, ferr
	}
	if !sp.begun {
		// The write failed before it sent anything: there is nothing of
		// it to roll back.
		return own, nil
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT job`); err != nil {
		return nil, err
	}
	return own, nil
}

// savepointTx is the transaction a write of a batch runs in. It sends
// SAVEPOINT job just before the write's first statement: in the same
// pipeline when that statement is a batch (as on the refund paths), as a
// statement of its own otherwise.
type savepointTx struct {
	pgx.Tx
	begun bool
}

func (t *savepointTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	_, err := t.Tx.Exec(ctx, `SAVEPOINT job`)
	return err
}

// SendBatch puts SAVEPOINT job at the head of b if it was not sent yet.
func (t *savepointTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if !t.begun {
		t.begun = true
		b.QueuedQueries = slices.Insert(b.QueuedQueries, 0, &pgx.QueuedQuery{SQL: `SAVEPOINT job`})
	}
	return t.Tx.SendBatch(ctx, b)
}

func (t *savepointTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.Tx.Exec(ctx, sql, args...)
}

// Query and QueryRow run their statement even if SAVEPOINT failed: the
// transaction is then aborted or the connection gone, so the statement
// fails too and its error reaches the caller where the caller looks.
func (t *savepointTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	_ = t.begin(ctx)
	return t.Tx.Query(ctx, sql, args...)
}

func (t *savepointTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	_ = t.begin(ctx)
	return t.Tx.QueryRow(ctx, sql, args...)
}

func (t *savepointTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.Tx.CopyFrom(ctx, table, cols, src)
}

func (t *savepointTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Begin(ctx)
}

// errRow is a row whose Scan fails with err: a statement that could not
// be sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
