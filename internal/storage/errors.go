package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/plugboard/plugboard/internal/fault"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors that Interpret maps engine errors to. Stores translate them
// into fault errors with a message about their own objects.
var (
	// ErrNotFound: the query matched no row.
	ErrNotFound = errors.New("no such row")
	// ErrUnique: a unique constraint rejected the write.
	ErrUnique = errors.New("unique constraint violated")
	// ErrForeignKey: a foreign key rejected the write.
	ErrForeignKey = errors.New("foreign key constraint violated")
	// ErrCheck: a CHECK or NOT NULL constraint or a malformed value (such as
	// bad JSON) rejected the write.
	ErrCheck = errors.New("check constraint violated")
	// ErrUnavailable: the database is shutting down, starting, out of
	// connections or busy past its timeout. It is a fault.Unavailable error
	// (503 with Retry-After), as network errors reaching it are already.
	ErrUnavailable = fault.Errorf(fault.Unavailable, "The database is unavailable; try again shortly.")
)

// Interpret maps engine-specific errors to the sentinels above, wrapping the
// original so that logs keep it. Other errors are returned unchanged.
func Interpret(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errors.Join(ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return errors.Join(ErrUnique, err)
		case pgErr.Code == "23503":
			return errors.Join(ErrForeignKey, err)
		case pgErr.Code == "23514", pgErr.Code == "23502", pgErr.Code == "22P02", strings.HasPrefix(pgErr.Code, "22"):
			return errors.Join(ErrCheck, err)
		// 08: connection exception; 57P01-03: admin or crash shutdown,
		// cannot connect now (starting up); 53300: too many connections.
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"), pgErr.Code == "53300":
			return errors.Join(ErrUnavailable, err)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errors.Join(ErrUnique, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_TRIGGER: // RESTRICT reports TRIGGER
			return errors.Join(ErrForeignKey, err)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return errors.Join(ErrCheck, err)
		}
		switch sqErr.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return errors.Join(ErrUnavailable, err)
		}
	}
	return err
}

// Fault is what a store returns for err from an operation on what (a noun:
// "tenant", "service instance"): the sentinels above become fault errors
// with a message about what (conflict, invalid, not found); other errors are
// wrapped with what failed. A nil err stays nil. Stores that can say more
// (which name is taken, which reference is missing) check the sentinels
// themselves first.
func Fault(err error, what string) error {
	if err == nil {
		return nil
	}
	err = Interpret(err)
	switch {
	case errors.Is(err, ErrUnique):
		return fault.Wrap(err, fault.Conflict, fmt.Sprintf("This %s already exists.", what))
	case errors.Is(err, ErrCheck):
		return fault.Wrap(err, fault.Invalid, fmt.Sprintf("The %s has an invalid value.", what))
	case errors.Is(err, ErrForeignKey):
		return fault.Wrap(err, fault.NotFound, fmt.Sprintf("The %s refers to something that does not exist.", what))
	case errors.Is(err, ErrNotFound):
		return fault.Wrap(err, fault.NotFound, fmt.Sprintf("The %s was not found.", what))
	}
	return fmt.Errorf("%s: %w", what, err)
}
