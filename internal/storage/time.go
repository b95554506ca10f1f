package storage

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is how SQLite columns hold timestamps: UTC, fixed width, so that
// text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Time is a time.Time that both engines store in UTC: PostgreSQL as
// timestamptz, SQLite as fixed-width RFC 3339 text. Convert a field with
// (*storage.Time)(&x.CreatedAt) to scan it. Precision is microseconds, the
// precision PostgreSQL keeps.
type Time time.Time

// Value implements driver.Valuer.
func (t Time) Value() (driver.Value, error) {
	return time.Time(t).UTC().Truncate(time.Microsecond).Format(timeLayout), nil
}

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*t = Time(v.UTC())
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("storage.Time: cannot scan %T", src)
	}
	return nil
}

func (t *Time) parse(s string) error {
	for _, layout := range []string{timeLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05"} {
		if v, err := time.Parse(layout, s); err == nil {
			*t = Time(v.UTC())
			return nil
		}
	}
	return fmt.Errorf("storage.Time: cannot parse %q", s)
}

// NullTime is a nullable Time; a nil *time.Time is NULL.
type NullTime struct{ P **time.Time }

// Nullable returns a scanner/valuer for an optional timestamp field.
func Nullable(p **time.Time) NullTime { return NullTime{P: p} }

// Value implements driver.Valuer.
func (n NullTime) Value() (driver.Value, error) {
	if *n.P == nil {
		return nil, nil
	}
	return Time(**n.P).Value()
}

// Scan implements sql.Scanner.
func (n NullTime) Scan(src any) error {
	if src == nil {
		*n.P = nil
		return nil
	}
	var t Time
	if err := t.Scan(src); err != nil {
		return err
	}
	v := time.Time(t)
	*n.P = &v
	return nil
}

// Now returns the current time at the precision the stores keep.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
