package postgres

import (
	"context"
	"errors"
	"slices"

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

// attemptBatch is attempt with a batchTx.
func (s *Store) attemptBatch(ctx context.Context, fn func(tx pgx.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
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
