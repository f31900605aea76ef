package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// stmtCacheSize bounds the statements kept prepared per pool. The store's
// fixed statements number a few dozen and are cached on first use; the
// bound is for the texts built at run time (filters, an IN list of every
// length up to a page), which beyond it simply run unprepared. Nothing is
// ever evicted: a statement closed between a caller's get and its use
// would fail that caller's query.
const stmtCacheSize = 512

// stmtCache keeps statements prepared on one pool, by their text.
// Preparing (parsing and planning the SQL) cost a quarter of the single
// writer's time when every statement was prepared afresh for each use;
// a statement prepared once is only reset and bound again.
type stmtCache struct {
	db *sql.DB

	mu        sync.Mutex
	stmts     map[string]*sql.Stmt
	preparing map[string]bool // texts being prepared in the background
	closed    bool
	// inflight counts background prepares, so that close can wait for
	// them: one still holding a connection when the pool closes would keep
	// the database's -wal and -shm files open after Close returned.
	inflight sync.WaitGroup
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, preparing: map[string]bool{}}
}

// get returns the statement for text, or nil the first time text is seen:
// then the caller runs it unprepared, and it is prepared in the
// background for next time. Preparing on the pool cannot happen here: the
// caller's transaction may hold the write pool's one connection (or every
// read connection may be held by callers waiting here), and database/sql
// prepares a pool's statement on a free connection.
func (c *stmtCache) get(text string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[text]; ok || c.closed {
		return st
	}
	if !c.preparing[text] && len(c.stmts)+len(c.preparing) < stmtCacheSize {
		c.preparing[text] = true
		c.inflight.Add(1)
		go c.prepare(text)
	}
	return nil
}

func (c *stmtCache) prepare(text string) {
	defer c.inflight.Done()
	st, err := c.db.PrepareContext(context.Background(), text)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.preparing, text)
	if err != nil {
		return // run unprepared; the next use tries again
	}
	if c.closed {
		st.Close()
		return
	}
	c.stmts[text] = st
}

// close stops caching, waits for the prepares under way, and closes every
// cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.inflight.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	clear(c.stmts)
}

// ExecContext runs text through the pool's cached statement for it, bound
// to this transaction's connection.
func (t *tx) ExecContext(ctx context.Context, text string, args ...any) (sql.Result, error) {
	if err := t.beforeStatement(ctx, text); err != nil {
		return nil, err
	}
	t.writes++
	if st := t.stmt(ctx, text); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if t.Tx == nil {
		return t.db.ExecContext(ctx, text, args...)
	}
	return t.Tx.ExecContext(ctx, text, args...)
}

// QueryContext is ExecContext for statements returning rows.
func (t *tx) QueryContext(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	if err := t.beforeStatement(ctx, text); err != nil {
		return nil, err
	}
	t.countWrite(text)
	if st := t.stmt(ctx, text); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if t.Tx == nil {
		return t.db.QueryContext(ctx, text, args...)
	}
	return t.Tx.QueryContext(ctx, text, args...)
}

// QueryRowContext is ExecContext for statements returning one row.
func (t *tx) QueryRowContext(ctx context.Context, text string, args ...any) *sql.Row {
	// A Row can carry no error of its own making: a failed flush is
	// kept (gathered.err) and fails the batch once the write returns.
	_ = t.beforeStatement(ctx, text)
	t.countWrite(text)
	if st := t.stmt(ctx, text); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if t.Tx == nil {
		return t.db.QueryRowContext(ctx, text, args...)
	}
	return t.Tx.QueryRowContext(ctx, text, args...)
}

// beforeStatement writes a batch's gathered refunds and keys before a
// statement that may read them (gathered).
func (t *tx) beforeStatement(ctx context.Context, text string) error {
	if !t.gather.holdsRows() || keepsGathered[text] {
		return nil
	}
	return t.gather.flushRows(ctx, t)
}

// countWrite counts a query that may write: any but a SELECT or the
// sale cache's data_version (an INSERT or UPDATE with RETURNING, say).
func (t *tx) countWrite(text string) {
	if text != dataVersionQuery && !strings.HasPrefix(strings.TrimLeft(text, " \t\n"), "SELECT") {
		t.writes++
	}
}

// stmt returns text's cached statement as one of this transaction's, or
// nil if it is not prepared yet. Every statement passes here, so here it
// is counted.
func (t *tx) stmt(ctx context.Context, text string) *sql.Stmt {
	if t.count != nil {
		t.count.Add(1)
	}
	if t.stmts == nil {
		return nil
	}
	st := t.stmts.get(text)
	if st == nil || t.Tx == nil {
		return st // outside a transaction, the pool's statement as it is
	}
	// Bound to the transaction's connection: prepared there once, then
	// reused; closed with the transaction, leaving the cached one open.
	return t.Tx.StmtContext(ctx, st)
}
