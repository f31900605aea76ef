package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/refundry/refundry"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// translate turns a driver error into the project's error model. It is the
// one place that knows SQLite's result codes. Errors that already carry a
// code, and the caller's own context errors, pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var e *refundry.Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &refundry.Error{Code: refundry.ENOTFOUND, Message: "Not found.", Err: err}
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("sqlite: %w", err)
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		// The store checks the unique keys it can name first, with a
		// message naming the field; this is the backstop.
		return &refundry.Error{Code: refundry.ECONFLICT, Message: "It conflicts with an object that already exists.", Err: err}
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// A row pointing at a merchant or sale that does not exist.
		return &refundry.Error{Code: refundry.ENOTFOUND, Message: "A referenced object does not exist.", Err: err}
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		// Another process held the lock for longer than busy_timeout.
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is busy; retry shortly.", Err: err}
	case code&0xff == sqlite3.SQLITE_READONLY:
		// The file, its directory or its filesystem refuses writes. It
		// lasts until someone fixes it, but nothing the client sent is at
		// fault: 503, with the reason, and the transaction rolled back.
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is read-only; no write can be made until it is writable again.", Err: err}
	case code&0xff == sqlite3.SQLITE_FULL:
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The disk is full; no write can be made until there is room again.", Err: err}
	default:
		// A CHECK constraint is among these: the schema's copy of
		// invariant 2 firing means a bug of ours, not a client's fault.
		return &refundry.Error{Code: refundry.EINTERNAL, Err: fmt.Errorf("sqlite: %w", err)}
	}
}

// notFound returns the ENOTFOUND for a missing object of a kind.
func notFound(kind, id string) error {
	return refundry.Errorf(refundry.ENOTFOUND, "No such %s: %s", kind, id)
}
