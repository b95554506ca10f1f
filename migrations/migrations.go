// Package migrations embeds the versioned SQL schema of every Plugboard
// service, one directory per service and dialect:
//
//	migrations/<service>/<dialect>/NNNNN_description.sql
//
// Both dialects of a service use the same version numbers; where a step has
// nothing to do in one dialect, it keeps a file saying why. Services apply
// their set at start-up through Open.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/plugboard/plugboard/core/platform/storage"
)

//go:embed */*/*.sql
var files embed.FS

// FS returns the migrations of one service ("registry", "core") for one
// dialect ("sqlite", "postgres").
func FS(service, dialect string) (fs.FS, error) {
	dir := service + "/" + dialect
	if _, err := fs.Stat(files, dir); err != nil {
		return nil, fmt.Errorf("migrations for %s on %s: %w", service, dialect, err)
	}
	return fs.Sub(files, dir)
}

// Open opens the database opts names (opts.Name defaults to service) and
// applies service's migrations for its dialect, recording them in the table
// <service>_schema_migrations. Close the DB when done.
func Open(ctx context.Context, service string, opts storage.Options) (*storage.DB, error) {
	if opts.Name == "" {
		opts.Name = service
	}
	db, err := storage.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	fsys, err := FS(service, string(db.Dialect))
	if err == nil {
		_, err = db.Migrate(ctx, fsys, service+"_schema_migrations")
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
