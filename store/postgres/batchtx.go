package postgres

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// batchTx is the transaction of a group-commit batch. BEGIN goes to the
// server with the batch's first statements instead of a round trip of
// its own, as with pgx's own transaction.
//
// COMMIT cannot go with the last statements the same way: the rows each
// statement changed are checked here, once its answer is back (changes),
// and the server would have committed by then whatever the check found.
//
// The batch's statements are planned without sequential scans
// (noSeqScan), so that their cached plans find rows by their indexes
// whatever the size of the tables when they were planned.
type batchTx struct {
	conn  *pgxpool.Conn
	begun bool // BEGIN was sent
}

var _ pgx.Tx = (*batchTx)(nil)

// attemptBatch is attempt with a batchTx, on the connection of the lane
// ctx names (laneConn) if any.
func (s *Store) attemptBatch(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	lc, _ := ctx.Value(laneKey{}).(*laneConn)
	conn, err := lc.acquire(ctx, s.pool)
	if err != nil {
		return err
	}
	defer func() { lc.release(conn, err) }()
	tx := &batchTx{conn: conn}
	// After a successful COMMIT this sends nothing; after a failure it
	// returns the connection to the pool in a clean state.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	// Invariant 3: COMMIT is the durable acknowledgement.
	return tx.Commit(ctx)
}

// laneKey carries a batch's laneConn in the context its lane runs it
// under.
type laneKey struct{}

// laneConn keeps a lane on one connection while batches follow each
// other. Taken from the pool batch after batch, a lane's batches wander
// over every connection the pool holds, and every backend they reach
// pays again what the first batches on a connection pay: preparing the
// batch's statements, planning them afresh until PostgreSQL settles on a
// generic plan, and filling its caches of the tables and indexes they
// touch. Beside other nodes, whose background work takes and returns
// connections between a lane's batches, that was most of the backends'
// extra CPU per refund. Kept, the connection goes back to the pool once
// the lane has been idle for laneIdle, so that an idle lane holds
// nothing and a connection idle longer is checked by the pool before
// use, as any other.
type laneConn struct {
	mu    sync.Mutex
	conn  *pgxpool.Conn
	timer *time.Timer
	done  bool
}

// laneIdle is how long a lane keeps its connection without a batch:
// pgxpool pings a connection idle for more than a second before handing
// it out, and a lane kept no longer skips nothing that ping would check.
const laneIdle = time.Second

// acquire returns the lane's connection, or one from pool when the lane
// keeps none (or lc is nil: a batch outside any lane).
func (lc *laneConn) acquire(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	if lc != nil {
		lc.mu.Lock()
		conn := lc.conn
		lc.conn = nil
		if lc.timer != nil {
			lc.timer.Stop()
		}
		lc.mu.Unlock()
		if conn != nil {
			return conn, nil
		}
	}
	return pool.Acquire(ctx)
}

// release keeps conn for the lane's next batch, which err, the batch's
// outcome, lets it do only if nil: after a failure the connection goes
// back to the pool, which knows how to clean up one that broke, and
// one whose server turned standby (readOnly) is closed, as attempt
// closes it, so that the next comes from the host that takes writes now.
func (lc *laneConn) release(conn *pgxpool.Conn, err error) {
	if readOnly(err) {
		_ = conn.Conn().Close(context.Background())
	}
	if lc == nil || err != nil || conn.Conn().IsClosed() || conn.Conn().PgConn().TxStatus() != 'I' {
		conn.Release()
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.done {
		conn.Release()
		return
	}
	lc.conn = conn
	if lc.timer == nil {
		lc.timer = time.AfterFunc(laneIdle, lc.idle)
	} else {
		lc.timer.Reset(laneIdle)
	}
}

// idle returns the kept connection to the pool.
func (lc *laneConn) idle() {
	lc.mu.Lock()
	conn := lc.conn
	lc.conn = nil
	lc.mu.Unlock()
	if conn != nil {
		conn.Release()
	}
}

// close returns the kept connection for good: the pool's Close waits
// for every connection out of it. The lane must have stopped.
func (lc *laneConn) close() {
	lc.mu.Lock()
	lc.done = true
	if lc.timer != nil {
		lc.timer.Stop()
	}
	lc.mu.Unlock()
	lc.idle()
}

func (t *batchTx) beginNow(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	_, err := t.conn.Exec(ctx, `BEGIN; `+noSeqScan)
	return err
}

// noSeqScan keeps a batch's statements from being planned with a
// sequential scan, for the rest of its transaction only. Every statement
// of a batch names its rows by a key that an index holds (ids in arrays,
// = ANY($1) and joins with unnest), but pgx prepares each statement once
// per connection and PostgreSQL keeps its generic plan until the table's
// statistics change: planned while a table was a few pages (a new
// database, the first refunds of a burst), that plan scans the whole
// table on every batch, comparing each row with every id of the array,
// long after the table has grown to thousands of rows. Where no index
// serves a statement PostgreSQL still scans: the setting only makes a
// scan the last resort.
const noSeqScan = `SET LOCAL enable_seqscan = off`

func (t *batchTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if !t.begun {
		t.begun = true
		b.QueuedQueries = slices.Insert(b.QueuedQueries, 0, &pgx.QueuedQuery{SQL: `BEGIN`}, &pgx.QueuedQuery{SQL: noSeqScan})
	}
	return t.conn.SendBatch(ctx, b)
}

func (t *batchTx) Commit(ctx context.Context) error {
	if !t.begun {
		return nil // nothing was sent
	}
	tag, err := t.conn.Exec(ctx, `COMMIT`)
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *batchTx) Rollback(ctx context.Context) error {
	if t.conn.Conn().PgConn().TxStatus() == 'I' {
		return nil
	}
	_, err := t.conn.Exec(ctx, `ROLLBACK`)
	return err
}

func (t *batchTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.beginNow(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *batchTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.beginNow(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *batchTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.beginNow(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *batchTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.beginNow(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, cols, src)
}

// Begin is refused: no write of a batch nests a transaction of pgx's
// own; each write's savepoint is SAVEPOINT job (see savepoint).
func (t *batchTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("postgres: a nested transaction in a group-commit batch")
}

func (t *batchTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *batchTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Conn().Prepare(ctx, name, sql)
}

func (t *batchTx) Conn() *pgx.Conn { return t.conn.Conn() }
