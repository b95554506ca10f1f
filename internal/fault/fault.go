// Package fault defines the typed errors that Plugboard's stores and services
// return: a machine-readable code plus a message that is safe to show users.
// The HTTP layer maps codes to statuses in one table (package internal/httpx);
// anything that is not a *Error is an internal error and is never shown.
package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// Error codes. They are stable strings: the HTTP layer turns them into problem
// types such as "/problems/conflict".
const (
	Conflict     = "conflict"     // a unique constraint or a version check failed
	Invalid      = "invalid"      // the input is malformed; Fields names the culprits
	NotFound     = "not_found"    // the addressed object does not exist
	Unauthorized = "unauthorized" // no or bad credentials
	Forbidden    = "forbidden"    // credentials are fine but not allowed to do this
	TooLarge     = "too_large"    // the request body exceeds the limit
	Unavailable  = "unavailable"  // a dependency is down; try again later
	RateLimited  = "rate_limited" // too many requests; try again later
	Internal     = "internal"     // anything else; details are logged, never shown
	Precondition = "precondition" // an If-Match style precondition failed
)

// Error is an application error. Message is safe to show to API users.
// Fields, when set, maps input field names to what is wrong with each.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
	Err     error // optional cause, for logs and errors.Is; never shown
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(err error, code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// InvalidFields returns an Invalid error naming each bad field.
func InvalidFields(message string, fields map[string]string) *Error {
	return &Error{Code: Invalid, Message: message, Fields: fields}
}

// Code returns the code of the first *Error in err's chain, "" for nil,
// Unavailable for an infrastructure failure (see Infrastructure), and
// Internal for any other error.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if Infrastructure(err) {
		return Unavailable
	}
	return Internal
}

// Message returns the user-safe message of err, a "try again" message for
// an infrastructure failure, or "Internal error." for any other error.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if Infrastructure(err) {
		return unavailableMessage
	}
	return "Internal error."
}

const unavailableMessage = "A service this request needs is unavailable; try again shortly."

// Infrastructure reports whether err says that something the process
// depends on (a database, Redis, another service) could not be reached or
// did not answer in time, rather than that the request or the code is
// wrong: a network error, a refused or reset connection, an unexpected EOF,
// a timeout. Engine-specific signs (a server shutting down, a busy
// database) are mapped by the storage layer. Such failures are answered 503
// with Retry-After, never 500 and never as a verdict on a credential.
func Infrastructure(err error) bool {
	var netErr net.Error // *net.OpError, timeouts, DNS errors
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// Fields returns the per-field problems carried by err, if any.
func Fields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Is reports whether err carries the given code.
func Is(err error, code string) bool { return err != nil && Code(err) == code }
