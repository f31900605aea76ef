package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
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
func (s *Store) grouped(ctx context.Context, fn func(pgx.Tx) error) error {
	if s.batch == nil {
		return s.write(ctx, fn)
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

// runBatch is group commit: it runs fns in one transaction, each in a
// savepoint of its own, and commits once, so one WAL flush makes them all
// durable. A write that fails with an error of its own (an over-refund, a
// missing sale, a reused Idempotency-Key, text PostgreSQL cannot store) is
// rolled back to its savepoint and answered with that error while the
// others commit.
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
func (s *Store) runBatch(ctx context.Context, fns []func(pgx.Tx) error) []error {
	errs := make([]error, len(fns))
	if len(fns) == 1 {
		// Nothing to keep apart: no savepoint, the plain path.
		errs[0] = s.write(ctx, fns[0])
		return errs
	}
	beforeCommit := false
	err := s.write(ctx, func(tx pgx.Tx) error {
		beforeCommit = false
		for i, fn := range fns {
			own, err := savepoint(ctx, tx, fn)
			if err != nil {
				beforeCommit = true
				return err
			}
			errs[i] = own
		}
		return nil
	})
	switch {
	case err == nil:
		return errs
	case beforeCommit:
		for i, fn := range fns {
			errs[i] = s.write(ctx, fn)
		}
	default:
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// savepoint runs fn after SAVEPOINT job. It returns fn's error as own if
// it is the write's own (after ROLLBACK TO the savepoint, the transaction
// goes on as if fn never ran), or as err if the whole batch must be run
// again or abandoned.
//
// The savepoint is never released: COMMIT releases them all, and a
// RELEASE per write would be one more round trip. ROLLBACK TO job names
// the newest savepoint of that name, which is this write's.
func savepoint(ctx context.Context, tx pgx.Tx, fn func(pgx.Tx) error) (own, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT job`); err != nil {
		return nil, err
	}
	ferr := fn(tx)
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
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT job`); err != nil {
		return nil, err
	}
	return own, nil
}
