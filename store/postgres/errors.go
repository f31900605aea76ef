package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
)

// This file is the one place where driver errors become domain codes.

// uniqueViolations names, per unique constraint, the parameter at fault and
// what the client is told.
var uniqueViolations = map[string]struct{ param, message string }{
	"merchants_slug_key":         {"slug", "A merchant with this slug already exists."},
	"sales_reference_key":        {"reference", "A sale with this reference already exists."},
	"transactions_reference_key": {"payments.reference", "A payment with this reference already exists."},
	"origins_slug_key":           {"origin", "This origin already exists."},
}

// translate maps err to a *refundry.Error. Domain errors pass through;
// anything unrecognized is EINTERNAL, keeping the cause for the logs but
// never showing it to a client.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var de *refundry.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &refundry.Error{Code: refundry.ENOTFOUND, Message: "No such object.", Err: err}
	}
	// Before PgError: a server that refuses a connection answers with a
	// PgError too (bad credentials, unknown database, too many clients),
	// and whatever it says, the store cannot reach its data.
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	// A database that does not exist will not appear by trying again:
	// say which is missing and how to make it.
	if errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
		name := "the database"
		if errors.As(err, &ce) && ce.Config != nil && ce.Config.Database != "" {
			name = strconv.Quote(ce.Config.Database)
		}
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Err: err,
			Message: fmt.Sprintf("The PostgreSQL database %s does not exist; create it (createdb, or CREATE DATABASE) or name one that does in --db.", name)}
	}
	if errors.As(err, &ce) {
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is unavailable; try again.", Err: err}
	}
	if errors.As(err, &pe) {
		return translatePg(pe, err)
	}
	if unavailable(err) {
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is unavailable; try again.", Err: err}
	}
	return &refundry.Error{Code: refundry.EINTERNAL, Err: err}
}

func translatePg(pe *pgconn.PgError, err error) error {
	switch {
	case pe.Code == "23505": // unique_violation
		if u, ok := uniqueViolations[pe.ConstraintName]; ok {
			return &refundry.Error{Code: refundry.ECONFLICT, Param: u.param, Message: u.message, Err: err}
		}
		return &refundry.Error{Code: refundry.ECONFLICT, Message: "The object already exists.", Err: err}
	case pe.Code == "23503": // foreign_key_violation: it names a missing parent
		return &refundry.Error{Code: refundry.ENOTFOUND, Message: "A referenced object does not exist.", Err: err}
	case pe.Code == "23514": // check_violation: the schema's last guard of invariant 2
		return &refundry.Error{Code: refundry.ECONFLICT, Message: "The change would break a rule of the stored data.", Err: err}
	case pe.Code == "40001" || pe.Code == "40P01":
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is busy; try again.", Err: err}
	case strings.HasPrefix(pe.Code, "22"):
		// Data exceptions come from values a client sent that PostgreSQL
		// cannot hold: a NUL byte or invalid UTF-8 in text, most often.
		return &refundry.Error{Code: refundry.EINVALID, Message: "A value cannot be stored: text must be valid UTF-8 without NUL characters.", Err: err}
	case pe.Code == "25006": // read_only_sql_transaction: a standby, or a database set read-only
		// Lasting until someone fixes it, but nothing the client sent is
		// at fault: 503 with the reason; the transaction rolled back.
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is read-only; no write can be made until it is writable again.", Err: err}
	case pe.Code == "53100": // disk_full
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The disk is full; no write can be made until there is room again.", Err: err}
	case strings.HasPrefix(pe.Code, "08"), // connection_exception
		strings.HasPrefix(pe.Code, "53"), // insufficient_resources, too_many_connections
		strings.HasPrefix(pe.Code, "57"): // operator_intervention: shutdown, cancel
		return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is unavailable; try again.", Err: err}
	}
	return &refundry.Error{Code: refundry.EINTERNAL, Err: err}
}

// unavailable reports connection-level failures: the server is down,
// unreachable, or the connection broke.
func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	}
	return false
}

// notFound is translate, with a message naming what was looked for when
// err is pgx.ErrNoRows.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		e := refundry.Errorf(refundry.ENOTFOUND, format, args...)
		e.Err = err
		return e
	}
	return translate(err)
}
