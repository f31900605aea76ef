package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
)

// errNotPipelined stops a pipelined batch: a write did something the
// pipeline cannot keep apart from its neighbours, and the batch runs again
// write after write, each in its savepoint.
var errNotPipelined = errors.New("postgres: the write cannot share a pipeline")

// pipelined tries to run the writes of a batch side by side: each runs on
// a goroutine of its own, and whenever every write still running waits for
// an answer, their statements go to the server together, in one round
// trip. A batch of refunds then costs two or three round trips instead of
// two per refund. The rows the writes decided to make (applyChanges) are
// merged and written set-based, one statement per table for the whole
// round, instead of a dozen statements per refund.
//
// Side by side, the writes' statements interleave, so no write can have a
// savepoint of its own; the pipeline keeps them apart by refusing what
// would need one. It stops, rolls back to where it started, and reports
// ok false (the caller then runs the writes one after another) when:
//   - a statement fails, or a write uses anything but SendBatch and
//     applyChanges;
//   - a write ends with an error after it sent a statement that is not a
//     SELECT (what it wrote cannot be taken back alone);
//   - a write that wrote ends without naming its sale (claimSale);
//   - a write that already wrote (an Idempotency-Key claim) names a sale
//     another write named: it read the sale before the other's changes and
//     would plan on stale amounts (invariant 2 would still hold, by the
//     conditional updates, but answers and events could be wrong).
//
// Such a write that has only read is not a reason to stop: it is run
// again after the pipeline, in a savepoint, when the sale it read has
// become what the other write made it.
//
// A write that ends with an error of its own after only reading (an
// over-refund, a missing sale) is answered with it while the others go on.
// Serialization failures and deadlocks are returned as err, and the whole
// batch is retried, as without the pipeline.
func (s *Store) pipelined(ctx context.Context, tx pgx.Tx, fns []func(pgx.Tx) error) (errs []error, ok bool, err error) {
	defer func() {
		if !ok {
			s.unpipelined.Add(1)
		}
	}()
	p := &pipeline{tx: tx, msgs: make(chan pipeMsg, len(fns)), sales: map[string]int{}}
	pts := make([]*pipeTx, len(fns))
	for i, fn := range fns {
		pts[i] = &pipeTx{Tx: tx, p: p, i: i}
		go func() {
			err := fn(pts[i])
			p.msgs <- pipeMsg{i: i, done: true, err: err}
		}()
	}
	errs = make([]error, len(fns))
	live := len(fns)
	first := true
	var cause error // why the pipeline stopped, nil while it runs
	var deferred []int
	for live > 0 {
		// Every write still running sends exactly one message per round:
		// a batch it waits on, or its end.
		var waiting []pipeMsg
		for range live {
			m := <-p.msgs
			if !m.done {
				waiting = append(waiting, m)
				continue
			}
			live--
			pt := pts[m.i]
			switch {
			case cause != nil:
			case pt.conflict && !pt.wrote:
				deferred = append(deferred, m.i)
			case m.err == nil && pt.sale == "" && pt.wrote:
				cause = errNotPipelined
			case m.err == nil:
			case errors.Is(m.err, errNotPipelined) || retryable(m.err):
				cause = m.err
			case pt.wrote:
				cause = errNotPipelined
			default:
				own := translate(m.err)
				if code := refundry.ErrorCode(own); code == refundry.EINTERNAL || code == refundry.EUNAVAILABLE {
					cause = m.err
				}
				errs[m.i] = own
			}
		}
		if p.refused() && cause == nil {
			cause = errNotPipelined
		}
		if len(waiting) == 0 {
			break
		}
		if cause != nil {
			// Let the waiting writes end without sending anything.
			for _, m := range waiting {
				m.reply <- errNotPipelined
			}
			continue
		}
		b := &pgx.Batch{}
		if first {
			// Where the caller's serial run starts again if the pipeline
			// stops.
			b.Queue(`SAVEPOINT pipe`)
			first = false
		}
		own := make([]error, len(fns))
		var rows changes
		for _, m := range waiting {
			if m.changes != nil {
				rows.merge(m.changes)
				continue
			}
			for _, qq := range m.batch.QueuedQueries {
				fn, i := qq.Fn, m.i
				qq.Fn = func(br pgx.BatchResults) error {
					var err error
					if fn != nil {
						err = fn(br)
					} else {
						_, err = br.Exec()
					}
					if err != nil && own[i] == nil {
						own[i] = err
					}
					// Go on: the next statements are other writes'.
					return nil
				}
				b.QueuedQueries = append(b.QueuedQueries, qq)
			}
		}
		// The rows of every write that got this far go last, one
		// statement per table for all of them. Their sales are apart
		// (claimSale), so no row is written by two writes; a statement
		// that fails cannot be laid at one write's door, so it stops
		// the pipeline and the writes run again one after another.
		var rowsErr error
		set := &pgx.Batch{}
		rows.queue(set)
		for _, qq := range set.QueuedQueries {
			fn := qq.Fn
			qq.Fn = func(br pgx.BatchResults) error {
				var err error
				if fn != nil {
					err = fn(br)
				} else {
					_, err = br.Exec()
				}
				if err != nil && rowsErr == nil {
					rowsErr = err
				}
				return nil
			}
			b.QueuedQueries = append(b.QueuedQueries, qq)
		}
		sendErr := tx.SendBatch(ctx, b).Close()
		if rowsErr != nil && cause == nil {
			cause = rowsErr
		}
		for _, m := range waiting {
			var pe *pgconn.PgError
			if errors.As(own[m.i], &pe) && cause == nil {
				cause = own[m.i]
			}
		}
		if sendErr != nil && cause == nil {
			cause = sendErr
		}
		for _, m := range waiting {
			if cause != nil {
				m.reply <- errNotPipelined
			} else {
				m.reply <- own[m.i]
			}
		}
	}
	if cause == nil {
		// The writes that met a sale another write had named read it
		// before that write changed it; they run again now, after it,
		// one after another as in a batch without the pipeline.
		slices.Sort(deferred)
		for _, i := range deferred {
			own, err := savepoint(ctx, tx, fns[i])
			if err != nil {
				return nil, false, err
			}
			errs[i] = own
		}
		return errs, true, nil
	}
	if retryable(cause) {
		return nil, false, cause
	}
	if first {
		return nil, false, nil // nothing was sent
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT pipe`); err != nil {
		return nil, false, err
	}
	return nil, false, nil
}

type pipeline struct {
	tx   pgx.Tx
	msgs chan pipeMsg

	mu      sync.Mutex
	sales   map[string]int // sale id → the write that named it
	refusal bool
}

func (p *pipeline) refuse() {
	p.mu.Lock()
	p.refusal = true
	p.mu.Unlock()
}

func (p *pipeline) refused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refusal
}

type pipeMsg struct {
	i       int
	done    bool
	err     error      // with done: what the write returned
	batch   *pgx.Batch // without done: what the write waits on
	changes *changes   // or the rows it writes
	reply   chan error
}

// pipeTx is the transaction a write sees in a pipelined batch. Only
// SendBatch goes to the server; its results are read in the shared round
// trip, so Close returns the first error of the write's own statements.
type pipeTx struct {
	pgx.Tx
	p        *pipeline
	i        int
	sale     string
	wrote    bool
	conflict bool // named a sale another write had named
}

func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	for _, qq := range b.QueuedQueries {
		if !strings.HasPrefix(strings.TrimSpace(qq.SQL), "SELECT") {
			t.wrote = true
		}
	}
	reply := make(chan error, 1)
	t.p.msgs <- pipeMsg{i: t.i, batch: b, reply: reply}
	return pipeResults{err: <-reply}
}

// apply hands the write's rows to the pipeline, which writes them with
// those of the other writes of the round, set-based.
func (t *pipeTx) apply(c *changes) error {
	t.wrote = true
	reply := make(chan error, 1)
	t.p.msgs <- pipeMsg{i: t.i, changes: c, reply: reply}
	return <-reply
}

func (t *pipeTx) refuse() error {
	t.p.refuse()
	return errNotPipelined
}

func (t *pipeTx) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, t.refuse()
}

func (t *pipeTx) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, t.refuse()
}

func (t *pipeTx) QueryRow(context.Context, string, ...any) pgx.Row {
	return errRow{t.refuse()}
}

func (t *pipeTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, t.refuse()
}

func (t *pipeTx) Begin(context.Context) (pgx.Tx, error) { return nil, t.refuse() }

// claimSale names the sale a write of a batch changes, before it changes
// it. In a pipelined batch a second write naming the same sale stops the
// pipeline (see pipelined); elsewhere it does nothing.
func claimSale(tx pgx.Tx, saleID string) error {
	t, ok := tx.(*pipeTx)
	if !ok {
		return nil
	}
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	if j, taken := t.p.sales[saleID]; taken && j != t.i {
		t.conflict = true
		return errNotPipelined
	}
	t.p.sales[saleID] = t.i
	t.sale = saleID
	return nil
}

type pipeResults struct{ err error }

func (r pipeResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, errNotPipelined }
func (r pipeResults) Query() (pgx.Rows, error)         { return nil, errNotPipelined }
func (r pipeResults) QueryRow() pgx.Row                { return errRow{errNotPipelined} }
func (r pipeResults) Close() error                     { return r.err }
func (r pipeResults) Tx() pgx.Tx                       { return nil }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
