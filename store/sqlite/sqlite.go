// Package sqlite implements refundry.Store on SQLite (modernc.org/sqlite,
// pure Go): the embedded default, one file, no server to install.
//
// One connection writes, every write transaction begins IMMEDIATE, and a
// separate pool reads. SQLite allows one writer at a time anyway; holding
// the write lock from the first statement means a transaction never reads,
// then finds the lock taken by another writer and has to fail with
// SQLITE_BUSY half-way. Readers in WAL mode never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/internal/group"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ refundry.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a connection waits for another process's lock
// before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a refundry.Store backed by one SQLite file.
type Store struct {
	// Now is the clock for every timestamp the store assigns; tests
	// replace it. It is read once per transaction.
	Now func() time.Time

	write *sql.DB
	read  *sql.DB
	// Statements prepared once per pool and reused.
	writeStmts, readStmts *stmtCache
	// batch gathers CreateRefunds and SettleRefund into shared write
	// transactions (group commit); nil when group commit is off.
	batch *group.Batcher[*tx]
	// held keeps refunds just created for their settlement.
	held held
	// sales keeps the sales the writer read or made (saleCache).
	sales *saleCache
	// statements counts what Statements reports.
	statements atomic.Int64
	// rates are the rate limit's counts (see CountRequest).
	rates rateCounts
}

// Option configures Open.
type Option func(*options)

type options struct {
	groupCommit bool
	onBatch     func(size int)
}

// WithGroupCommit turns group commit on (the default) or off. On,
// concurrent refunds and settlements share one write transaction and one
// fsync, each still answered only once that commit is durable; off, each
// is a transaction of its own.
func WithGroupCommit(on bool) Option { return func(o *options) { o.groupCommit = on } }

// WithBatchObserver has fn hear the size of every group-commit batch
// (metrics). fn runs on the batcher's goroutine and must not block.
func WithBatchObserver(fn func(size int)) Option { return func(o *options) { o.onBatch = fn } }

// Open opens (creating if need be) the database at path and applies any
// migration not yet applied.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{groupCommit: true}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, refundry.Errorf(refundry.EINVALID, "The SQLite database path is empty.")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	s := &Store{Now: time.Now, sales: newSaleCache()}

	// synchronous=FULL fsyncs the WAL at every commit: a refund answered
	// 2xx survives kill -9 and power loss (invariant 3). NORMAL would lose
	// the last commits on power loss.
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	w := url.Values{"_txlock": {"immediate"}}
	// temp_store=MEMORY keeps the statement journals of group commit's
	// savepoints in memory: on a file they cost a write system call per
	// page a savepoint first touches. They never need to outlive the
	// transaction, so durability is untouched.
	w["_pragma"] = append(append([]string{}, common["_pragma"]...), "journal_mode(WAL)", "synchronous(FULL)", "temp_store(MEMORY)")
	var err error
	if s.write, err = sql.Open("sqlite", path+"?"+w.Encode()); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.write.PingContext(ctx); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.write.Close()
		return nil, err
	}

	// query_only makes a write through the read pool an error, not a
	// second writer racing the first.
	r := url.Values{}
	r["_pragma"] = append(append([]string{}, common["_pragma"]...), "query_only(1)")
	if s.read, err = sql.Open("sqlite", path+"?"+r.Encode()); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, runtime.NumCPU())
	s.read.SetMaxOpenConns(n)
	s.read.SetMaxIdleConns(n)
	s.writeStmts, s.readStmts = newStmtCache(s.write), newStmtCache(s.read)
	if o.groupCommit {
		s.batch = group.New(s.runBatch, group.Options{MaxBatch: maxBatch, OnBatch: o.onBatch})
	}
	return s, nil
}

// Close stops group commit, letting the batch in flight commit, then
// closes both pools.
func (s *Store) Close() error {
	if s.batch != nil {
		s.batch.Close()
	}
	if s.writeStmts != nil {
		s.writeStmts.close()
		s.readStmts.close()
	}
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	return errors.Join(errs...)
}

