package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// reads returns where the statements of one read outside Store.read go:
// the primary's pool, or, once a statement found no primary answering and
// --db names several hosts, the standby pool, which then serves the rest
// of that read too. Writes never come here.
func (s *Store) reads() *readPool { return &readPool{s: s, pool: s.pool} }

// readPool falls back from the primary's pool to the standby's at most
// once, at the first statement the primary could not serve. One check, not
// the write's retry budget: a read that a standby can answer is answered
// at once, and one it cannot fails as it did before.
type readPool struct {
	s    *Store
	pool *pgxpool.Pool
}

// fallback reports whether err is the primary being gone and, if so,
// switches to the standby pool.
func (r *readPool) fallback(ctx context.Context, err error) bool {
	if r.pool != r.s.pool || r.s.standby == nil || !primaryGone(ctx, err) {
		return false
	}
	r.pool = r.s.standby
	return true
}

func (r *readPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &fallbackRow{r: r, ctx: ctx, sql: sql, args: args}
}

func (r *readPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := r.pool.Query(ctx, sql, args...)
	if err != nil && r.fallback(ctx, err) {
		return r.pool.Query(ctx, sql, args...)
	}
	return rows, err
}

func (r *readPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return r.pool.SendBatch(ctx, b)
}

// fallbackRow runs its statement when scanned, where a pgx.Row reports
// the connection's failure, so that the scan can be run again elsewhere.
type fallbackRow struct {
	r    *readPool
	ctx  context.Context
	sql  string
	args []any
}

func (f *fallbackRow) Scan(dest ...any) error {
	err := f.r.pool.QueryRow(f.ctx, f.sql, f.args...).Scan(dest...)
	if err != nil && f.r.fallback(f.ctx, err) {
		err = f.r.pool.QueryRow(f.ctx, f.sql, f.args...).Scan(dest...)
	}
	return err
}

// primaryGone reports whether err says that no primary could serve the
// statement (none reachable, the one reached is read-only, or it went
// away mid-statement), rather than anything about the statement or the
// request: a canceled or timed-out request is not helped by a standby.
func primaryGone(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "25006", // read_only_sql_transaction: reached a standby
			"57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var ne net.Error
	return errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