// migrate applies, in name order, every embedded migration not yet
// recorded in schema_migrations, each in its own transaction with its
// record, so a crash leaves each one either applied and recorded or
// neither. BEGIN IMMEDIATE serializes two processes opening one file.
//
// Migrations run on one connection with foreign keys off, as SQLite's way
// of changing a table's schema asks (a table is rebuilt, dropped and
// renamed: https://www.sqlite.org/lang_altertable.html, "otheralter");
// the pragma cannot change inside a transaction, so it is set around
// them. Each migration's transaction checks every foreign key before it
// commits, so a migration that broke one is rolled back whole; and the
// connection is given back only with foreign keys on again.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name    TEXT PRIMARY KEY,
		applied INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	sort.Strings(names)
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	for _, name := range names {
		if err := migrateOne(ctx, conn, name); err != nil {
			// The connection still has foreign keys off: it must not
			// serve the store. Open fails and closes the pool.
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = ON`); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	var on int
	if err := conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on); err != nil || on != 1 {
		return fmt.Errorf("sqlite: foreign keys are not on again after the migrations (%d): %v", on, err)
	}
	return nil
}

func migrateOne(ctx context.Context, conn *sql.Conn, name string) error {
	text, err := fs.ReadFile(migrations, name)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, filepath.Base(name)).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(text)); err != nil {
		return err
	}
	if err := checkForeignKeys(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied) VALUES (?, ?)`,
		filepath.Base(name), micros(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// checkForeignKeys fails if any row's foreign key names a row that does
// not exist, naming the first.
func checkForeignKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int64
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("a row of %s (rowid %d) names a missing row of %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// tx is one database transaction and the time it acts at, so that every
// timestamp written by one request is the same instant. Tx is nil for a
// read made outside any transaction (readOne): then its statements run on
// db, the read pool.
type tx struct {
	*sql.Tx
	db    *sql.DB
	now   time.Time
	stmts *stmtCache // nil: every statement prepared afresh
	// count is the store's statement counter.
	count *atomic.Int64
	// writes counts the statements sent that may have written (all but
	// SELECTs), so that a batch knows whether a failed write left rows.
	writes int
	// gather, in a group-commit batch, holds the events and audit rows
	// to be written at its end; nil writes them at once.
	gather *gathered
	// sales is the writer's sale cache; nil outside write transactions.
	sales *saleCache
	// salesSynced says the cache was checked against PRAGMA data_version
	// in this transaction; salesChanged counts the changes made to it, so
	// that a write that fails knows whether it must empty it.
	salesSynced  bool
	salesChanged int
}

// update runs fn in a write transaction and commits it if fn succeeds.
// fn may change sales in any way: the writer's sale cache is emptied
// first.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	return s.updateKeeping(ctx, forgettingSales(fn))
}

// updateKeeping is update for a write that keeps the writer's sale cache
// exact: it writes no row of a sale, its lines, payments or customer, or
// writes them only through createSale and persistMoves, which keep the
// cache as the rows are.
func (s *Store) updateKeeping(ctx context.Context, fn func(*tx) error) error {
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	// BEGIN now, and COMMIT or ROLLBACK at the end.
	s.statements.Add(2)
	// A no-op after Commit; otherwise it frees the one write connection,
	// even if fn panics.
	defer t.Rollback()
	committed := false
	defer func() {
		if !committed {
			// Rolled back, or in doubt: the cache may hold what is not
			// on disk.
			s.sales.clear()
		}
	}()
	w := &tx{Tx: t, now: utc(s.Now()), stmts: s.writeStmts, count: &s.statements, sales: s.sales}
	if err := fn(w); err != nil {
		return translate(err)
	}
	// Only a transaction that used the cache can leave in it what a
	// failed commit did not write.
	used := w.salesSynced || w.salesChanged > 0
	if used {
		s.sales.committing()
	}
	// The commit is the durable acknowledgement: with synchronous=FULL it
	// returns only once the WAL is on disk.
	if err := t.Commit(); err != nil {
		return translate(err)
	}
	committed = true
	if used {
		s.sales.committed()
	}
	return nil
}

// forgettingSales runs fn after emptying the writer's sale cache.
func forgettingSales(fn func(*tx) error) func(*tx) error {
	return func(t *tx) error {
		t.forgetSales()
		return fn(t)
	}
}

// maxBatch caps the writes in one group commit: enough to cover a burst
// of concurrent requests, small enough that one batch holds the write lock
// for milliseconds, not seconds.
const maxBatch = 128

// grouped runs fn like update, but with group commit on it shares a write
// transaction with the writes queued beside it. fn must take its context
// from writeContext, not from the caller. Like update, it empties the
// writer's sale cache before fn runs.
func (s *Store) grouped(ctx context.Context, fn func(*tx) error) error {
	return s.groupedKeeping(ctx, forgettingSales(fn))
}

// groupedKeeping is grouped for a write that keeps the writer's sale
// cache exact, as updateKeeping's.
func (s *Store) groupedKeeping(ctx context.Context, fn func(*tx) error) error {
	if s.batch == nil {
		return s.updateKeeping(ctx, fn)
	}
	err := s.batch.Do(ctx, fn)
	if errors.Is(err, group.ErrClosed) {
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The store is closed.", Err: err}
	}
	return translate(err)
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

// runBatch is group commit: it runs fns in one write transaction and
// commits once. A write that fails with an error of its own (an
// over-refund, a missing sale, an idempotency key reused: any domain
// error) is answered with that error, while the others commit.
//
// Writes run without savepoints: nearly every one fails, if at all,
// before its first write (the decision refuses it under the write lock),
// and then has nothing to undo. SAVEPOINT and RELEASE would cost two
// statements and a statement journal per write for the rare one that
// fails after writing. When one does, the transaction is rolled back and
// the batch runs again with a savepoint around each write, so that the
// failed one's rows go and its neighbours' stay.
//
// Events and audit rows are gathered and written last (gathered): a write
// that fails drops its own, with or without a savepoint.
//
// Any other error (I/O, a full disk) aborts the transaction; if it struck
// a write before the COMMIT was sent, nothing of the batch is on disk, so
// each write is run again alone and a fault that belongs to one write
// fails only that one. A failed COMMIT fails the whole batch: every write
// of it gets the error, as a lone write would.
func (s *Store) runBatch(ctx context.Context, fns []func(*tx) error) []error {
	errs := make([]error, len(fns))
	if len(fns) == 1 {
		// Nothing to keep apart: the plain path.
		errs[0] = s.updateGathered(ctx, fns[0])
		return errs
	}
	for _, savepoints := range []bool{false, true} {
		beforeCommit, undo := false, false
		err := s.updateKeeping(ctx, func(t *tx) error {
			t.gather = &gathered{}
			for i, fn := range fns {
				own, err := runJob(ctx, t, fn, savepoints)
				if err != nil {
					beforeCommit, undo = true, err == errUndo
					return err
				}
				errs[i] = own
			}
			if err := t.gather.flush(ctx, t); err != nil {
				beforeCommit = true
				return err
			}
			return nil
		})
		switch {
		case err == nil:
			return errs
		case undo && !savepoints:
			continue
		case beforeCommit:
			for i, fn := range fns {
				errs[i] = s.updateGathered(ctx, fn)
			}
		default:
			for i := range errs {
				errs[i] = err
			}
		}
		break
	}
	return errs
}

// updateGathered is update for one write of group commit: its events and
// audit rows are gathered and written last, as a batch's are.
func (s *Store) updateGathered(ctx context.Context, fn func(*tx) error) error {
	return s.updateKeeping(ctx, func(t *tx) error {
		t.gather = &gathered{}
		err := fn(t)
		if t.gather.err != nil {
			return t.gather.err
		}
		if err != nil {
			return err
		}
		return t.gather.flush(ctx, t)
	})
}

// errUndo says a write failed with its own error after writing, outside
// any savepoint: its rows can go only with the whole transaction.
var errUndo = errors.New("sqlite: a grouped write failed after it wrote")

// runJob runs one write of a batch. It returns fn's error as own if it is
// the write's own (a domain error) and leaves the transaction as it was
// before fn, or as err if the transaction must be abandoned: in doubt, or
// holding rows of a write that failed (errUndo, without savepoints).
func runJob(ctx context.Context, t *tx, fn func(*tx) error, savepoints bool) (own, err error) {
	if savepoints {
		return savepoint(ctx, t, fn)
	}
	writes, gathered, changed := t.writes, t.gather.mark(), t.salesChanged
	own = translate(fn(t))
	if t.gather.err != nil {
		// Writing the gathered rows failed: the transaction is in doubt.
		return nil, t.gather.err
	}
	if own == nil {
		return nil, nil
	}
	if code := refundry.ErrorCode(own); code == refundry.EINTERNAL || code == refundry.EUNAVAILABLE {
		return nil, own
	}
	if t.writes != writes || gathered.flushes != t.gather.flushes {
		// It wrote, or had gathered rows written, its own among them.
		return nil, errUndo
	}
	// Nothing written: what it gathered, and what it changed in the sale
	// cache, is all it leaves.
	t.gather.cut(gathered)
	if t.salesChanged != changed {
		t.forgetSales()
	}
	return own, nil
}

// A write's savepoint. The rows gathered before it are written before
// it; those gathered inside it are dropped with its rollback (cut), or
// written later, by its neighbours' statements or the batch's end.
var (
	savepointJob = keepGathered(`SAVEPOINT job`)
	rollbackJob  = keepGathered(`ROLLBACK TO job`)
	releaseJob   = keepGathered(`RELEASE job`)
)

// savepoint runs fn inside SAVEPOINT job. It returns fn's error as own if
// it is the write's own (a domain error, after which the savepoint is
// rolled back and the transaction goes on), or as err if the transaction
// itself is in doubt and must be abandoned.
func savepoint(ctx context.Context, t *tx, fn func(*tx) error) (own, err error) {
	// The rows gathered so far are the earlier writes': written outside
	// this one's savepoint, its rollback cannot take them.
	if err := t.gather.flushRows(ctx, t); err != nil {
		return nil, err
	}
	if _, err := t.ExecContext(ctx, savepointJob); err != nil {
		return nil, err
	}
	gathered, changed := t.gather.mark(), t.salesChanged
	own = translate(fn(t))
	if t.gather.err != nil {
		return nil, t.gather.err
	}
	if own != nil {
		if code := refundry.ErrorCode(own); code == refundry.EINTERNAL || code == refundry.EUNAVAILABLE {
			return nil, own
		}
		if _, err := t.ExecContext(ctx, rollbackJob); err != nil {
			return nil, err
		}
		t.gather.cut(gathered)
		if t.salesChanged != changed {
			// The cache holds what the savepoint's rollback undid.
			t.forgetSales()
		}
	}
	if _, err := t.ExecContext(ctx, releaseJob); err != nil {
		return nil, err
	}
	return own, nil
}

// view runs fn in a read transaction, one consistent snapshot.
func (s *Store) view(ctx context.Context, fn func(*tx) error) error {
	t, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return translate(err)
	}
	s.statements.Add(2)
	defer t.Rollback()
	return translate(fn(&tx{Tx: t, now: utc(s.Now()), stmts: s.readStmts, count: &s.statements}))
}

// readOne runs fn on the read pool without a transaction: for a read of
// one statement, which is a consistent snapshot by itself, or of rows
// that never change once committed after one that says they exist (a
// refund, then its lines). BEGIN and ROLLBACK would be two statements
// more than the read, on every authentication and every sale looked up.
func (s *Store) readOne(ctx context.Context, fn func(*tx) error) error {
	return translate(fn(&tx{db: s.read, now: utc(s.Now()), stmts: s.readStmts, count: &s.statements}))
}

// utc is the form of every stored time: UTC, to the microsecond, as
// PostgreSQL keeps it, so both stores answer alike.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }
